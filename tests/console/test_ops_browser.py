"""The ops pages in a real browser (Debian's Chromium driven by Playwright, as in test_browser.py): two ops
users compose, approve and send a broadcast to one district; pushes go through Redis/RQ, a real `lsso-mobile
worker` process and the real firebase-admin SDK to the local FCM server, which counts them; the page's counts
(htmx polling) reach the final totals. Then a report page draws its chart."""

# ruff: noqa: F811  (the browser and worker fixtures are imported from their modules and used as arguments)
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from lsso_mobile import runtime
from lsso_mobile.models import Member, NotificationPreference, StaffRole
from lsso_mobile.services.accounts import create_staff_user
from tests.conftest import REDIS_URL, STAFF_PASSWORD, office_id
from tests.console.test_browser import DESKTOP, base_url, browser, page, shoot, sign_in  # noqa: F401
from tests.fakes.fcm import FakeFcmServer
from tests.notify.conftest import pipeline_overrides, queue_prefix, workers  # noqa: F401
from tests.support import make_member_with_devices

pytestmark = pytest.mark.slow

SECOND_OPS = "ops.second"


@pytest.fixture
def fcm_server():
    server = FakeFcmServer().start()
    yield server
    server.stop()


@pytest.fixture
def settings_overrides(fcm_server, queue_prefix):
    return {**pipeline_overrides(fcm_server.url, REDIS_URL, queue_prefix), "broadcast_slice_devices": 20}


def _members(db) -> dict[str, list[str]]:
    """Members of district 0101 (40 + 20 devices, 5 more muted) and of Pakse (10 devices, not in the audience)."""
    tokens = {
        "lo": [f"tok-ops-browser-lo-{i:04d}" for i in range(40)],
        "en": [f"tok-ops-browser-en-{i:04d}" for i in range(20)],
        "muted": [f"tok-ops-browser-mute-{i:04d}" for i in range(5)],
        "pakse": [f"tok-ops-browser-pakse-{i:04d}" for i in range(10)],
    }
    ids = {
        "lo": make_member_with_devices(db, "+8562055594001", tokens["lo"]),
        "en": make_member_with_devices(db, "+8562055594002", tokens["en"], language="en"),
        "muted": make_member_with_devices(db, "+8562055594003", tokens["muted"]),
        "pakse": make_member_with_devices(db, "+8562055594004", tokens["pakse"]),
    }
    for key, member_id in ids.items():
        code = "D1601" if key == "pakse" else "D0101"
        db.execute(update(Member).where(Member.id == member_id).values(office_id=office_id(db, code)))
    db.add(NotificationPreference(member_id=ids["muted"], muted_categories=["news"]))
    create_staff_user(db, runtime.current().settings, SECOND_OPS, STAFF_PASSWORD, StaffRole.OPS, "Vanh (ops)", None)
    db.commit()
    return tokens


