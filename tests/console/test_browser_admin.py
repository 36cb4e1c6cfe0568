"""The admin and account pages in a real browser (Debian's Chromium via Playwright, as tests/console/
test_browser.py): an admin disables an officer who is signed in elsewhere (their next click is refused) and
resets a password (changed at the next sign-in before anything else); an ops user sets up a TOTP second factor
and signs in with it; a rule change shows in the rules' history and the audit log with its author. Screenshots
go to the test's directory, and to docs/screenshots/ when CONSOLE_SCREENSHOTS=1."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pyotp
from playwright.sync_api import Browser, Page, expect

from tests.conftest import STAFF_PASSWORD
from tests.console.test_browser import (  # noqa: F401  (fixtures)
    DESKTOP,
    base_url,
    browser,
    page,
    shoot,
    sign_in,
    switch_language,
)


def other_page(chromium: Browser, url: str) -> Page:
    context = chromium.new_context(base_url=url, viewport=DESKTOP, locale="lo-LA")
    context.set_default_timeout(10_000)
    return context.new_page()


def test_an_admin_disables_a_signed_in_officer_and_resets_a_password(page, browser, base_url, staff, tmp_path):  # noqa: F811
    desk = other_page(browser, base_url)
    try:
        sign_in(desk, staff["officer"])
        expect(desk).to_have_url(re.compile(r"/console/inbox"))
        desk.goto("/console/claims")  # a page that does not refresh itself: the officer's next move is a click
        expect(desk.locator("h1")).to_be_visible()

        sign_in(page, staff["admin"])
        expect(page).to_have_url(re.compile(r"/console/admin/staff$"))
        expect(page.locator("h1")).to_have_text("ບັນຊີພະນັກງານ")
        shoot(page, "staff-accounts", tmp_path)
        page.fill('input[name="q"]', "chanthabouly")
        page.click("form.filters button.primary")
        expect(page.locator("table.list tbody tr")).to_have_count(1)
        page.click(f"text={staff['officer']}")
        expect(page.locator("h1")).to_contain_text(staff["officer"])
        shoot(page, "staff-account", tmp_path)
        page.click('button[data-action="disable"]')
        expect(page.locator(".flash")).to_contain_text("ປິດໃຊ້ງານ")
        expect(page.locator("[data-state]")).to_contain_text("ປິດໃຊ້ງານແລ້ວ")

        # The officer, still on their inbox, clicks on: the console no longer knows them.
        desk.click("nav a >> nth=1")  # Registrations
        expect(desk).to_have_url(re.compile(r"/console/login"))

        page.click('button[data-action="enable"]')
        expect(page.locator("[data-state]")).to_contain_text("ໃຊ້ງານຢູ່")
        page.click('button[data-action="reset-password"]')
        temporary = page.locator("[data-temporary-password]").inner_text().strip()
        assert re.fullmatch(r"[a-z0-9]{12}", temporary)
        shoot(page, "staff-password", tmp_path)

        # The officer signs in with the temporary password: only the password change works until it is done.
        desk.goto("/console/login")
        desk.fill("#username", staff["officer"])
        desk.fill("#password", temporary)
        desk.click("button.primary")
        expect(desk).to_have_url(re.compile(r"/console/account$"))
        expect(desk.locator(".warning")).to_contain_text("ລະຫັດຜ່ານຂອງທ່ານຖືກຕັ້ງໃໝ່")
        shoot(desk, "password-change", tmp_path)
        desk.goto("/console/claims")
        expect(desk).to_have_url(re.compile(r"/console/account$"))
        desk.fill("#current_password", temporary)
        desk.fill("#new_password", "officer-new-password")
        desk.fill("#repeat", "officer-new-password")
        desk.click("#password button.primary")
        expect(desk).to_have_url(re.compile(r"/console/inbox"))
        expect(desk.locator(".flash")).to_contain_text("ປ່ຽນລະຫັດຜ່ານແລ້ວ")
    finally:
        desk.context.close()


def test_an_ops_user_sets_up_a_second_factor_and_signs_in_with_it(page, staff, tmp_path):  # noqa: F811
    sign_in(page, staff["ops"])
    expect(page).to_have_url(re.compile(r"/console/broadcasts$"))  # ops land on their broadcasts
    page.click("header nav a[href$='/console/account']")
    page.click("#second-factor button.primary")
    expect(page.locator("[data-qr] svg")).to_be_visible()
    secret = page.locator("[data-totp-secret]").inner_text().strip()
    shoot(page, "second-factor", tmp_path)
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("#second-factor button.primary")
    expect(page.locator(".flash")).to_contain_text("ການຢືນຢັນຂັ້ນທີສອງເປີດແລ້ວ")
    page.click("header nav a[href$='/console/account']")
    expect(page.locator('[data-second-factor="on"]')).to_be_visible()
    page.click("header form.inline >> text=ອອກຈາກລະບົບ")

    # The password alone no longer signs in; with the app's code it does.
    sign_in(page, staff["ops"])
    expect(page.locator("#totp_code-error")).to_contain_text("ປ້ອນລະຫັດຈາກແອັບຢືນຢັນຕົວຕົນ")
    shoot(page, "login-second-factor", tmp_path)
    page.fill("#username", staff["ops"])
    page.fill("#password", STAFF_PASSWORD)
    page.fill("#totp_code", pyotp.TOTP(secret).at(int(time.time()) + 30))  # the confirmed step is used up
    page.click("button.primary")
    expect(page).to_have_url(re.compile(r"/console/broadcasts$"))
    page.click("header nav a[href$='/console/account']")
    expect(page.locator('[data-second-factor="on"]')).to_be_visible()


def test_a_rule_change_shows_in_the_audit_log_with_its_author(page, staff, tmp_path):  # noqa: F811
    sign_in(page, staff["admin"])
    page.click("nav >> text=ກົດລະບຽບ")
    expect(page.locator("h1")).to_have_text("ກົດລະບຽບ")
    page.click("#scheme-voluntary >> text=ແກ້ໄຂ")
    page.fill("#due_day", "31")
    page.click("button.primary")
    expect(page.locator("#due_day-error")).to_be_visible()
    shoot(page, "rule-edit", tmp_path)
    page.fill("#due_day", "25")
    page.click("button.primary")
    expect(page.locator(".flash")).to_contain_text("ບັນທຶກກົດລະບຽບແລ້ວ")
    expect(page.locator("#history [data-author]").first).to_have_text(staff["admin"])
    shoot(page, "rules", tmp_path)

    page.click("nav >> text=ບັນທຶກການກວດສອບ")
    page.fill('input[name="action"]', "rule.")
    page.click("form.filters button.primary")
    row = page.locator("table.list tbody tr").first
    expect(row.locator("[data-event-action]")).to_have_text("rule.scheme")
    expect(row.locator("[data-actor]")).to_have_text(staff["admin"])
    expect(row).to_contain_text("due_day: 25")
    shoot(page, "audit-log", tmp_path)
    switch_language(page, "en")
    expect(page.locator("h1")).to_have_text("Audit log")
    shoot(page, "audit-log", tmp_path)
    with page.expect_download() as download:
        page.click("[data-export]")
    assert download.value.suggested_filename.startswith("audit-")
    assert "rule.scheme" in Path(download.value.path()).read_text(encoding="utf-8")
