"""Field registration and the member card, end to end over HTTP (the app behind a real HTTP server).

A promoter uploads the day's photos and a batch of 20 registrations twice (the second time changes nothing), three
people confirm with the code their phone received, one person with no phone is attested by an officer, the office
approves them, each gets a member number and a card; a verifier holding only the published keys (and the
revocation list) checks a card with the service stopped, the online verify agrees, and a revoked card fails both.
Promoters of another district, members and officers of another office are refused.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import cbor2
import pytest
import requests
from cwt import COSE, COSEKey
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

from lsso_mobile import runtime as runtime_module
from lsso_mobile.models import AuditEvent, RegistrationApplication, StaffRole
from lsso_mobile.services.accounts import create_integration_client, create_staff_user
from lsso_mobile.services.card_tokens import CardInvalid, CardVerifier, b45decode, b45encode
from tests.conftest import STAFF_PASSWORD
from tests.messaging_support import png_bytes
from tests.support import SmsGateway, application_form, bearer, wait_until

DAILY_LIMIT = 21  # the batch of 20 and one more fit; the next is refused


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, object]) -> dict[str, object]:
    return {**settings_overrides, "promoter_daily_registrations": DAILY_LIMIT}


@contextmanager
def served(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


class Api:
    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = bearer(token) if token else {}
        return self.http.request(method, self.base + path, headers=headers, timeout=30, **kwargs)

    def staff_token(self, username: str) -> str:
        body = {"username": username, "password": STAFF_PASSWORD}
        response = self.call("POST", "/api/v1/auth/staff/login", json=body)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]


def phone_of(i: int) -> str:
    return f"+85620{77000000 + i}"


def record(i: int, *, phone: str | None, district: str = "0101") -> dict[str, Any]:
    form = application_form(
        national_id=f"LA-FIELD-{i:04d}",
        name_lo="ນາງ ສົມສະໜຸກ ພົງສະຫວັນ ວົງສະຫວັນປັນຍາ",
        name_latin=f"Somsanouk Phongsavanh {i}",
    )
    if district != "0101":
        form.update(province_code="16", district_code=district, village_code=None)
    return {**form, "device_record_id": f"rec-{i:03d}", "phone": phone, "photo_ids": [f"ph-{i:03d}"]}


def independent_offline_check(token: str, jwks: dict[str, Any], revoked: list[str]) -> dict[int, Any]:
    """A verifier written against the published format only: Base45, zlib, COSE_Sign1 with the kid in the
    protected header, the public key from the JWK set. No call to the service."""
    assert token.startswith("LC1:")
    raw = b45decode(token[4:])
    signed = zlib.decompress(raw) if raw[:1] == b"\x78" else raw  # zlib unless that made the card larger
    protected = cbor2.loads(cbor2.loads(signed).value[0])
    kid = protected[4].hex()
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    key = COSEKey.from_jwk({**jwk, "kid": bytes.fromhex(kid)})
    claims = cbor2.loads(COSE.new().decode(signed, key))  # raises if the signature is wrong
    assert claims[4] > datetime.now(UTC).timestamp()
    if claims[7].hex() in revoked:
        raise CardInvalid("revoked")
    return claims


def test_field_registration_to_verified_card(app: Flask, db: Any, staff: dict[str, str], sms_gateway: SmsGateway):
    settings = runtime_module.current().settings
    create_staff_user(
        db, settings, "promoter.a", STAFF_PASSWORD, StaffRole.PROMOTER, "Promoter A", None, district_code="0101"
    )
    create_staff_user(
        db, settings, "promoter.b", STAFF_PASSWORD, StaffRole.PROMOTER, "Promoter B", None, district_code="1601"
    )
    partner_client, partner_secret = create_integration_client(db, settings, "Clinic network")
    partner_client_id = partner_client.client_id
    db.commit()

    with served(app) as base:
        api = Api(base)
        promoter = api.staff_token("promoter.a")
        other_promoter = api.staff_token("promoter.b")
        officer = api.staff_token(staff["officer"])
        other_officer = api.staff_token(staff["other_officer"])

        # Photos first, one request each; a resend stores nothing twice, another file under the same id is a 409.
        for i in range(21):
            files = {"file": (f"id-{i}.png", png_bytes(4 + i, 3), "image/png")}
            response = api.call("PUT", f"/api/v1/field/uploads/ph-{i:03d}", promoter, files=files)
            assert response.status_code == 200, response.text
            assert response.json()["created"] is True
        again = api.call("PUT", "/api/v1/field/uploads/ph-000", promoter, files={"file": ("a.png", png_bytes(4, 3))})
        assert again.status_code == 200 and again.json()["created"] is False
        other = {"file": ("b.png", png_bytes(9, 9))}
        other_file = api.call("PUT", "/api/v1/field/uploads/ph-000", promoter, files=other)
        assert other_file.status_code == 409 and other_file.json()["error"] == "photo_id_reused"

        # The batch: 19 people with a phone, one with none.
        batch = {"records": [record(i, phone=phone_of(i) if i < 19 else None) for i in range(20)]}
        first = api.call("POST", "/api/v1/field/registrations/batch", promoter, json=batch)
        assert first.status_code == 200, first.text
        assert (first.json()["created"], first.json()["rejected"]) == (20, 0), first.json()["results"][:2]
        ids = [r["application_id"] for r in first.json()["results"]]
        assert all(r["status"] == "awaiting_confirmation" for r in first.json()["results"])
        wait_until(lambda: sum(1 for m in sms_gateway.messages if m["to"].startswith("+8562077")) == 19)
        sms_before = len(sms_gateway.messages)

        second = api.call("POST", "/api/v1/field/registrations/batch", promoter, json=batch)
        assert second.status_code == 200
        assert (second.json()["created"], second.json()["already_received"]) == (0, 20)
        assert [r["application_id"] for r in second.json()["results"]] == ids
        db.expire_all()
        assert db.scalar(select(func.count()).select_from(RegistrationApplication)) == 20
        assert len(sms_gateway.messages) == sms_before  # no new codes

        # Partial success: one good record, one whose photo was never uploaded, one outside the district.
        mixed = {
            "records": [
                {**record(21, phone=phone_of(21)), "photo_ids": ["ph-missing"]},
                {**record(22, phone=phone_of(22), district="1601"), "photo_ids": ["ph-020"]},
                record(20, phone=phone_of(20)),
            ]
        }
        response = api.call("POST", "/api/v1/field/registrations/batch", promoter, json=mixed)
        results = response.json()["results"]
        assert [r["outcome"] for r in results] == ["rejected", "rejected", "created"]
        assert results[0]["error"] == "photo_not_uploaded" and results[1]["error"] == "outside_your_district"
        # The daily limit (21 here) is reached: the next record is refused, the others were kept.
        one_more = {"records": [record(23, phone=None)]}
        over = api.call("POST", "/api/v1/field/registrations/batch", promoter, json=one_more)
        assert over.json()["results"][0]["error"] == "daily_limit_reached"

        # Three people confirm with their code: one from their own phone, two through the registrar.
        wrong = api.call("POST", "/api/v1/field/confirmations", json={"phone": phone_of(0), "code": "000000"})
        if sms_gateway.last_code(phone_of(0)) != "000000":
            assert wrong.status_code == 422 and wrong.json()["error"] == "wrong_code"
        response = api.call(
            "POST",
            "/api/v1/field/confirmations",
            json={"phone": phone_of(0), "code": sms_gateway.last_code(phone_of(0))},
        )
        assert response.status_code == 200 and response.json() == {"application_id": ids[0], "status": "submitted"}
        for i in (1, 2):
            path = f"/api/v1/field/registrations/{ids[i]}/confirm"
            code = sms_gateway.last_code(phone_of(i))
            assert api.call("POST", path, other_promoter, json={"code": code}).status_code == 404
            assert api.call("POST", path, other_officer, json={"code": code}).status_code == 404
            response = api.call("POST", path, promoter, json={"code": code})
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "submitted"

        # The person with no phone is attested in person by an officer of the office (not by the promoter).
        attest_path = f"/api/v1/field/registrations/{ids[19]}/attest"
        note = {"note": "Met at the village meeting; family book checked."}
        assert api.call("POST", attest_path, promoter, json=note).status_code == 403
        assert api.call("POST", attest_path, other_officer, json=note).status_code == 404
        response = api.call("POST", attest_path, officer, json=note)
        assert response.status_code == 200 and response.json()["status"] == "submitted"

        # The reviewing officer sees who registered whom, and the photos.
        shown = api.call("GET", f"/api/v1/staff/registrations/{ids[0]}", officer).json()
        assert (shown["registered_by_name"], shown["registered_by_role"]) == ("Promoter A", "promoter")
        assert shown["confirmation"] == "code"
        field_view = api.call("GET", f"/api/v1/field/registrations/{ids[19]}", officer).json()
        assert field_view["confirmation"] == "officer" and field_view["phone"] is None
        photo_path = f"/api/v1/field/photos/{field_view['photo_ids'][0]}"
        photo = api.call("GET", photo_path, officer)
        assert photo.status_code == 200 and photo.headers["Content-Type"] == "image/png"
        assert api.call("GET", photo_path, other_officer).status_code == 404
        assert api.call("GET", photo_path, other_promoter).status_code == 404

        # Promoters see only the people they registered.
        mine = api.call("GET", "/api/v1/field/registrations?limit=100", promoter).json()["items"]
        assert len(mine) == 21
        assert api.call("GET", "/api/v1/field/registrations", other_promoter).json()["items"] == []
        assert api.call("GET", f"/api/v1/field/registrations/{ids[0]}", other_promoter).status_code == 404
        awaiting = api.call("GET", "/api/v1/field/registrations?status=awaiting_confirmation&limit=100", promoter)
        assert len(awaiting.json()["items"]) == 17

        # The office approves the four confirmed people; an unconfirmed application cannot be decided.
        numbers = []
        for i in (0, 1, 2, 19):
            response = api.call(
                "POST", f"/api/v1/staff/registrations/{ids[i]}/decision", officer, json={"decision": "approve"}
            )
            assert response.status_code == 200, response.text
            numbers.append(response.json()["member_number"])
        unconfirmed = api.call(
            "POST", f"/api/v1/staff/registrations/{ids[3]}/decision", officer, json={"decision": "approve"}
        )
        assert unconfirmed.status_code == 409
        promoter_view = api.call("GET", f"/api/v1/field/registrations/{ids[0]}", promoter).json()
        assert promoter_view["status"] == "approved" and promoter_view["member_number"] == numbers[0]

        # Each gets a card.
        cards = {}
        for number in numbers:
            response = api.call("GET", f"/api/v1/staff/insured-persons/{number}/card", officer)
            assert response.status_code == 200, response.text
            cards[number] = response.json()
            assert cards[number]["status"] == "active" and cards[number]["paid_to"] is None
            assert api.call("GET", f"/api/v1/staff/insured-persons/{number}/card", other_officer).status_code == 404
        again_card = api.call("GET", f"/api/v1/staff/insured-persons/{numbers[0]}/card", officer).json()
        assert again_card["card_id"] == cards[numbers[0]]["card_id"]  # nothing changed: the same card
        pdf = api.call("GET", f"/api/v1/staff/insured-persons/{numbers[0]}/card.pdf", officer)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

        # What a verifier downloads while online.
        jwks = api.call("GET", "/api/v1/cards/keys").json()
        revoked = api.call("GET", "/api/v1/cards/revoked").json()["revoked"]
        assert revoked == []

    # The service is stopped: the verifier checks every card with what it downloaded.
    with pytest.raises(requests.ConnectionError):
        requests.get(base + "/api/v1/cards/keys", timeout=2)
    verifier = CardVerifier(jwks)
    for number, card in cards.items():
        claims = verifier.verify(card["token"], datetime.now(UTC), set(revoked))
        assert (claims.member_number, claims.status, claims.name_lo) == (number, "active", card["name_lo"])
        independent = independent_offline_check(card["token"], jwks, revoked)
        assert independent[-65537][1] == number
    # A card whose signed content was changed (another member number) fails.
    raw = b45decode(cards[numbers[0]]["token"][4:])
    signed = cbor2.loads(zlib.decompress(raw) if raw[:1] == b"\x78" else raw)
    claims = cbor2.loads(signed.value[2])
    claims[-65537][1] = numbers[1]
    signed.value[2] = cbor2.dumps(claims)
    forged = "LC1:" + b45encode(zlib.compress(cbor2.dumps(signed)))
    with pytest.raises(CardInvalid, match="bad_signature"):
        verifier.verify(forged, datetime.now(UTC))

    with served(app) as base:
        api = Api(base)
        officer = api.staff_token(staff["officer"])
        other_promoter = api.staff_token("promoter.b")
        partner = api.call(
            "POST",
            "/api/v1/integration/token",
            json={"client_id": partner_client_id, "client_secret": partner_secret},
        ).json()["access_token"]
        token = cards[numbers[1]]["token"]

        # Online verify agrees (staff and a partner); the photo on file is offered.
        for who in (officer, partner, other_promoter):
            result = api.call("POST", "/api/v1/cards/verify", who, json={"token": token}).json()
            assert result["genuine"] is True and result["member_number"] == numbers[1]
            assert result["status"] == "active" and result["superseded"] is False
        photo_url = result["photo_url"]
        assert api.call("GET", photo_url, partner).status_code == 200
        member = _member_token(api, sms_gateway)
        assert api.call("POST", "/api/v1/cards/verify", member, json={"token": token}).status_code == 403

        # Lost: the officer revokes it and a new card is issued.
        revoke_path = f"/api/v1/staff/insured-persons/{numbers[1]}/card/revoke"
        elsewhere = api.staff_token(staff["other_officer"])
        assert api.call("POST", revoke_path, elsewhere, json={"reason": "x"}).status_code == 404
        response = api.call("POST", revoke_path, officer, json={"reason": "Reported lost at the village meeting."})
        assert response.status_code == 200
        new_token = response.json()["token"]
        assert response.json()["card_id"] != cards[numbers[1]]["card_id"]
        revoked = api.call("GET", "/api/v1/cards/revoked").json()["revoked"]
        assert revoked == [cards[numbers[1]]["card_id"]]
        online_old = api.call("POST", "/api/v1/cards/verify", officer, json={"token": token}).json()
        assert (online_old["genuine"], online_old["reason"]) == (False, "revoked")
        online_new = api.call("POST", "/api/v1/cards/verify", officer, json={"token": new_token}).json()
        assert online_new["genuine"] is True
        garbage = api.call("POST", "/api/v1/cards/verify", officer, json={"token": "LC1:NOT A CARD"}).json()
        assert (garbage["genuine"], garbage["reason"]) == (False, "malformed")

    # Offline, with the refreshed list: the old card fails, the new one passes.
    with pytest.raises(CardInvalid, match="revoked"):
        verifier.verify(token, datetime.now(UTC), set(revoked))
    with pytest.raises(CardInvalid, match="revoked"):
        independent_offline_check(token, jwks, revoked)
    assert verifier.verify(new_token, datetime.now(UTC), set(revoked)).member_number == numbers[1]

    # Every registrar and officer action is in the audit trail.
    db.expire_all()
    actions = dict(
        db.execute(select(AuditEvent.action, func.count()).group_by(AuditEvent.action)).all()  # type: ignore[arg-type]
    )
    assert actions["field_registration.create"] == 21
    assert actions["field_photo.upload"] == 21
    assert actions["field_registration.confirm"] == 3
    assert actions["field_registration.attest"] == 1
    assert actions["registration.approve"] == 4
    assert actions["card.revoke"] == 1


def _member_token(api: Api, gateway: SmsGateway) -> str:
    phone = "+8562055550999"
    before = gateway.count_to(phone)
    assert api.call("POST", "/api/v1/auth/otp", json={"phone": phone}).status_code == 202
    wait_until(lambda: gateway.count_to(phone) > before)
    response = api.call(
        "POST", "/api/v1/auth/signup", json={"phone": phone, "code": gateway.last_code(phone), "pin": "135790"}
    )
    assert response.status_code == 201, response.text
    return response.json()["access_token"]
