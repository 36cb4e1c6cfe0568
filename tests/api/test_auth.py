"""Sign-up, sign-in, one-time codes, lockout, token rotation and JWT checks, over HTTP."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, update

from lsso_mobile.models import AuthSession, Member, OtpCode, SignInFailure, utcnow
from tests.conftest import STAFF_PASSWORD
from tests.support import PIN, bearer, field_codes, field_messages, request_code, sign_up, staff_sign_in

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
    assert field_codes(response.json) == {"code": ["code_expired"]}
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
        assert field_messages(response.json)["code"] == [f"Wrong code; {tries_left} tries left."]
    right = client.post("/api/v1/auth/signup", json={"phone": PHONE, "code": code, "pin": PIN})
    assert right.status_code == 400
    assert field_codes(right.json)["code"] == ["code_tries_exhausted"]
    assert db.scalar(select(func.count()).select_from(Member)) == 0


def test_three_sends_per_phone_per_window(client, sms_gateway):
    for address in ("10.30.0.1", "10.30.0.1", "10.30.0.2"):
        response = client.post("/api/v1/auth/otp", json={"phone": PHONE}, environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 202
    fourth = client.post("/api/v1/auth/otp", json={"phone": PHONE}, environ_base={"REMOTE_ADDR": "10.30.0.3"})
    assert fourth.status_code == 429
    assert 1 <= int(fourth.headers["Retry-After"]) <= 15 * 60 + 1
    assert fourth.json["code"] == 429 and "message" in fourth.json
    assert sms_gateway.count_to(PHONE) == 3


def test_one_address_cannot_spend_a_phones_whole_budget(client, sms_gateway):
    stranger = {"REMOTE_ADDR": "10.31.0.1"}
    for _ in range(2):
        assert client.post("/api/v1/auth/otp", json={"phone": PHONE}, environ_base=stranger).status_code == 202
    assert client.post("/api/v1/auth/otp", json={"phone": PHONE}, environ_base=stranger).status_code == 429
    # the same /64 is the same address
    v6 = [{"REMOTE_ADDR": f"2001:db8:31:1::{i}"} for i in range(1, 4)]
    other = "+8562055512399"
    assert [client.post("/api/v1/auth/otp", json={"phone": other}, environ_base=a).status_code for a in v6] == [
        202,
        202,
        429,
    ]
    # the owner, elsewhere, still gets a code
    owner = {"REMOTE_ADDR": "10.31.0.2"}
    assert client.post("/api/v1/auth/otp", json={"phone": PHONE}, environ_base=owner).status_code == 202


def test_earlier_codes_stay_valid_and_are_used_up_together(client, sms_gateway, db):
    first = request_code(client, sms_gateway, PHONE)
    second = request_code(client, sms_gateway, PHONE)  # someone asks again: the owner's first code still works
    assert client.post("/api/v1/auth/signup", json={"phone": PHONE, "code": first, "pin": PIN}).status_code == 201
    assert all(otp.consumed_at is not None for otp in db.scalars(select(OtpCode)))
    again = client.post("/api/v1/auth/signup", json={"phone": PHONE, "code": second, "pin": PIN})
    assert again.status_code == 400


def test_codes_are_bound_to_their_purpose_and_the_sms_says_which(client, sms_gateway, db):
    sign_up(client, sms_gateway, PHONE)
    assert "sign up" in sms_gateway.messages[-1]["text"] and "ລົງທະບຽນ" in sms_gateway.messages[-1]["text"]
    signup_code = request_code(client, sms_gateway, PHONE)  # no purpose: a sign-up code, as before purposes
    refused = client.post("/api/v1/auth/pin/reset", json={"phone": PHONE, "code": signup_code, "new_pin": "975310"})
    assert refused.status_code == 400
    reset_code = request_code(client, sms_gateway, PHONE, purpose="pin_reset", address="10.32.0.1")
    text = sms_gateway.messages[-1]["text"]
    assert "reset your PIN" in text and "ຕັ້ງລະຫັດ PIN ໃໝ່" in text
    done = client.post("/api/v1/auth/pin/reset", json={"phone": PHONE, "code": reset_code, "new_pin": "975310"})
    assert done.status_code == 204
    assert db.scalars(select(OtpCode.purpose).order_by(OtpCode.id)).all() == ["signup", "signup", "pin_reset"]
    step_up = client.post("/api/v1/auth/otp", json={"phone": PHONE, "purpose": "step_up"})
    assert step_up.status_code == 422  # sent only by a sign-in whose PIN was right


def test_code_sends_count_ipv6_per_64(client, sms_gateway):
    # otp_sends_per_ip is 4 in this module
    answers = [
        client.post(
            "/api/v1/auth/otp",
            json={"phone": f"+85620555200{i:02d}"},
            environ_base={"REMOTE_ADDR": f"2001:db8:9:9::{i}"},
        ).status_code
        for i in range(1, 6)
    ]
    assert answers == [202, 202, 202, 202, 429]


@pytest.fixture
def settings_overrides():
    return {"otp_sends_per_ip": 4}


def test_sends_per_ip_are_limited(client, sms_gateway):
    phones = [f"+85620555100{i:02d}" for i in range(5)]
    answers = [client.post("/api/v1/auth/otp", json={"phone": p}).status_code for p in phones]
    assert answers == [202, 202, 202, 202, 429]
    other_ip = client.post("/api/v1/auth/otp", json={"phone": phones[4]}, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other_ip.status_code == 202


def _wait_out_delays(db) -> None:
    """Move recorded failures back in time, as if the caller had waited out the delay (still in the window)."""
    for failure in db.scalars(select(SignInFailure)):
        failure.created_at -= timedelta(minutes=5)
    db.commit()


def _login(client, phone, pin, code=None, address="127.0.0.1"):
    body = {"phone": phone, "pin": pin} if code is None else {"phone": phone, "pin": pin, "code": code}
    return client.post("/api/v1/auth/login", json=body, environ_base={"REMOTE_ADDR": address})


def test_failures_lead_to_a_step_up_that_answers_alike_for_every_phone(client, sms_gateway, db):
    """Replaces the lockout test: a 429 with unlock_at told who has an account and let anyone lock it."""
    sign_up(client, sms_gateway, PHONE)
    unknown = "+8562055577777"
    for _ in range(5):
        known_answer, unknown_answer = _login(client, PHONE, "000000"), _login(client, unknown, "000000")
        assert known_answer.status_code == unknown_answer.status_code == 401
        assert known_answer.json == unknown_answer.json
    _wait_out_delays(db)
    sent_before = sms_gateway.count_to(PHONE)
    answers = {}
    for name, phone, pin, code in (
        ("right PIN", PHONE, PIN, None),
        ("wrong PIN", PHONE, "000000", None),
        ("unknown phone", unknown, PIN, None),
        ("right PIN, wrong code", PHONE, PIN, "000000"),
    ):
        answers[name] = _login(client, phone, pin, code=code)
        _wait_out_delays(db)
    for name, answer in answers.items():
        assert answer.status_code == 401, name
        assert answer.json == answers["right PIN"].json, name
        assert field_codes(answer.json) == {"code": ["step_up_required"]}
    # only the owner's phone learns that the PIN was right: a step-up code went out for each right PIN
    assert sms_gateway.count_to(PHONE) == sent_before + 2
    text = sms_gateway.messages[-1]["text"]
    assert "sign in" in text and "ເຂົ້າສູ່ລະບົບ" in text
    code = sms_gateway.last_code(PHONE)
    assert _login(client, PHONE, "000000", code=code).status_code == 401  # the code alone is not enough
    _wait_out_delays(db)
    signed_in = _login(client, PHONE, PIN, code=code)
    assert signed_in.status_code == 200, signed_in.json
    assert _login(client, PHONE, PIN).status_code == 200  # failures forgiven once the owner is in


def test_failures_bring_a_short_growing_delay_never_a_lock(client, sms_gateway, db):
    sign_up(client, sms_gateway, PHONE)
    for _ in range(5):
        assert _login(client, PHONE, "000000").status_code == 401
    too_soon = _login(client, PHONE, PIN)
    assert too_soon.status_code == 429 and 1 <= int(too_soon.headers["Retry-After"]) <= 2
    assert "unlock_at" not in str(too_soon.json)
    _wait_out_delays(db)
    assert _login(client, PHONE, "000000").status_code == 401  # a sixth failure: the delay doubles
    assert 2 <= int(_login(client, PHONE, PIN).headers["Retry-After"]) <= 3
    # however many failures pile up from one address, a try from it waits at most LSSO_LOGIN_DELAY_MAX_SECONDS
    db.add_all(
        SignInFailure(client_ip="127.0.0.1", account_key=f"phone:{PHONE}", created_at=datetime.now(UTC))
        for _ in range(40)
    )
    db.commit()
    capped = _login(client, PHONE, PIN)
    assert capped.status_code == 429 and int(capped.headers["Retry-After"]) <= 61
    _wait_out_delays(db)
    _login(client, PHONE, PIN)  # the step-up code is sent
    _wait_out_delays(db)
    assert _login(client, PHONE, PIN, code=sms_gateway.last_code(PHONE)).status_code == 200


def test_an_attacker_elsewhere_never_shuts_the_owner_out(client, sms_gateway, db):
    """An attacker who keeps failing (one wrong PIN each time the delay runs out) delays only their own
    address; the owner, elsewhere, gets in at once with the PIN and the step-up code."""
    sign_up(client, sms_gateway, PHONE)
    attacker = "10.66.0.1"
    for _ in range(8):
        _wait_out_delays(db)
        assert _login(client, PHONE, "000000", address=attacker).status_code == 401
    assert _login(client, PHONE, "000000", address=attacker).status_code == 429  # the attacker waits
    step_up = _login(client, PHONE, PIN)  # the owner, at another address: no delay, a code to the phone
    assert step_up.status_code == 401 and field_codes(step_up.json) == {"code": ["step_up_required"]}
    assert _login(client, PHONE, PIN, code=sms_gateway.last_code(PHONE)).status_code == 200


def test_staff_failures_bring_a_delay_alike_for_unknown_usernames(client, staff, db):
    known, unknown = staff["officer"], "nobody.at.all"
    for _ in range(5):
        answers = [
            client.post("/api/v1/auth/staff/login", json={"username": name, "password": "wrong-password"})
            for name in (known, unknown)
        ]
        assert [a.status_code for a in answers] == [401, 401] and answers[0].json == answers[1].json
    delayed = [
        client.post("/api/v1/auth/staff/login", json={"username": name, "password": STAFF_PASSWORD})
        for name in (known, unknown)
    ]
    assert [a.status_code for a in delayed] == [429, 429] and delayed[0].json == delayed[1].json
    assert delayed[0].headers["Retry-After"] == delayed[1].headers["Retry-After"]
    _wait_out_delays(db)
    assert (
        client.post("/api/v1/auth/staff/login", json={"username": known, "password": STAFF_PASSWORD}).status_code == 200
    )


def test_staff_failures_elsewhere_slow_the_account_only_in_great_numbers(client, staff, db):
    """A staff account has no phone for a step-up: failures from one address delay that address; the account as
    a whole is slowed only when failures from everywhere reach ACCOUNT_WIDE_FACTOR times the threshold."""
    from lsso_mobile.services.accounts import ACCOUNT_WIDE_FACTOR

    officer = staff["officer"]

    def staff_login(password: str, address: str):
        body = {"username": officer, "password": password}
        return client.post("/api/v1/auth/staff/login", json=body, environ_base={"REMOTE_ADDR": address})

    for _ in range(6):
        _wait_out_delays(db)
        assert staff_login("wrong-password", "10.66.0.2").status_code == 401
    assert staff_login("wrong-password", "10.66.0.2").status_code == 429
    assert staff_login(STAFF_PASSWORD, "127.0.0.1").status_code == 200  # the officer at the office is not delayed
    db.add_all(
        SignInFailure(client_ip=f"10.67.0.{i % 250}", account_key=f"staff:{officer}", created_at=datetime.now(UTC))
        for i in range(ACCOUNT_WIDE_FACTOR * 5)
    )
    db.commit()
    assert staff_login(STAFF_PASSWORD, "127.0.0.1").status_code == 429  # distributed guessing: the account slows


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
    code = request_code(client, sms_gateway, PHONE, purpose="pin_reset")
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


@pytest.mark.parametrize(
    "abuser, victim",
    [
        (["10.20.0.1"], "10.20.0.1"),
        # rotating through one IPv6 /64 is one address
        ([f"2001:db8:20:1::{i:x}" for i in range(1, 200)], "2001:db8:20:1:ffff::1"),
    ],
)
def test_failures_from_a_shared_address_never_refuse_a_correct_pin(app, client, sms_gateway, staff, db, abuser, victim):
    """Replaces the per-network 429 test: 50 failures behind a carrier's address refused everyone's right PIN."""
    from lsso_mobile import runtime
    from lsso_mobile.services.housekeeping import prune_expired_auth_rows

    sign_up(client, sms_gateway, PHONE)
    limit = runtime.current().settings.login_failures_per_ip
    # one PIN tried across many numbers from one address: no single account is troubled
    for i in range(limit):
        assert _login(client, f"+85620777{i:05d}", "123456", address=abuser[i % len(abuser)]).status_code == 401
    # everyone on that address now needs the code sent to their phone (the same answer, right PIN or not) ...
    stepped_up = _login(client, PHONE, PIN, address=victim)
    assert stepped_up.status_code == 401 and field_codes(stepped_up.json) == {"code": ["step_up_required"]}
    assert _login(client, f"+85620777{limit:05d}", "123456", address=victim).json == stepped_up.json
    # ... and with it, the right PIN gets in
    code = sms_gateway.last_code(PHONE)
    assert _login(client, PHONE, PIN, code=code, address=victim).status_code == 200
    # staff behind that address: the right password gets in, a wrong one is refused
    right = client.post(
        "/api/v1/auth/staff/login",
        json={"username": staff["officer"], "password": STAFF_PASSWORD},
        environ_base={"REMOTE_ADDR": victim},
    )
    assert right.status_code == 200
    wrong = client.post(
        "/api/v1/auth/staff/login",
        json={"username": staff["ops"], "password": "wrong-password"},
        environ_base={"REMOTE_ADDR": victim},
    )
    assert wrong.status_code == 429 and int(wrong.headers["Retry-After"]) > 0
    # another address is not concerned
    assert _login(client, PHONE, PIN, address="10.1.2.3").status_code == 200
    assert db.scalar(select(func.count()).select_from(SignInFailure)) >= limit
    assert prune_expired_auth_rows(db, utcnow() + timedelta(days=3)) >= limit
