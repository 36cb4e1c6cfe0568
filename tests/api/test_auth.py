"""Sign-up, sign-in, one-time codes, lockout, token rotation and JWT checks, over HTTP."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, update

from lsso_mobile.models import AuthSession, Member, OtpCode
from tests.conftest import STAFF_PASSWORD
from tests.support import PIN, bearer, request_code, sign_up, staff_sign_in

PHONE = "+8562055512345"


def test_sign_up_then_sign_in_with_phone_and_pin(client, sms_gateway, db):
    tokens = sign_up(client, sms_gateway, "020 5551 2345", language="en")
    assert tokens["role"] == "member" and tokens["token_type"] == "Bearer"
    assert sms_gateway.auth_headers[-1] == "Bearer sms-test-token"
    profile = client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
    assert profile.status_code == 200
    assert profile.json["phone"] == PHONE and profile.json["language"] == "en"
    assert profile.json["member_number"] is None
    login = client.post("/api/v1/auth/login", json={"phone": "+856 20 5551 2345", "pin": PIN})
    assert login.status_code == 200
    member = db.scalars(select(Member).where(Member.phone == PHONE)).one()
    assert member.pin_hash.startswith("$argon2id$") and PIN not in member.pin_hash
    assert "pin_hash" not in json.dumps(profile.json)


def test_code_is_stored_only_as_a_keyed_hash(client, sms_gateway, db):
    code = request_code(client, sms_gateway, PHONE)
    stored = db.scalars(select(OtpCode)).one()
    assert code not in stored.code_hash and len(stored.code_hash) == 64


def test_send_code_answer_is_the_same_for_known_and_unknown_numbers(client, sms_gateway):
    sign_up(client, sms_gateway, PHONE)
    known = client.post("/api/v1/auth/otp", json={"phone": PHONE})
    unknown = client.post("/api/v1/auth/otp", json={"phone": "+8562055599999"})
    assert known.status_code == unknown.status_code == 202
    assert known.json == unknown.json


def test_expired_code_is_refused(client, sms_gateway, db):
    code = request_code(client, sms_gateway, PHONE)
    db.execute(update(OtpCode).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    db.commit()
    response = client.post("/api/v1/auth/signup", json={"phone": PHONE, "code": code, "pin": PIN})
    assert response.status_code == 400
    assert response.json["errors"] == {"code": ["expired or not requested"]}
    assert db.scalar(select(func.count()).select_from(Member)) == 0


def test_code_works_once(client, sms_gateway):
    code = request_code(client, sms_gateway, PHONE)
    assert client.post("/api/v1/auth/signup", json={"phone": PHONE, "code": code, "pin": PIN}).status_code == 201
    again = client.post("/api/v1/auth/pin/reset", json={"phone": PHONE, "code": code, "new_pin": "999111"})
    assert again.status_code == 400


def test_five_wrong_tries_burn_the_code(client, sms_gateway, db):
    code = request_code(client, sms_gateway, PHONE)
    wrong = "000000" if code != "000000" else "111111"
    for tries_left in (4, 3, 2, 1, 0):
        response = client.post("/api/v1/auth/signup", json={"phone": PHONE, "code": wrong, "pin": PIN})
        assert response.status_code == 400
        assert response.json["errors"]["code"] == [f"wrong code; {tries_left} tries left"]
    right = client.post("/api/v1/auth/signup", json={"phone": PHONE, "code": code, "pin": PIN})
    assert right.status_code == 400
    assert right.json["errors"]["code"] == ["too many wrong tries"]
    assert db.scalar(select(func.count()).select_from(Member)) == 0


def test_three_sends_per_phone_per_window(client, sms_gateway):
    for _ in range(3):
        assert client.post("/api/v1/auth/otp", json={"phone": PHONE}).status_code == 202
    fourth = client.post("/api/v1/auth/otp", json={"phone": PHONE})
    assert fourth.status_code == 429
    assert 1 <= int(fourth.headers["Retry-After"]) <= 15 * 60 + 1
    assert fourth.json["code"] == 429 and "message" in fourth.json
    assert sms_gateway.count_to(PHONE) == 3


@pytest.fixture
def settings_overrides():
    return {"otp_sends_per_ip": 4}


def test_sends_per_ip_are_limited(client, sms_gateway):
    phones = [f"+85620555100{i:02d}" for i in range(5)]
    answers = [client.post("/api/v1/auth/otp", json={"phone": p}).status_code for p in phones]
    assert answers == [202, 202, 202, 202, 429]
    other_ip = client.post("/api/v1/auth/otp", json={"phone": phones[4]}, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other_ip.status_code == 202


def test_wrong_pins_lock_the_account_with_the_unlock_time(client, sms_gateway):
    sign_up(client, sms_gateway, PHONE)
    for _ in range(4):
        assert client.post("/api/v1/auth/login", json={"phone": PHONE, "pin": "000000"}).status_code == 401
    locked = client.post("/api/v1/auth/login", json={"phone": PHONE, "pin": "000000"})
    assert locked.status_code == 429
    unlock_at = datetime.fromisoformat(locked.json["errors"]["unlock_at"])
    assert timedelta(minutes=14) < unlock_at - datetime.now(UTC) <= timedelta(minutes=15)
    assert int(locked.headers["Retry-After"]) > 800
    right_pin_while_locked = client.post("/api/v1/auth/login", json={"phone": PHONE, "pin": PIN})
    assert right_pin_while_locked.status_code == 429


def test_unknown_phone_and_wrong_pin_answer_alike(client, sms_gateway):
    sign_up(client, sms_gateway, PHONE)
    wrong_pin = client.post("/api/v1/auth/login", json={"phone": PHONE, "pin": "000000"})
    unknown = client.post("/api/v1/auth/login", json={"phone": "+8562055577777", "pin": "000000"})
    assert wrong_pin.status_code == unknown.status_code == 401
    assert wrong_pin.json == unknown.json


def test_refresh_rotates_and_reuse_revokes_the_family(client, sms_gateway):
    first = sign_up(client, sms_gateway, PHONE)
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert second.json["refresh_token"] != first["refresh_token"]
    third = client.post("/api/v1/auth/refresh", json={"refresh_token": second.json["refresh_token"]})
    assert third.status_code == 200
    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    # the whole family is gone: the newest refresh and access tokens stop working too
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": third.json["refresh_token"]}).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(third.json["access_token"])).status_code == 401


def test_logout_ends_the_session_only(client, sms_gateway):
    phone_a = sign_up(client, sms_gateway, PHONE)
    phone_b = client.post("/api/v1/auth/login", json={"phone": PHONE, "pin": PIN}).json
    assert client.post("/api/v1/auth/logout", headers=bearer(phone_a["access_token"])).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(phone_a["access_token"])).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": phone_a["refresh_token"]}).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(phone_b["access_token"])).status_code == 200


def test_pin_change_signs_out_everywhere(client, sms_gateway, db):
    tokens = sign_up(client, sms_gateway, PHONE)
    other = client.post("/api/v1/auth/login", json={"phone": PHONE, "pin": PIN}).json
    response = client.post(
        "/api/v1/auth/pin", json={"current_pin": PIN, "new_pin": "864200"}, headers=bearer(tokens["access_token"])
    )
    assert response.status_code == 204
    assert client.get("/api/v1/me", headers=bearer(other["access_token"])).status_code == 401
    assert client.post("/api/v1/auth/login", json={"phone": PHONE, "pin": PIN}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"phone": PHONE, "pin": "864200"}).status_code == 200
    reasons = set(db.scalars(select(AuthSession.revoked_reason)))
    assert "pin_changed" in reasons


def test_pin_reset_with_a_code(client, sms_gateway):
    sign_up(client, sms_gateway, PHONE)
    code = request_code(client, sms_gateway, PHONE)
    response = client.post("/api/v1/auth/pin/reset", json={"phone": PHONE, "code": code, "new_pin": "975310"})
    assert response.status_code == 204
    assert client.post("/api/v1/auth/login", json={"phone": PHONE, "pin": "975310"}).status_code == 200


def test_signing_up_twice_is_a_conflict(client, sms_gateway):
    sign_up(client, sms_gateway, PHONE)
    code = request_code(client, sms_gateway, PHONE)
    again = client.post("/api/v1/auth/signup", json={"phone": PHONE, "code": code, "pin": PIN})
    assert again.status_code == 409


def test_staff_sign_in(client, staff):
    tokens = staff_sign_in(client, staff["officer"], STAFF_PASSWORD)
    assert tokens["role"] == "officer"
    me = client.get("/api/v1/staff/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200 and me.json["role"] == "officer" and me.json["office_id"] is not None
    wrong = client.post("/api/v1/auth/staff/login", json={"username": staff["officer"], "password": "nope"})
    assert wrong.status_code == 401


# -- JWT checks ------------------------------------------------------------------------------------


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_alg_none_is_refused(client, sms_gateway):
    tokens = sign_up(client, sms_gateway, PHONE)
    claims = _claims_of(tokens["access_token"])
    forged = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    assert client.get("/api/v1/me", headers=bearer(forged)).status_code == 401
    header = jwt.get_unverified_header(tokens["access_token"])
    forged_kid = f"{_b64({'alg': 'none', 'kid': header['kid']})}.{_b64(claims)}."
    assert client.get("/api/v1/me", headers=bearer(forged_kid)).status_code == 401


def test_unknown_kid_is_refused(client, sms_gateway):
    tokens = sign_up(client, sms_gateway, PHONE)
    claims = _claims_of(tokens["access_token"])
    foreign = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "not-our-key"})
    response = client.get("/api/v1/me", headers=bearer(foreign))
    assert response.status_code == 401 and "unknown key" in response.json["message"]


def test_forged_signature_with_our_kid_is_refused(client, sms_gateway):
    tokens = sign_up(client, sms_gateway, PHONE)
    claims = _claims_of(tokens["access_token"])
    kid = jwt.get_unverified_header(tokens["access_token"])["kid"]
    forged = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid})
    assert client.get("/api/v1/me", headers=bearer(forged)).status_code == 401


def _resigned(app, claims: dict) -> str:
    keyring = app.extensions["lsso_keyring"]
    return jwt.encode(claims, keyring._signing_key, algorithm="EdDSA", headers={"kid": keyring.active_kid})


def test_wrong_audience_is_refused(app, client, sms_gateway):
    claims = _claims_of(sign_up(client, sms_gateway, PHONE)["access_token"])
    claims["aud"] = "some-other-service"
    assert client.get("/api/v1/me", headers=bearer(_resigned(app, claims))).status_code == 401
    claims["aud"] = app.extensions["lsso_keyring"].audience
    assert client.get("/api/v1/me", headers=bearer(_resigned(app, claims))).status_code == 200


def test_expired_token_is_refused(app, client, sms_gateway):
    claims = _claims_of(sign_up(client, sms_gateway, PHONE)["access_token"])
    leeway = app.extensions["lsso_keyring"].leeway_seconds  # clock differences between machines
    claims["exp"] = int((datetime.now(UTC) - timedelta(seconds=leeway + 5)).timestamp())
    response = client.get("/api/v1/me", headers=bearer(_resigned(app, claims)))
    assert response.status_code == 401 and "expired" in response.json["message"]


def test_refresh_token_is_not_an_access_token(client, sms_gateway):
    tokens = sign_up(client, sms_gateway, PHONE)
    assert client.get("/api/v1/me", headers=bearer(tokens["refresh_token"])).status_code == 401
    as_refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})
    assert as_refresh.status_code == 401


def test_missing_or_garbage_authorization(client):
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get("/api/v1/me", headers=bearer("not.a.jwt")).status_code == 401


def test_staff_token_cannot_use_member_routes_and_back(client, sms_gateway, staff):
    member = sign_up(client, sms_gateway, PHONE)
    officer = staff_sign_in(client, staff["officer"], STAFF_PASSWORD)
    assert client.get("/api/v1/me", headers=bearer(officer["access_token"])).status_code == 403
    assert client.get("/api/v1/staff/me", headers=bearer(member["access_token"])).status_code == 403


def test_sign_up_needs_the_code_before_saying_the_number_is_taken(client, sms_gateway):
    sign_up(client, sms_gateway, PHONE)
    response = client.post("/api/v1/auth/signup", json={"phone": PHONE, "code": "000000", "pin": PIN})
    assert response.status_code == 400  # not 409: without the code nobody learns the number has an account


def test_a_disabled_officer_loses_access_at_once(client, staff, db):
    from lsso_mobile.models import StaffUser

    tokens = staff_sign_in(client, staff["officer"], STAFF_PASSWORD)
    assert client.get("/api/v1/staff/me", headers=bearer(tokens["access_token"])).status_code == 200
    db.execute(update(StaffUser).where(StaffUser.username == staff["officer"]).values(active=False))
    db.commit()
    assert client.get("/api/v1/staff/me", headers=bearer(tokens["access_token"])).status_code == 401


def test_failed_sign_ins_from_one_network_are_limited(app, client, sms_gateway, db):
    from lsso_mobile import runtime
    from lsso_mobile.models import SignInFailure, utcnow
    from lsso_mobile.services.housekeeping import prune_expired_auth_rows

    sign_up(client, sms_gateway, PHONE)
    limit = runtime.current().settings.login_failures_per_ip
    # one PIN tried across many numbers: no single account locks, the network does
    for i in range(limit):
        wrong = client.post("/api/v1/auth/login", json={"phone": f"+85620777{i:05d}", "pin": "123456"})
        assert wrong.status_code == 401
    blocked = client.post("/api/v1/auth/login", json={"phone": PHONE, "pin": PIN})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    elsewhere = client.post(
        "/api/v1/auth/login", json={"phone": PHONE, "pin": PIN}, environ_base={"REMOTE_ADDR": "10.1.2.3"}
    )
    assert elsewhere.status_code == 200
    assert db.scalar(select(func.count()).select_from(SignInFailure)) == limit
    assert prune_expired_auth_rows(db, utcnow() + timedelta(days=3)) >= limit
