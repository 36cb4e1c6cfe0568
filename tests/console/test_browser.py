"""The console in a real browser: Debian's Chromium (never a downloaded one) driven by Playwright against the
app served by a real HTTP server in a thread, on the suite's database. The member's side goes over the API;
pushes go to the local FCM server. Screenshots of the main pages (Lao and English, 1366x768 and 768 px wide)
are written to the test's directory, and to docs/screenshots/ when CONSOLE_SCREENSHOTS=1."""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from werkzeug.serving import make_server

from lsso_mobile.models import BenefitClaim, ClaimStatus
from tests.api.test_linking import core, load, person_record, upload_photo  # noqa: F401  (core: a fixture)
from tests.conftest import STAFF_PASSWORD
from tests.console.conftest import add_claim, member_applies, registered_member
from tests.fakes.fcm import FakeFcmServer
from tests.messaging_support import member, png_bytes, start, upload
from tests.support import bearer, sign_up, staff_sign_in, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1366, "height": 768}
TABLET = {"width": 768, "height": 1024}
TOKEN = "tok-console-browser-0123456789"


@pytest.fixture
def browser(app) -> Iterator[Browser]:
    # Started after the app and stopped before it: Playwright's event loop must be gone when the app's runtime
    # closes (firebase-admin closes its HTTP client with asyncio.run). A missing Chromium is a failure, never a
    # skip: .ci/run installs it.
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def fcm_server() -> Iterator[FakeFcmServer]:
    server = FakeFcmServer().start()
    yield server
    server.stop()


@pytest.fixture
def settings_overrides(fcm_server):
    return {"push_backend": "fcm", "fcm_endpoint": fcm_server.url, "fcm_project_id": "lsso-test"}


@pytest.fixture
def base_url(app) -> Iterator[str]:
    app.config["CONSOLE_INBOX_REFRESH_SECONDS"] = 1
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url, viewport=DESKTOP, locale="lo-LA")
    context.set_default_timeout(10_000)
    errors: list[str] = []
    opened = context.new_page()
    # CSP refusals and script errors; a 4xx page the test asks for on purpose is not one.
    opened.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and "server responded with a status of 4" not in m.text else None
        ),
    )
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert errors == [], f"browser console errors (a CSP violation shows here): {errors}"


