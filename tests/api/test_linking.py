"""Linking an app account to a record of the register, end to end over HTTP: the core system loads the
register; a link is proven by a code sent to the phone on record (never the caller's phone) or by an
officer of the person's office checking an ID-card photo; the person on record is told; guessing is
bounded per record; officers unlink."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from lsso_mobile import runtime
from lsso_mobile.models import (
    Attachment,
    InsuredPerson,
    LinkRequest,
    Member,
    Notification,
    utcnow,
)
from lsso_mobile.services import attachments
from lsso_mobile.services.accounts import create_integration_client
from tests.conftest import STAFF_PASSWORD
from tests.messaging_support import png_bytes
from tests.support import bearer, request_code, sign_up, staff_sign_in, wait_until

OWNER_PHONE = "+8562055571001"  # the phone on record
STRANGER_PHONE = "+8562055571002"


@pytest.fixture
def core(client, db):
    created, secret = create_integration_client(db, runtime.current().settings, "LSSO core system")
    db.commit()
    response = client.post("/api/v1/integration/token", json={"client_id": created.client_id, "client_secret": secret})
    assert response.status_code == 200
    return bearer(response.json["access_token"])


def person_record(**overrides):
    record = {
        "member_number": "0100123457",
        "name_lo": "ນາງ ແກ້ວ ສີສະຫວາດ",
        "name_latin": "Keo Sisavath",
        "date_of_birth": "1979-06-15",
        "sex": "female",
        "national_id": "la-0101 777001",
        "province_code": "01",
        "district_code": "0101",
        "village_code": "01010001",
        "scheme": "compulsory",
        "employer_name": "Lao Textile Co.",
        "employer_registration_no": "ER-0042",
        "phone": "020 5557 1001",
    }
    record.update(overrides)
    return record


def load(client, core, *records):
    response = client.post("/api/v1/integration/insured-persons", json={"records": list(records)}, headers=core)
    assert response.status_code == 200, response.json
    return response.json


def member(client, sms_gateway, phone):
    return bearer(sign_up(client, sms_gateway, phone)["access_token"])


def officer(client, staff, key="officer"):
    return bearer(staff_sign_in(client, staff[key], STAFF_PASSWORD)["access_token"])


def texts_to(gateway, phone):
    return [m["text"] for m in gateway.messages if m["to"] == phone]


def ask_code(client, gateway, headers, number="0100123457", born="1979-06-15", to=OWNER_PHONE):
    before = gateway.count_to(to)
    response = client.post(
        "/api/v1/me/link/code", json={"member_number": number, "date_of_birth": born}, headers=headers
    )
    assert response.status_code == 202, response.json
    wait_until(lambda: gateway.count_to(to) > before, message=f"an SMS to {to}")
    return response.json, gateway.last_code(to)


def link(client, headers, code, number="0100123457", born="1979-06-15"):
    return client.post(
        "/api/v1/me/link", json={"member_number": number, "date_of_birth": born, "code": code}, headers=headers
    )


def test_core_import_then_the_member_links_with_the_code_sent_to_the_phone_on_record(client, sms_gateway, core, db):
    result = load(client, core, person_record())
    assert (result["received"], result["created"], result["rejected"]) == (1, 1, [])
    person = db.scalars(select(InsuredPerson).where(InsuredPerson.member_number == "0100123457")).one()
    assert person.phone == OWNER_PHONE and person.national_id == "LA0101777001" and person.employer_name
    assert load(client, core, person_record())["unchanged"] == 1  # idempotent by member number

    # The owner uses the app from a new phone: the code still goes to the phone on record.
    app_phone = "+8562055571003"
    headers = member(client, sms_gateway, app_phone)
    sent_to_app_phone = sms_gateway.count_to(app_phone)
    answer, code = ask_code(client, sms_gateway, headers)
    assert answer["sent_to"] == "+85620****1001" and answer["expires_in"] > 0
    assert sms_gateway.count_to(app_phone) == sent_to_app_phone  # nothing to the caller's own phone
    assert "****1003" in texts_to(sms_gateway, OWNER_PHONE)[-1]  # the owner sees which account asked

    linked = link(client, headers, code)
    assert linked.status_code == 200, linked.json
    assert linked.json["member_number"] == "0100123457" and linked.json["office"]["code"] == "D0101"
    status = client.get("/api/v1/me/link", headers=headers).json
    assert status["linked_account"] == "+85620****1003" and status["method"] == "code"
    # the person on record is told: a push to the account and an SMS to the phone on record
    app_member = db.scalars(select(Member).where(Member.phone == app_phone)).one()
    assert db.scalar(
        select(Notification.id).where(Notification.member_id == app_member.id, Notification.template == "record_linked")
    )
    wait_until(lambda: "now linked" in texts_to(sms_gateway, OWNER_PHONE)[-1], message="the link notice")
    assert link(client, headers, code).status_code == 409  # the account is linked now


def test_a_stranger_never_gets_a_usable_code_and_the_owner_is_told(client, sms_gateway, core, db):
    load(client, core, person_record())
    stranger = member(client, sms_gateway, STRANGER_PHONE)
    # The old way: a code to the stranger's own phone. It proves nothing and links nothing.
    own_code = request_code(client, sms_gateway, STRANGER_PHONE)
    assert link(client, stranger, own_code).status_code == 400
    # Asking for a link code sends it to the owner's phone only, and the text tells the owner who asked.
    before = sms_gateway.count_to(STRANGER_PHONE)
    _, owner_code = ask_code(client, sms_gateway, stranger)
    assert sms_gateway.count_to(STRANGER_PHONE) == before
    warning = texts_to(sms_gateway, OWNER_PHONE)[-1]
    assert "****1002" in warning and "do not share" in warning
    for guess in ("000000", "123456"):
        if guess != owner_code:
            assert link(client, stranger, guess).status_code == 400
    assert db.scalars(select(Member).where(Member.phone == STRANGER_PHONE)).one().insured_person_id is None

    # A code is bound to the account that asked: the owner's own account cannot use the stranger's code...
    owner = member(client, sms_gateway, OWNER_PHONE)
    assert link(client, owner, owner_code).status_code == 400
    # ...and the owner links with a code of their own.
    _, code = ask_code(client, sms_gateway, owner)
    assert link(client, owner, code).status_code == 200
    # Now the stranger learns only that the record is taken, and by which (masked) account, after proof.
    _, late = ask_code(client, sms_gateway, stranger)
    taken = link(client, stranger, late)
    assert taken.status_code == 409 and taken.json["error"] == "record_already_linked"
    assert taken.json["params"]["linked_account"] == "+85620****1001"


def test_guessing_is_bounded_per_record_not_per_account(client, sms_gateway, core):
    load(client, core, person_record(), person_record(member_number="0100123465", national_id="LA0101777002"))
    wrong = 0
    for i in range(3):  # three accounts, two wrong birth dates each
        headers = member(client, sms_gateway, f"+85620555720{i:02d}")
        for day in range(2):
            born = (date(1979, 6, 1) + timedelta(days=i * 2 + day)).isoformat()
            response = client.post(
                "/api/v1/me/link/code", json={"member_number": "0100123457", "date_of_birth": born}, headers=headers
            )
            wrong += 1
            assert response.status_code == (404 if wrong <= 5 else 429), (wrong, response.json)
    assert response.headers["Retry-After"]
    # The right birth date is refused for a while too, from a fresh account; the owner is not flooded.
    fresh = member(client, sms_gateway, "+8562055572099")
    right = client.post(
        "/api/v1/me/link/code", json={"member_number": "0100123457", "date_of_birth": "1979-06-15"}, headers=fresh
    )
    assert right.status_code == 429
    assert sms_gateway.count_to(OWNER_PHONE) == 0
    # Another record is not affected.
    ask_code(client, sms_gateway, fresh, number="0100123465")


def test_wrong_codes_count_against_the_record_and_codes_per_record_are_bounded(client, sms_gateway, core):
    load(client, core, person_record())
    headers = member(client, sms_gateway, STRANGER_PHONE)
    for _ in range(3):  # LSSO_LINK_CODES_PER_RECORD
        _, code = ask_code(client, sms_gateway, headers)
    flooded = client.post(
        "/api/v1/me/link/code", json={"member_number": "0100123457", "date_of_birth": "1979-06-15"}, headers=headers
    )
    assert flooded.status_code == 429 and sms_gateway.count_to(OWNER_PHONE) == 3
    wrong_code = "000000" if code != "000000" else "111111"
    statuses = [link(client, headers, wrong_code).status_code for _ in range(6)]
    assert statuses == [400, 400, 400, 400, 400, 429]  # 5 failures per record, then refused
    assert link(client, headers, code).status_code == 429  # even the right code, for a while


def upload_photo(client, headers, data=None):
    upload = {"file": (io.BytesIO(data or png_bytes(noise=True)), "id-card.png", "image/png")}
    response = client.post(
        "/api/v1/conversations/attachments", data=upload, content_type="multipart/form-data", headers=headers
    )
    assert response.status_code == 201, response.json
    return response.json["id"]


def test_a_person_without_a_phone_on_record_links_through_an_officer(client, sms_gateway, core, staff, db):
    load(client, core, person_record(phone=None))
    headers = member(client, sms_gateway, STRANGER_PHONE)
    body = {"member_number": "0100123457", "date_of_birth": "1979-06-15"}
    no_phone = client.post("/api/v1/me/link/code", json=body, headers=headers)
    assert no_phone.status_code == 409 and no_phone.json["error"] == "no_phone_on_record"

    photo = png_bytes(width=5, height=4, noise=True)
    photo_id = upload_photo(client, headers, photo)
    wrong_birth = client.post(
        "/api/v1/me/link-request",
        json={**body, "date_of_birth": "1979-06-16", "id_photo_attachment_id": photo_id},
        headers=headers,
    )
    assert wrong_birth.status_code == 404
    requested = client.post(
        "/api/v1/me/link-request", json={**body, "id_photo_attachment_id": photo_id}, headers=headers
    )
    assert requested.status_code == 201, requested.json
    request_id = requested.json["id"]
    assert requested.json["status"] == "pending"
    again = client.post("/api/v1/me/link-request", json={**body, "id_photo_attachment_id": photo_id}, headers=headers)
    assert again.status_code == 409
    assert client.get("/api/v1/me/link-request", headers=headers).json["status"] == "pending"

    # The other office sees nothing of it.
    other = officer(client, staff, "other_officer")
    assert client.get("/api/v1/staff/link-requests", headers=other).json["items"] == []
    for path in (f"/api/v1/staff/link-requests/{request_id}", f"/api/v1/staff/link-requests/{request_id}/photo"):
        assert client.get(path, headers=other).status_code == 404
    refused = client.post(
        f"/api/v1/staff/link-requests/{request_id}/decision", json={"decision": "approve"}, headers=other
    )
    assert refused.status_code == 404

    # The officer of the person's office compares the photo with the record, and approves.
    mine = officer(client, staff)
    listed = client.get("/api/v1/staff/link-requests?status=pending", headers=mine).json["items"]
    assert [r["id"] for r in listed] == [request_id]
    assert listed[0]["record"]["name_latin"] == "Keo Sisavath" and listed[0]["record"]["has_phone_on_record"] is False
    assert listed[0]["account_phone"] == "+85620****1002"
    image = client.get(listed[0]["photo_url"], headers=mine)
    assert image.status_code == 200 and image.content_type == "image/png"
    assert _pixels(image.data) == _pixels(photo)  # stored re-encoded (metadata dropped), the picture the same
    no_reason = client.post(
        f"/api/v1/staff/link-requests/{request_id}/decision", json={"decision": "reject"}, headers=mine
    )
    assert no_reason.status_code == 422
    approved = client.post(
        f"/api/v1/staff/link-requests/{request_id}/decision", json={"decision": "approve"}, headers=mine
    )
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    assert client.get("/api/v1/me", headers=headers).json["member_number"] == "0100123457"
    assert client.get("/api/v1/me/link-request", headers=headers).json["status"] == "approved"
    assert client.get("/api/v1/me/link", headers=headers).json["method"] == "officer"

    # The photo is kept with the request, even after unsent uploads are purged.
    with runtime.current().db.unit_of_work() as session:
        attachments.purge_unsent_uploads(session, runtime.current().settings, utcnow() + timedelta(days=30))
    assert db.get(Attachment, photo_id) is not None
    assert client.get(listed[0]["photo_url"], headers=mine).status_code == 200


def test_a_rejected_request_tells_the_member_why(client, sms_gateway, core, staff, db):
    load(client, core, person_record())  # with a phone on record: the owner is told of the request
    headers = member(client, sms_gateway, STRANGER_PHONE)
    body = {"member_number": "0100123457", "date_of_birth": "1979-06-15", "id_photo_attachment_id": 0}
    body["id_photo_attachment_id"] = upload_photo(client, headers)
    request_id = client.post("/api/v1/me/link-request", json=body, headers=headers).json["id"]
    wait_until(lambda: texts_to(sms_gateway, OWNER_PHONE), message="the notice to the phone on record")
    assert "asked your office to link" in texts_to(sms_gateway, OWNER_PHONE)[-1]
    rejected = client.post(
        f"/api/v1/staff/link-requests/{request_id}/decision",
        json={"decision": "reject", "reason": "The photo is not of this person."},
        headers=officer(client, staff),
    )
    assert rejected.status_code == 200
    mine = client.get("/api/v1/me/link-request", headers=headers).json
    assert mine["status"] == "rejected" and mine["reason"] == "The photo is not of this person."
    assert db.get(LinkRequest, request_id).decided_by is not None
    assert client.get("/api/v1/me", headers=headers).json["member_number"] is None


def test_officers_of_the_office_unlink_and_the_history_is_kept(client, sms_gateway, core, staff, db):
    load(client, core, person_record())
    stranger = member(client, sms_gateway, STRANGER_PHONE)
    _, code = ask_code(client, sms_gateway, stranger)
    assert link(client, stranger, code).status_code == 200  # say the owner read the code out on the phone
    url = "/api/v1/staff/insured-persons/0100123457"
    other = officer(client, staff, "other_officer")
    assert client.get(f"{url}/links", headers=other).status_code == 404
    assert client.post(f"{url}/unlink", json={"reason": "x"}, headers=other).status_code == 404

    mine = officer(client, staff)
    assert client.get(f"{url}/links", headers=mine).json["linked_account"] == "+85620****1002"
    unlinked = client.post(f"{url}/unlink", json={"reason": "The owner reported a stranger's link."}, headers=mine)
    assert unlinked.status_code == 200, unlinked.json
    assert unlinked.json["linked_account"] is None
    assert [(e["action"], e["method"], e["by_staff"]) for e in unlinked.json["history"]] == [
        ("linked", "code", False),
        ("unlinked", "staff", True),
    ]
    assert client.post(f"{url}/unlink", json={"reason": "again"}, headers=mine).status_code == 409
    assert client.get("/api/v1/me", headers=stranger).json["member_number"] is None
    stranger_id = db.scalars(select(Member.id).where(Member.phone == STRANGER_PHONE)).one()
    assert db.scalar(
        select(Notification.id).where(Notification.member_id == stranger_id, Notification.template == "record_unlinked")
    )
    # The owner links now.
    owner = member(client, sms_gateway, OWNER_PHONE)
    _, code = ask_code(client, sms_gateway, owner)
    assert link(client, owner, code).status_code == 200


def test_the_register_import_reports_bad_records_by_line_in_json_and_csv(client, core, db):
    result = load(
        client,
        core,
        person_record(),
        person_record(member_number="0100123465", phone="+66 81 234 5678"),  # not a Lao mobile
        person_record(member_number="0100123473", national_id="LA 0101-777001"),  # the first one's ID
        person_record(member_number="0100123481", national_id="LA0101777011", district_code="1601"),  # not in 01
        person_record(member_number="0100123457", national_id="LA0101777009"),  # twice in this import
        person_record(member_number="0100123499", national_id="LA0101777010", office_code="NOPE"),
        person_record(member_number="0100123507", national_id="LA0101777012", name_lo="ນາງ\x00"),  # NUL
    )
    assert result["created"] == 1
    errors = {r["line"]: r["errors"] for r in result["rejected"]}
    assert set(errors) == {2, 3, 4, 5, 6, 7}
    assert "phone" in errors[2] and "national_id" in errors[3] and "district_code" in errors[4]
    assert "member_number" in errors[5] and "office_code" in errors[6] and "name_lo" in errors[7]
    # A national ID insured under another member number already (normalised before comparing).
    held = load(client, core, person_record(member_number="0100123515", national_id="la0101-777 001"))
    assert held["created"] == 0 and held["rejected"][0]["errors"] == {
        "national_id": ["already insured under member number 0100123457"]
    }

    header = "member_number,name_lo,name_latin,date_of_birth,sex,national_id,province_code,district_code,scheme,phone"
    csv_text = "\n".join(
        [
            header,
            "0100123457,ນາງ ແກ້ວ,Keo Sisavath,1979-06-15,female,LA0101777001,01,0101,compulsory,02055579999",
            "1600000017,ທ້າວ ຄຳ,Kham,1980-02-03,male,LA1601000001,16,1601,voluntary,",
            "1600000025,ທ້າວ ບຸນ,Boun,2090-01-01,male,LA1601000002,16,1601,voluntary,",
        ]
    )
    response = client.post("/api/v1/integration/insured-persons", data=csv_text, content_type="text/csv", headers=core)
    assert response.status_code == 200, response.json
    assert (response.json["updated"], response.json["created"]) == (1, 1)
    assert [r["line"] for r in response.json["rejected"]] == [4]  # born in the future
    updated = db.scalars(select(InsuredPerson).where(InsuredPerson.member_number == "0100123457")).one()
    assert updated.phone == "+8562055579999"
    kham = db.scalars(select(InsuredPerson).where(InsuredPerson.member_number == "1600000017")).one()
    assert kham.phone is None and kham.district_code == "1601"


def _pixels(data: bytes) -> tuple:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as picture:
        return picture.size, picture.convert("RGB").tobytes()


def test_registering_and_a_link_request_never_give_one_account_two_records(client, sms_gateway, core, staff, db):
    """A pending link request blocks registering; an application approved after the account was linked meanwhile is
    refused (the account would otherwise move to a second record, and its first owner was told it was linked)."""
    from lsso_mobile.models import Member
    from tests.support import application_form

    load(client, core, person_record(phone=None))
    headers = member(client, sms_gateway, STRANGER_PHONE)
    body = {"member_number": "0100123457", "date_of_birth": "1979-06-15"}
    photo_id = upload_photo(client, headers, png_bytes(width=5, height=4, noise=True))
    assert (
        client.post("/api/v1/me/link-request", json={**body, "id_photo_attachment_id": photo_id}, headers=headers)
    ).status_code == 201
    blocked = client.post("/api/v1/me/registration", json=application_form(), headers=headers)
    assert blocked.status_code == 409 and blocked.json["error"] == "link_request_pending"

    # Another account applies, and is linked by other means before its application is decided.
    other = member(client, sms_gateway, "+8562055571003")
    applied = client.post("/api/v1/me/registration", json=application_form(national_id="LA-0101-424242"), headers=other)
    assert applied.status_code == 201, applied.json
    account = db.scalars(select(Member).where(Member.phone == "+8562055571003")).one()
    account.insured_person_id = db.scalars(select(InsuredPerson.id)).first()
    db.commit()
    decided = client.post(
        f"/api/v1/staff/registrations/{applied.json['id']}/decision",
        json={"decision": "approve"},
        headers=officer(client, staff),
    )
    assert decided.status_code == 409 and decided.json["error"] == "account_already_linked"
    db.expire_all()
    assert db.get(Member, account.id).insured_person_id == db.scalars(select(InsuredPerson.id)).first()


def test_register_text_follows_the_apis_rules(client, core, db):
    """A compromised core client cannot plant names that mislead staff: bidi overrides, zero-width and control
    characters refuse the record (by its line); text is stored in NFC."""
    result = load(
        client,
        core,
        person_record(member_number="0100123457", name_latin="Keo \u202eSisavath"),
        person_record(member_number="0100123465", name_lo="ນາງ\u200bແກ້ວ", national_id="LA 0101 777002"),
        person_record(member_number="0100123473", employer_name="Lao\nTextile", national_id="LA 0101 777003"),
        person_record(member_number="0100123481", name_latin="Ke\u0301o", national_id="LA 0101 777004"),
    )
    refused = {r["line"]: r for r in result["rejected"]}
    assert set(refused) == {1, 2, 3}, result
    assert "name_latin" in refused[1]["errors"] and "name_lo" in refused[2]["errors"]
    assert "employer_name" in refused[3]["errors"]
    stored = db.scalars(select(InsuredPerson).where(InsuredPerson.member_number == "0100123481")).one()
    assert stored.name_latin == "K\u00e9o"  # NFC


def test_officer_check_requests_cannot_flood_the_owners_phone(client, sms_gateway, core):
    """Each request for an officer's check is an SMS to the phone on record: bounded per record, like codes."""
    load(client, core, person_record())
    body = {"member_number": "0100123457", "date_of_birth": "1979-06-15"}
    answers = []
    for i in range(4):
        headers = member(client, sms_gateway, f"+85620555720{i:02d}")
        photo_id = upload_photo(client, headers, png_bytes(width=5, height=4, noise=True))
        answers.append(
            client.post("/api/v1/me/link-request", json={**body, "id_photo_attachment_id": photo_id}, headers=headers)
        )
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert len(texts_to(sms_gateway, OWNER_PHONE)) == 3