def test_two_ops_users_compose_approve_and_watch_a_district_broadcast(
    page,
    browser,
    base_url,
    app,
    staff,
    db,
    fcm_server,
    workers,
    tmp_path,
):
    app.config["CONSOLE_PROGRESS_REFRESH_SECONDS"] = 1
    tokens = _members(db)
    fcm_server.set_rule(tokens["lo"][7], "unregistered")  # a dead token: its device is switched off
    fcm_server.set_rule(tokens["en"][3], "invalid")  # refused for good: counted as failed
    fcm_server.hold(tokens["lo"][20:40], 1.0)  # slow answers, so the progress is seen moving
    workers.start()

    # The author writes it in Lao and English; the phone preview and the audience counts follow.
    sign_in(page, staff["ops"])
    expect(page.locator("h1")).to_have_text("ແຈ້ງການທົ່ວໄປ")
    page.click("a.button.primary")
    expect(page.locator("#audience-size [data-audience-members]")).to_have_text("4")  # everyone
    page.fill("#title_lo", "ຫ້ອງການປິດວັນຈັນ")
    page.fill("#body_lo", "ຫ້ອງການປະກັນສັງຄົມເມືອງຈັນທະບູລີ ປິດໃນວັນຈັນທີ 7 ທັນວາ ເນື່ອງຈາກວັນຊາດ. " * 8)
    page.fill("#title_en", "Office closed on Monday")
    page.fill("#body_en", "The Chanthabouly social security office is closed on Monday 7 December.")
    expect(page.locator('[data-phone="lo"] [data-push-title]')).to_have_text("ຫ້ອງການປິດວັນຈັນ")
    expect(page.locator('[data-phone="lo"] [data-clipped]')).to_be_visible()  # the Lao text is over 400 letters
    page.click("#province-01 ~ details summary, li:has(#province-01) summary")
    page.check("#district-0101")
    expect(page.locator("#audience-size [data-audience-members]")).to_have_text("3")
    expect(page.locator("#audience-size [data-audience-devices]")).to_have_text("65")
    shoot(page, "broadcast-compose", tmp_path)
    page.click('button[name="action"][value="submit"]')
    expect(page.locator(".flash")).to_contain_text("ສົ່ງແລ້ວ")
    expect(page.locator("[data-broadcast-status]")).to_have_text("ລໍຖ້າການອະນຸມັດ")
    expect(page.locator("[data-approve]")).to_have_count(0)  # never offered to the author
    broadcast_id = int(re.search(r"/broadcasts/(\d+)", page.url).group(1))

    # The second ops user finds it in the queue with its counts and approves it.
    second = browser.new_context(base_url=base_url, viewport=DESKTOP, locale="lo-LA")
    second.set_default_timeout(15_000)
    reviewer = second.new_page()
    sign_in(reviewer, SECOND_OPS)
    expect(reviewer.locator('[data-count="approvals"]')).to_have_text("1")
    reviewer.click('nav a[href="/console/broadcasts/approvals"]')
    card = reviewer.locator(f'[data-approval="{broadcast_id}"]')
    expect(card.locator("[data-audience-devices]")).to_have_text("65")
    expect(card).to_contain_text("ຈັນທະບູລີ")
    shoot(reviewer, "broadcast-approvals", tmp_path)
    card.locator("[data-approve]").click()
    expect(reviewer.locator("[data-approved-by]")).to_have_text("Vanh (ops)")

    # Progress while sending, polled by htmx, until the final totals: the FCM server agrees.
    progress = reviewer.locator("#broadcast-progress")
    expect(progress).to_have_attribute("data-status", "sending", timeout=20_000)
    expect(progress.locator("[data-slices]")).to_be_visible()
    expect(progress).to_have_attribute("data-status", "sent", timeout=60_000)
    expect(reviewer.locator("[data-broadcast-status]")).to_have_text("ສົ່ງແລ້ວ")  # the page reloaded itself
    expect(reviewer.locator("[data-history]")).to_contain_text("ສົ່ງແຈ້ງເຕືອນຄົບແລ້ວ · ລະບົບ")
    expect(progress.locator('[data-total="sent"]')).to_have_text("58")
    expect(progress.locator('[data-total="failed"]')).to_have_text("1")
    expect(progress.locator('[data-total="unregistered"]')).to_have_text("1")
    expect(progress.locator('[data-total="muted"]')).to_have_text("5")
    expect(progress.locator("[data-slices]")).to_have_text(re.compile(r"^(\d+) / \1$"))
    expect(progress.locator("svg.chart rect")).not_to_have_count(0)
    counts = fcm_server.counts_by_token()
    district = set(tokens["lo"] + tokens["en"]) - {tokens["lo"][7], tokens["en"][3]}
    assert set(counts) == district and set(counts.values()) == {1}  # each device once; Pakse and muted none
    progress.scroll_into_view_if_needed()
    shoot(reviewer, "broadcast-results", tmp_path)
    reviewer.locator("[data-history]").scroll_into_view_if_needed()
    expect(reviewer.locator("[data-history]")).to_contain_text("Vanh (ops)")
    expect(reviewer.locator("[data-history]")).to_contain_text(staff["ops"])

    # The author's own page follows too, and the reach report draws its chart.
    page.reload()
    expect(page.locator('#broadcast-progress [data-total="sent"]')).to_have_text("58")
    page.goto("/console/reports")
    shoot(page, "reports", tmp_path)
    page.click('a[href^="/console/reports/broadcast-reach"]')
    expect(page.locator("svg.chart rect")).to_have_count(4)  # sent, failed, dead tokens, muted
    expect(page.locator("table.report-table")).to_contain_text("ຫ້ອງການປິດວັນຈັນ")
    expect(page.locator("table.report-table")).to_contain_text("89%")  # 58 of 65 devices
    with page.expect_download() as download:
        page.click("[data-csv]")
    assert download.value.suggested_filename.startswith("lsso-broadcast-reach-")
    shoot(page, "report", tmp_path)
    page.click('button[name="lang"][value="en"]')
    page.goto(f"/console/broadcasts/{broadcast_id}")
    page.locator("#broadcast-progress").scroll_into_view_if_needed()
    shoot(page, "broadcast-results", tmp_path)
    second.close()