def shoot(page: Page, name: str, tmp_path: Path) -> None:
    """Screenshots at desktop and tablet width; kept in docs/screenshots when CONSOLE_SCREENSHOTS=1."""
    language = page.locator("html").get_attribute("lang")
    for size in (DESKTOP, TABLET):
        page.set_viewport_size(size)
        path = tmp_path / f"{name}-{language}-{size['width']}.png"
        page.screenshot(path=str(path), full_page=size is TABLET)
        if os.environ.get("CONSOLE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, SCREENSHOTS / path.name)
    page.set_viewport_size(DESKTOP)


def sign_in(page: Page, username: str) -> None:
    page.goto("/console/login")
    page.fill("#username", username)
    page.fill("#password", STAFF_PASSWORD)
    page.click("button.primary")


def switch_language(page: Page, language: str) -> None:
    page.click(f'button[name="lang"][value="{language}"]')
    expect(page.locator("html")).to_have_attribute("lang", language)


def test_an_officer_answers_a_member(page, client, sms_gateway, staff, fcm_server, tmp_path):
    alice = registered_member(
        client, sms_gateway, "+8562055570001", staff["officer"], name_lo="ນາງ ບົວໄລ ສີສຸວັນ", name_latin="Bualai Sisouvan"
    )
    device = {"token": TOKEN, "platform": "android", "app_version": "1.0.0"}
    assert client.post("/api/v1/me/devices", json=device, headers=alice).status_code == 201
    photo = upload(client, alice, png_bytes(40, 30)).json["id"]
    cid = start(client, alice, subject="ເງິນສົມທົບເດືອນພຶດສະພາ", attachment_ids=[photo]).json["conversation"]["id"]
    pushes_before = fcm_server.counts_by_token().get(TOKEN, 0)
    desk = bearer(staff_sign_in(client, staff["officer"], STAFF_PASSWORD)["access_token"])
    canned = {"title": "Received", "body_lo": "ພວກເຮົາໄດ້ຮັບແລ້ວ.", "body_en": "We have received it."}
    assert client.post("/api/v1/staff/canned-replies", json=canned, headers=desk).status_code == 201

    page.goto("/console/inbox")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    shoot(page, "login", tmp_path)
    sign_in(page, staff["officer"])
    expect(page.locator("h1")).to_have_text("ກ່ອງຂໍ້ຄວາມ")
    page.click("text=ຍັງບໍ່ມອບໝາຍ")
    expect(page.locator("#inbox-rows")).to_contain_text("ເງິນສົມທົບເດືອນພຶດສະພາ")

    # A new question appears without a reload (htmx polling).
    start(client, alice, subject="Second question", body="Also: my card?")
    expect(page.locator("#inbox-rows")).to_contain_text("Second question", timeout=8_000)
    shoot(page, "inbox", tmp_path)

    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    page.keyboard.press("Escape")
    page.click(f'a[href="/console/conversations/{cid}"]')
    expect(page.locator(".member-pane")).to_contain_text("+8562055570001")
    expect(page.locator("img.photo")).to_be_visible()
    assert page.locator("img.photo").evaluate("img => img.naturalWidth") == 40
    shoot(page, "conversation", tmp_path)

    page.keyboard.press("r")
    page.keyboard.type("/")  # canned replies, in the member's language
    expect(page.locator("[data-canned-menu]")).to_be_visible()
    page.fill("[data-canned-pick]", "Received")
    page.keyboard.press("Tab")
    expect(page.locator('textarea[data-key="r"]')).to_have_value("ພວກເຮົາໄດ້ຮັບແລ້ວ.")
    page.fill('textarea[data-key="r"]', "")
    page.keyboard.type("ໄດ້ຮັບເງິນສົມທົບຂອງທ່ານແລ້ວ.")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".flash")).to_contain_text("ຄຳຕອບຂອງທ່ານຖືກສົ່ງແລ້ວ")
    expect(page.locator(".thread")).to_contain_text("ໄດ້ຮັບເງິນສົມທົບຂອງທ່ານແລ້ວ.")
    wait_until(lambda: fcm_server.counts_by_token().get(TOKEN, 0) == pushes_before + 1, timeout=10, message="the push")
    thread = client.get(f"/api/v1/conversations/{cid}/messages", headers=alice).json["items"]
    assert thread[0]["body"] == "ໄດ້ຮັບເງິນສົມທົບຂອງທ່ານແລ້ວ." and thread[0]["author"] == "staff"

    page.keyboard.press("n")
    page.keyboard.type("Checked with finance.")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".msg.note")).to_contain_text("Checked with finance.")
    page.keyboard.press("e")
    expect(page.locator(".meta .status")).to_have_text("ແກ້ໄຂແລ້ວ")
    assert client.get(f"/api/v1/conversations/{cid}", headers=alice).json["status"] == "resolved"
    assert fcm_server.counts_by_token()[TOKEN] == pushes_before + 1  # notes and resolving push nothing

    switch_language(page, "en")
    shoot(page, "conversation", tmp_path)
    page.goto("/console/inbox?tab=all&status=all")
    shoot(page, "inbox", tmp_path)


def test_approving_a_registration_and_the_duplicate_id_warning(page, client, sms_gateway, staff, db, tmp_path):
    _, first = member_applies(client, sms_gateway, "+8562055570002", national_id="LA-0101-777777")
    _, second = member_applies(client, sms_gateway, "+8562055570003", national_id="LA-0101-777777")
    sign_in(page, staff["officer"])
    page.click('nav a[href="/console/registrations"]')
    expect(page.locator("table.list")).to_contain_text("LA0101777777")
    shoot(page, "registrations", tmp_path)
    page.goto(f"/console/registrations/{first}")
    expect(page.locator(".warning")).to_contain_text(f"#{second}")  # the other pending application
    shoot(page, "registration", tmp_path)
    page.select_option("#decision", "approve")
    page.click("text=ບັນທຶກການຕັດສິນ")
    number = page.locator("[data-member-number]").inner_text()
    assert number.startswith("01") and len(number) == 10
    expect(page.locator(".flash")).to_contain_text(number)

    page.goto(f"/console/registrations/{second}")
    expect(page.locator(".warning")).to_contain_text(number)  # now an insured person has this ID
    page.select_option("#decision", "reject")
    page.click("text=ບັນທຶກການຕັດສິນ")
    expect(page.locator("#reason-error")).to_be_visible()  # no reason: shown at the field, nothing written
    switch_language(page, "en")
    page.goto(f"/console/registrations/{second}")
    shoot(page, "registration", tmp_path)


