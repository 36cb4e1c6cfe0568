"""The admin's canned replies and offices-and-areas pages in a real browser (Debian's Chromium via Playwright, as
tests/console/test_browser.py): an admin writes a canned reply for an office and the office's officer inserts it
into a reply by typing "/"; an admin previews an areas CSV with a bad row, then a good one, and applies it. Also
English screenshots of a few admin pages (staff accounts, a report). Screenshots go to the test's directory, and to
docs/screenshots/ when CONSOLE_SCREENSHOTS=1."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.console.conftest import registered_member
from tests.console.test_browser import (  # noqa: F401  (fixtures)
    DESKTOP,
    base_url,
    browser,
    page,
    shoot,
    sign_in,
    switch_language,
)
from tests.messaging_support import start

pytestmark = pytest.mark.slow

HEADER = "kind,code,parent_code,name_lo,name_en,has_office\n"


def test_an_admin_writes_a_canned_reply_that_the_officer_then_inserts(page, client, sms_gateway, staff, tmp_path):  # noqa: F811
    member = registered_member(client, sms_gateway, "+8562055571001", staff["officer"])
    cid = start(client, member, subject="ເອກະສານ", body="ສົ່ງເອກະສານແລ້ວ").json["conversation"]["id"]

    sign_in(page, staff["admin"])
    page.click("nav >> text=ຄຳຕອບສຳເລັດຮູບ")
    expect(page.locator("h1")).to_have_text("ຄຳຕອບສຳເລັດຮູບ")
    page.select_option("#office_code", "D0101")
    page.fill("#title", "ໄດ້ຮັບເອກະສານ")
    page.fill("#body_lo", "ພວກເຮົາໄດ້ຮັບເອກະສານຂອງທ່ານແລ້ວ, ຈະແຈ້ງຜົນພາຍໃນ 3 ວັນ.")
    page.fill("#body_en", "We have received your documents and will tell you the result within 3 days.")
    page.click("#new-canned button.primary")
    expect(page.locator(".flash")).to_contain_text("ບັນທຶກຄຳຕອບສຳເລັດຮູບແລ້ວ")
    expect(page.locator("table.list tbody tr")).to_have_count(1)
    shoot(page, "console-canned-replies", tmp_path)
    page.click("table.list >> text=ໄດ້ຮັບເອກະສານ")
    expect(page.locator("[data-event-action]").first).to_have_text("canned_reply.create")
    page.fill("#body_lo", "ພວກເຮົາໄດ້ຮັບເອກະສານຂອງທ່ານແລ້ວ, ຈະແຈ້ງຜົນພາຍໃນ 2 ວັນ.")
    page.click("button.primary")
    expect(page.locator("[data-event-action]").first).to_have_text("canned_reply.update")
    shoot(page, "console-canned-replies-edit", tmp_path)
    switch_language(page, "en")
    page.goto("/console/admin/canned-replies?office=D0101")
    expect(page.locator("h1")).to_contain_text("Canned replies")
    shoot(page, "console-canned-replies", tmp_path)
    switch_language(page, "lo")  # the choice stays with the browser: the officer reads Lao
    page.click("header form.inline >> text=ອອກຈາກລະບົບ")

    # The officer of that office types "/" in a reply and gets the text the admin saved, in Lao.
    sign_in(page, staff["officer"])
    expect(page.locator("h1")).to_have_text("ກ່ອງຂໍ້ຄວາມ")
    page.goto(f"/console/conversations/{cid}")
    page.keyboard.press("r")
    page.keyboard.type("/")
    expect(page.locator("[data-canned-menu]")).to_be_visible()
    page.fill("[data-canned-pick]", "ໄດ້ຮັບເອກະສານ")
    page.keyboard.press("Tab")
    expect(page.locator('textarea[data-key="r"]')).to_have_value("ພວກເຮົາໄດ້ຮັບເອກະສານຂອງທ່ານແລ້ວ, ຈະແຈ້ງຜົນພາຍໃນ 2 ວັນ.")


def test_an_admin_previews_an_areas_file_then_applies_it(page, staff, tmp_path):  # noqa: F811
    bad = tmp_path / "areas-bad.csv"
    bad.write_text(
        HEADER
        + "district,0105,01,ນາຊາຍທອງ,Naxaithong,yes\n"
        + "village,01050001,0105,ບ້ານ ດົງໂດກ,Ban Dongdok,\n"
        + "village,0105002,0105,ບ້ານ ໂພນງາມ,Ban Phonngam,\n"
        + "district,0106,01,ປາກງື່ມ,,no\n",
        encoding="utf-8",
    )
    good = tmp_path / "areas.csv"
    good.write_text(
        HEADER
        + "district,0102,01,ສີໂຄດຕະບອງ,Sikhottabong City,yes\n"
        + "district,0105,01,ນາຊາຍທອງ,Naxaithong,yes\n"
        + "village,01050001,0105,ບ້ານ ດົງໂດກ,Ban Dongdok,\n"
        + "village,01050002,0105,ບ້ານ ໂພນງາມ,Ban Phonngam,\n"
        + "district,0106,01,ປາກງື່ມ,Pak Ngum,no\n",
        encoding="utf-8",
    )
    sign_in(page, staff["admin"])
    page.click("nav >> text=ຫ້ອງການ ແລະ ເຂດ")
    expect(page.locator("h1")).to_have_text("ຫ້ອງການ ແລະ ເຂດ")
    shoot(page, "console-areas-import", tmp_path)
    page.set_input_files("#file", str(bad))
    page.click('button[data-action="preview"]')
    expect(page.locator("[data-problems] tr[data-line]")).to_have_count(2)
    expect(page.locator('[data-problems] tr[data-line="4"]')).to_contain_text("ບ້ານ 0105002 ບໍ່ກົງກັບເມືອງ 0105")
    expect(page.locator('[data-problems] tr[data-line="5"]')).to_contain_text("ຊື່ພາສາອັງກິດຄົບ")
    expect(page.locator('button[data-action="apply"]')).to_have_count(0)
    shoot(page, "console-areas-import-problems", tmp_path)

    page.set_input_files("#file", str(good))
    page.click('button[data-action="preview"]')
    expect(page.locator('[data-kind="district"] [data-create]')).to_have_text("2")
    expect(page.locator('[data-kind="district"] [data-update]')).to_have_text("1")
    expect(page.locator('[data-kind="village"] [data-create]')).to_have_text("2")
    expect(page.locator('[data-kind="office"] [data-create]')).to_have_text("1")
    shoot(page, "console-areas-import-preview", tmp_path)
    page.set_input_files("#apply-file", str(good))
    page.click('button[data-action="apply"]')
    expect(page).to_have_url(re.compile(r"/console/admin/areas$"))
    expect(page.locator(".flash")).to_contain_text("ນຳເຂົ້າແລ້ວ")
    expect(page.locator("[data-totals]")).to_contain_text("11 ເມືອງ")  # the sample's 9, and 2 new

    page.click("nav >> text=ບັນທຶກການກວດສອບ")
    page.fill('input[name="action"]', "areas.")
    page.click("form.filters button.primary")
    row = page.locator("table.list tbody tr").first
    expect(row.locator("[data-event-action]")).to_have_text("areas.import")
    expect(row.locator("[data-actor]")).to_have_text(staff["admin"])

    switch_language(page, "en")
    page.goto("/console/admin/areas")
    page.set_input_files("#file", str(bad))
    page.click('button[data-action="preview"]')
    expect(page.locator('[data-problems] tr[data-line="4"]')).to_contain_text("does not fit district 0105")
    shoot(page, "console-areas-import-problems", tmp_path)


def test_english_screenshots_of_admin_pages(page, client, sms_gateway, staff, tmp_path):  # noqa: F811
    for n in range(3):
        registered_member(
            client, sms_gateway, f"+85620555720{n:02d}", staff["officer"], national_id=f"LA-0101-72{n:04d}"
        )
    sign_in(page, staff["admin"])
    switch_language(page, "en")
    page.goto("/console/admin/staff")
    expect(page.locator("h1")).to_have_text("Staff accounts")
    shoot(page, "staff-accounts", tmp_path)
    page.goto("/console/reports/registrations")
    expect(page.locator("svg.chart")).to_be_visible()
    shoot(page, "report-registrations", tmp_path)
