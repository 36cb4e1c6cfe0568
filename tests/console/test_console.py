"""The console with Flask's test client: who gets in, CSRF, office scoping, languages, bad input shown next to
its field with nothing written, and the pages doing their work through the same services as the API."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from lsso_mobile.console.auth import CONSOLE_ACCESS
from lsso_mobile.models import (
    ApplicationStatus,
    AuthSession,
    BenefitClaim,
    ClaimStatus,
    Message,
    Notification,
    RegistrationApplication,
)
from tests.conftest import STAFF_PASSWORD
from tests.console.conftest import (
    add_claim,
    console_sign_in,
    csrf_token,
    member_applies,
    post_form,
    registered_member,
)
from tests.messaging_support import member, png_bytes, start, upload
from tests.support import application_form, bearer, sign_up, staff_sign_in


def test_every_console_page_declares_who_may_open_it(app):
    views = {rule.endpoint: app.view_functions[rule.endpoint] for rule in app.url_map.iter_rules()}
    console = {name: view for name, view in views.items() if name.startswith("console.")}
    assert len(console) > 15
    undeclared = [
        name for name, view in console.items() if name != "console.static" and not hasattr(view, CONSOLE_ACCESS)
    ]
    assert undeclared == []


def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session(client, staff, db):
    response = console_sign_in(client, staff["officer"])
    assert response.status_code == 302 and response.headers["Location"].endswith("/console/inbox")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    page = client.get("/console/inbox")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html; charset=utf-8")
    assert '<meta charset="utf-8">' in page.text and '<html lang="lo">' in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["Cache-Control"] == "no-store"
    assert "<script>" not in page.text and "style=" not in page.text and " on" + "click" not in page.text

    client.post("/console/logout", data={"csrf_token": csrf_token(page.text)})
    assert db.scalar(select(func.count()).select_from(AuthSession).where(AuthSession.revoked_at.is_not(None))) == 1
    assert client.get("/console/inbox").status_code == 302


def test_the_api_keeps_its_own_headers(client):
    response = client.get("/api/v1/health")
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'; sandbox"


def test_wrong_password_counts_towards_the_lockout_and_is_shown_at_the_field(client, staff, db):
    response = console_sign_in(client, staff["officer"], password="not-the-password")
    assert response.status_code == 401
    assert "ຂໍ້ມູນເຂົ້າລະບົບບໍ່ຖືກຕ້ອງ" in response.text and 'id="password-error"' in response.text
    from lsso_mobile.models import SignInFailure

    assert db.scalar(select(func.count()).select_from(SignInFailure)) == 1


def test_a_member_token_ops_and_anonymous_callers_do_not_get_in(client, staff, sms_gateway):
    alice = member(client, sms_gateway, "+8562055580001")
    assert client.get("/console/inbox", headers=alice).status_code == 302  # a bearer token is never read
    officer_token = bearer(staff_sign_in(client, staff["officer"], STAFF_PASSWORD)["access_token"])
    assert client.get("/console/inbox", headers=officer_token).status_code == 302
    polled = client.get("/console/inbox", headers={"HX-Request": "true"})
    assert polled.status_code == 401 and polled.headers["HX-Redirect"] == "/console/login"

    console_sign_in(client, staff["ops"])
    refused = client.get("/console/inbox")
    assert refused.status_code == 403 and "ບໍ່ແມ່ນສຳລັບບັນຊີຂອງທ່ານ" in refused.text


def test_a_form_without_its_csrf_token_is_refused_and_nothing_is_written(client, staff, sms_gateway, db):
    alice = member(client, sms_gateway, "+8562055580002")
    cid = start(client, alice).json["conversation"]["id"]
    assert (
        client.post("/console/login", data={"username": staff["officer"], "password": STAFF_PASSWORD}).status_code
        == 400
    )
    console_sign_in(client, staff["officer"])
    before = db.scalar(select(func.count()).select_from(Message))
    refused = client.post(f"/console/conversations/{cid}/reply", data={"body": "Hello", "key": "k1"})
    assert refused.status_code == 400 and "ແບບຟອມໝົດອາຍຸແລ້ວ" in refused.text
    forged = client.post(
        f"/console/conversations/{cid}/reply",
        data={"body": "Hello", "csrf_token": "forged"},
        headers={"HX-Request": "1"},
    )
    assert forged.status_code == 400
    assert db.scalar(select(func.count()).select_from(Message)) == before
    # the htmx header carries the same token
    page = client.get(f"/console/conversations/{cid}")
    token = csrf_token(page.text)
    ok = client.post(f"/console/conversations/{cid}/assign", headers={"X-CSRFToken": token})
    assert ok.status_code == 302


def test_the_officer_answers_a_member(client, staff, sms_gateway, db):
    alice = member(client, sms_gateway, "+8562055580003", language="en")
    photo = upload(client, alice, png_bytes(4, 3)).json["id"]
    cid = start(client, alice, attachment_ids=[photo]).json["conversation"]["id"]
    console_sign_in(client, staff["officer"])

    inbox = client.get("/console/inbox?tab=unassigned")
    assert f"/console/conversations/{cid}" in inbox.text and "May contribution" in inbox.text
    partial = client.get("/console/inbox?tab=unassigned", headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<div id="inbox-rows"') and "<html" not in partial.text

    page = client.get(f"/console/conversations/{cid}")
    assert "+8562055580003" in page.text and f"/console/attachments/{photo}" in page.text
    image = client.get(f"/console/attachments/{photo}")
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"

    token = csrf_token(page.text)
    key = page.text.split('name="key" type="hidden" value="')[1].split('"')[0]
    sent = client.post(
        f"/console/conversations/{cid}/reply", data={"csrf_token": token, "body": "It arrived.", "key": key}
    )
    assert sent.status_code == 302
    again = client.post(
        f"/console/conversations/{cid}/reply", data={"csrf_token": token, "body": "It arrived.", "key": key}
    )
    assert again.status_code == 302  # the same click twice: one message
    assert db.scalar(select(func.count()).select_from(Message).where(Message.body == "It arrived.")) == 1
    assert (
        db.scalar(select(func.count()).select_from(Notification).where(Notification.template == "conversation_reply"))
        == 1
    )
    thread = client.get(f"/api/v1/conversations/{cid}/messages", headers=alice).json["items"]
    assert thread[0]["body"] == "It arrived." and thread[0]["author"] == "staff"

    client.post(f"/console/conversations/{cid}/note", data={"csrf_token": token, "body": "Checked with finance."})
    assert db.scalar(select(func.count()).select_from(Message).where(Message.internal.is_(True))) == 1
    member_sees = [m["body"] for m in client.get(f"/api/v1/conversations/{cid}/messages", headers=alice).json["items"]]
    assert "Checked with finance." not in member_sees and "It arrived." in member_sees
    resolved = client.post(f"/console/conversations/{cid}/resolve", data={"csrf_token": token})
    assert resolved.status_code == 302
    assert client.get(f"/api/v1/conversations/{cid}", headers=alice).json["status"] == "resolved"
    client.post(f"/console/conversations/{cid}/reopen", data={"csrf_token": token})
    assert client.get(f"/api/v1/conversations/{cid}", headers=alice).json["status"] == "open"

    empty = client.post(f"/console/conversations/{cid}/reply", data={"csrf_token": token, "body": "  ", "key": "x"})
    assert empty.status_code == 422 and 'id="body-error"' in empty.text


def test_another_office_sees_nothing(client, staff, sms_gateway, db):
    alice = registered_member(client, sms_gateway, "+8562055580004", staff["officer"])
    cid = start(client, alice).json["conversation"]["id"]
    _, application_id = member_applies(client, sms_gateway, "+8562055580005", national_id="LA-0101-999999")
    claim_id = add_claim(db, "+8562055580004")
    member_id = client.get(
        "/api/v1/staff/members",
        query_string={"q": "+8562055580004"},
        headers=bearer(staff_sign_in(client, staff["officer"], STAFF_PASSWORD)["access_token"]),
    ).json["items"][0]["id"]

    console_sign_in(client, staff["other_officer"])
    for path in (
        f"/console/conversations/{cid}",
        f"/console/registrations/{application_id}",
        f"/console/members/{member_id}",
    ):
        assert client.get(path).status_code == 404, path
    assert "May contribution" not in client.get("/console/inbox?tab=all&status=all").text
    assert "ບໍ່ພົບສະມາຊິກໃນຫ້ອງການຂອງທ່ານ" in client.get("/console/members?q=Bualai").text
    token = csrf_token(client.get("/console/claims").text)
    refused = client.post(f"/console/claims/{claim_id}/status", data={"csrf_token": token, "status": "paid"})
    assert refused.status_code == 404
    decision = client.post(
        f"/console/registrations/{application_id}/decision", data={"csrf_token": token, "decision": "approve"}
    )
    assert decision.status_code == 404
    assert db.get(BenefitClaim, claim_id).status is ClaimStatus.RECEIVED
    assert db.get(RegistrationApplication, application_id).status is ApplicationStatus.SUBMITTED


def test_language_switch_and_bad_input_next_to_the_field(client, staff, sms_gateway, db):
    _, application_id = member_applies(client, sms_gateway, "+8562055580006")
    console_sign_in(client, staff["officer"])
    path = f"/console/registrations/{application_id}"
    page = client.get(path)
    assert '<html lang="lo">' in page.text and "ບັນທຶກການຕັດສິນ" in page.text

    refused = post_form(client, path, f"{path}/decision", {"decision": "reject", "reason": ""})
    assert refused.status_code == 422
    error = refused.text.split('id="reason-error">')[1].split("</p>")[0]
    assert error == "ຕ້ອງໃສ່ເຫດຜົນເພື່ອບໍ່ອະນຸມັດ ຫຼື ສົ່ງຄຳຮ້ອງຄືນ."
    db.expire_all()
    assert db.get(RegistrationApplication, application_id).status is ApplicationStatus.SUBMITTED

    switched = post_form(client, path, "/console/language", {"lang": "en", "next": path})
    assert switched.status_code == 302 and switched.headers["Location"] == path
    english = post_form(client, path, f"{path}/decision", {"decision": "reject", "reason": ""})
    assert '<html lang="en">' in english.text
    assert "A reason is required to reject or send back an application." in english.text
    offsite = post_form(client, path, "/console/language", {"lang": "lo", "next": "//evil.example/console"})
    assert offsite.headers["Location"] == "/console/login"

    approved = post_form(client, path, f"{path}/decision", {"decision": "approve"})
    assert approved.status_code == 302
    page = client.get(path)
    number = db.get(RegistrationApplication, application_id).insured_person.member_number
    assert f"ເລກສະມາຊິກໃໝ່ແມ່ນ {number}" in page.text and "data-member-number" in page.text


def test_duplicate_national_id_is_flagged(client, staff, sms_gateway):
    """Two pending applications with one ID (written differently) warn the officer; once one is approved, the
    other still shows the warning, and a new application with that ID is refused outright."""
    _, first = member_applies(client, sms_gateway, "+8562055580007", national_id="LA-0101-555555")
    _, second = member_applies(client, sms_gateway, "+8562055580008", national_id="la 0101 555555")
    console_sign_in(client, staff["officer"])
    for application_id in (first, second):
        page = client.get(f"/console/registrations/{application_id}")
        assert 'role="alert"' in page.text and "ເລກບັດປະຈຳຕົວນີ້ກົງກັບຂໍ້ມູນອື່ນ" in page.text
    approved = post_form(
        client, f"/console/registrations/{first}", f"/console/registrations/{first}/decision", {"decision": "approve"}
    )
    assert approved.status_code == 302
    page = client.get(f"/console/registrations/{second}")
    assert 'role="alert"' in page.text and "ເລກບັດປະຈຳຕົວນີ້ກົງກັບຂໍ້ມູນອື່ນ" in page.text
    headers = bearer(sign_up(client, sms_gateway, "+8562055580010")["access_token"])
    third = client.post("/api/v1/me/registration", json=application_form(national_id="LA0101555555"), headers=headers)
    assert third.status_code == 409 and third.json["error"] == "national_id_already_insured"


def test_claim_status_change_tells_the_member(client, staff, sms_gateway, db):
    registered_member(client, sms_gateway, "+8562055580009", staff["officer"])
    claim_id = add_claim(db, "+8562055580009")
    console_sign_in(client, staff["officer"])
    missing_reason = post_form(client, "/console/claims", f"/console/claims/{claim_id}/status", {"status": "rejected"})
    assert missing_reason.status_code == 422 and f'id="reason-{claim_id}-error"' in missing_reason.text
    no_amount = post_form(
        client, "/console/claims", f"/console/claims/{claim_id}/status", {"status": "approved", "reason": "Complete."}
    )
    assert no_amount.status_code == 422 and f'id="amount-{claim_id}-error"' in no_amount.text  # at the field
    changed = post_form(
        client,
        "/console/claims",
        f"/console/claims/{claim_id}/status",
        {"status": "approved", "reason": "Complete.", "amount_approved": "450000"},
    )
    assert changed.status_code == 302
    db.expire_all()
    claim = db.get(BenefitClaim, claim_id)
    assert claim.status is ClaimStatus.APPROVED and claim.amount_approved == 450_000
    notices = db.scalars(select(Notification.template).where(Notification.template.like("claim%"))).all()
    assert len(notices) == 1


def test_member_lookup_in_the_console_and_the_api(client, staff, sms_gateway):
    registered_member(
        client,
        sms_gateway,
        "+8562055580010",
        staff["officer"],
        name_lo="ທ້າວ ສົມພອນ ແກ້ວມະນີ",
        name_latin="Somphone Keomany",
    )
    console_sign_in(client, staff["officer"])
    for query in ("020 5558 0010", "ສົມພອນແກ້ວ", "somphone  KEOMANY", "la-0101-123456"):
        page = client.get("/console/members", query_string={"q": query})
        assert "Somphone Keomany" in page.text, query
    member_path = client.get("/console/members?q=Somphone").text.split('href="/console/members/')[1].split('"')[0]
    detail = client.get(f"/console/members/{member_path}")
    assert detail.status_code == 200 and "+8562055580010" in detail.text
    short = client.get("/console/members?q=a")
    assert 'id="q-error"' in short.text

    desk = bearer(staff_sign_in(client, staff["officer"], STAFF_PASSWORD)["access_token"])
    found = client.get("/api/v1/staff/members", query_string={"q": "ສົມພອນ"}, headers=desk).json
    assert [m["name_latin"] for m in found["items"]] == ["Somphone Keomany"]
    one = client.get(f"/api/v1/staff/members/{found['items'][0]['id']}", headers=desk).json
    assert one["member"]["phone"] == "+8562055580010" and one["applications"][0]["status"] == "approved"
    other = bearer(staff_sign_in(client, staff["other_officer"], STAFF_PASSWORD)["access_token"])
    assert client.get("/api/v1/staff/members", query_string={"q": "ສົມພອນ"}, headers=other).json["items"] == []
    assert client.get(f"/api/v1/staff/members/{found['items'][0]['id']}", headers=other).status_code == 404


def test_a_sign_in_lasts_one_working_day(client, staff, db):
    console_sign_in(client, staff["officer"])
    assert client.get("/console/inbox").status_code == 200
    auth_session = db.scalars(select(AuthSession)).one()
    auth_session.created_at = auth_session.created_at - timedelta(hours=10, minutes=1)
    db.commit()
    assert client.get("/console/inbox").status_code == 302


def test_production_cookies_are_secure_and_csrf_checks_the_referrer(settings):
    from flask import Flask

    from lsso_mobile.console import install_console

    production = Flask("console-production-check")
    install_console(production, settings.replace(env="production"))
    assert production.config["SESSION_COOKIE_SECURE"] is True and production.config["WTF_CSRF_SSL_STRICT"] is True
    assert production.config["SESSION_COOKIE_HTTPONLY"] is True
    assert production.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert production.secret_key and settings.secret_key not in production.secret_key  # a key of its own


def test_over_https_a_form_needs_its_own_origin_as_referrer(app, client, staff):
    """Production checks the Referer of console forms (WTF_CSRF_SSL_STRICT); console pages therefore send
    Referrer-Policy: same-origin (the API keeps no-referrer), so browsers send it to the console only."""
    app.config["WTF_CSRF_SSL_STRICT"] = True
    https = {"base_url": "https://console.example"}
    page = client.get("/console/login", **https)
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert client.get("/api/v1/health").headers["Referrer-Policy"] == "no-referrer"
    form = {"username": staff["officer"], "password": STAFF_PASSWORD, "csrf_token": csrf_token(page.text)}
    assert client.post("/console/login", data=form, **https).status_code == 400  # no Referer
    elsewhere = {"Referer": "https://evil.example/console/login"}
    assert client.post("/console/login", data=form, headers=elsewhere, **https).status_code == 400
    same = {"Referer": "https://console.example/console/login"}
    assert client.post("/console/login", data=form, headers=same, **https).status_code == 302


def test_a_duplicate_in_another_office_is_flagged_without_saying_who(client, staff, sms_gateway):
    """Anyone can apply with any ID number: the warning must not show an officer who holds an ID elsewhere."""
    member_applies(
        client,
        sms_gateway,
        "+8562055580011",
        national_id="LA-1601-313131",
        name_lo="ນາງ ຄຳແພງ ແກ້ວ",
        name_latin="Khamphaeng Keo",
        province_code="16",
        district_code="1601",
        village_code="16010001",
    )
    _, mine = member_applies(client, sms_gateway, "+8562055580012", national_id="LA-1601-313131")
    console_sign_in(client, staff["officer"])
    page = client.get(f"/console/registrations/{mine}")
    assert 'role="alert"' in page.text and "ຢູ່ຫ້ອງການອື່ນ" in page.text
    assert "Khamphaeng" not in page.text and "ຄຳແພງ" not in page.text