def test_changing_a_claim_status_tells_the_member(page, client, sms_gateway, staff, db, tmp_path):
    bob = registered_member(client, sms_gateway, "+8562055570004", staff["officer"])
    claim_id = add_claim(db, "+8562055570004", ClaimStatus.UNDER_REVIEW)
    sign_in(page, staff["officer"])
    page.goto("/console/claims")
    shoot(page, "claims", tmp_path)
    row = page.locator(f"#claim-{claim_id}")
    row.locator("select").select_option("approved")
    row.locator("textarea").fill("ເອກະສານຄົບຖ້ວນ")
    row.locator("button").click()
    expect(page.locator(f"#amount-{claim_id}-error")).to_be_visible()  # approving needs an amount: at the field
    row = page.locator(f"#claim-{claim_id}")
    row.locator("select").select_option("approved")
    row.locator("textarea").fill("ເອກະສານຄົບຖ້ວນ")
    row.locator(f"#amount-{claim_id}").fill("450000")
    row.locator("button").click()
    expect(page.locator(".flash")).to_be_visible()
    db.expire_all()
    claim = db.get(BenefitClaim, claim_id)
    assert claim.status is ClaimStatus.APPROVED and claim.amount_approved == 450_000
    notices = client.get("/api/v1/me/notifications", headers=bob).json["items"]
    assert any("ເອກະສານຄົບຖ້ວນ" in n["body"] for n in notices), notices


def test_finding_a_member_by_phone_and_lao_name(page, client, sms_gateway, staff, tmp_path):
    registered_member(
        client,
        sms_gateway,
        "+8562055570005",
        staff["officer"],
        name_lo="ທ້າວ ສົມພອນ ແກ້ວມະນີ",
        name_latin="Somphone Keomany",
    )
    sign_in(page, staff["officer"])
    page.goto("/console/members")
    page.fill("#q", "020 5557 0005")
    page.keyboard.press("Enter")
    expect(page.locator("table.list")).to_contain_text("ທ້າວ ສົມພອນ ແກ້ວມະນີ")
    page.fill("#q", "ສົມພອນແກ້ວມະນີ")
    page.keyboard.press("Enter")
    expect(page.locator("table.list")).to_contain_text("Somphone Keomany")
    shoot(page, "members", tmp_path)
    page.click("table.list a")
    expect(page.locator("h1")).to_contain_text("ທ້າວ ສົມພອນ ແກ້ວມະນີ")
    shoot(page, "member", tmp_path)
    switch_language(page, "en")
    shoot(page, "member", tmp_path)


def test_other_office_ops_and_member_tokens_are_refused(page, browser, base_url, client, sms_gateway, staff):
    alice = member(client, sms_gateway, "+8562055570006")
    cid = start(client, alice).json["conversation"]["id"]
    sign_in(page, staff["other_officer"])
    response = page.goto(f"/console/conversations/{cid}")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("ບໍ່ພົບ")

    ops = browser.new_context(base_url=base_url)
    ops_page = ops.new_page()
    sign_in(ops_page, staff["ops"])
    expect(ops_page).to_have_url(re.compile(r"/console/broadcasts$"))  # ops land on their broadcasts
    ops_page.goto("/console/inbox")
    expect(ops_page.locator("h1")).to_have_text("ບໍ່ແມ່ນສຳລັບບັນຊີຂອງທ່ານ")
    ops.close()

    token = alice["Authorization"].split()[1]
    member_context = browser.new_context(base_url=base_url, extra_http_headers=bearer(token))
    member_page = member_context.new_page()
    member_page.goto(f"/console/conversations/{cid}")
    expect(member_page).to_have_url(re.compile(r"/console/login\?next="))
    member_context.close()


def test_approving_a_link_request_links_the_members_app(page, client, sms_gateway, core, staff, tmp_path):  # noqa: F811
    load(client, core, person_record(phone=None))
    headers = bearer(sign_up(client, sms_gateway, "+8562055570007")["access_token"])
    body = {"member_number": "0100123457", "date_of_birth": "1979-06-15"}
    body["id_photo_attachment_id"] = upload_photo(client, headers, png_bytes(60, 40, noise=True))
    assert client.post("/api/v1/me/link-request", json=body, headers=headers).status_code == 201
    assert client.get("/api/v1/me/link", headers=headers).status_code == 404

    sign_in(page, staff["officer"])
    expect(page.locator('[data-count="link-requests"]')).to_have_text("1")
    page.click('nav a[href="/console/link-requests"]')
    expect(page.locator("table.list")).to_contain_text("Keo Sisavath")
    page.click("table.list a")
    expect(page.locator("[data-member-number]")).to_have_text("0100123457")
    expect(page.locator("img.id-photo")).to_be_visible()
    assert page.locator("img.id-photo").evaluate("img => img.naturalWidth") == 60
    shoot(page, "link-request", tmp_path)
    page.select_option("#decision", "approve")
    page.click("text=ບັນທຶກການຕັດສິນ")
    expect(page.locator(".flash")).to_contain_text("0100123457")
    expect(page.locator("[data-decision]")).to_contain_text(staff["officer"])
    expect(page.locator('[data-count="link-requests"]')).to_have_count(0)

    linked = client.get("/api/v1/me/link", headers=headers)
    assert linked.status_code == 200
    assert linked.json["member_number"] == "0100123457" and linked.json["method"] == "officer"
    switch_language(page, "en")
    shoot(page, "link-request", tmp_path)
