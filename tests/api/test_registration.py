"""Registration for social security over HTTP: apply, review, decide, correct, and who may see what."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from lsso_mobile.models import InsuredPerson, Notification, RegistrationApplication
from tests.conftest import STAFF_PASSWORD
from tests.support import application_form, bearer, field_codes, sign_up, staff_sign_in


def _member(client, sms_gateway, phone="+8562055510001", language="lo"):
    return bearer(sign_up(client, sms_gateway, phone, language)["access_token"])


def _officer(client, staff, key="officer"):
    return bearer(staff_sign_in(client, staff[key], STAFF_PASSWORD)["access_token"])


def test_whole_flow_sign_up_apply_send_back_correct_approve(client, sms_gateway, staff, db):
    member = _member(client, sms_gateway, language="en")
    applied = client.post("/api/v1/me/registration", json=application_form(village_code=None), headers=member)
    assert applied.status_code == 201, applied.json
    application_id = applied.json["id"]
    assert applied.json["status"] == "submitted" and applied.json["member_number"] is None

    officer = _officer(client, staff)
    listed = client.get("/api/v1/staff/registrations?status=submitted", headers=officer)
    assert [a["id"] for a in listed.json["items"]] == [application_id]

    sent_back = client.post(
        f"/api/v1/staff/registrations/{application_id}/decision",
        json={"decision": "request_info", "reason": "Please add your village."},
        headers=officer,
    )
    assert sent_back.status_code == 200 and sent_back.json["status"] == "more_info_needed"
    mine = client.get("/api/v1/me/registration", headers=member).json
    assert mine["status"] == "more_info_needed"
    assert mine["history"][-1]["reason"] == "Please add your village."

    corrected = client.put("/api/v1/me/registration", json=application_form(), headers=member)
    assert corrected.status_code == 200 and corrected.json["status"] == "submitted"
    assert corrected.json["village_code"] == "01010001"

    approved = client.post(
        f"/api/v1/staff/registrations/{application_id}/decision", json={"decision": "approve"}, headers=officer
    )
    assert approved.status_code == 200
    number = approved.json["member_number"]
    assert number.startswith("01") and len(number) == 10
    assert [event["status"] for event in approved.json["history"]] == [
        "submitted",
        "more_info_needed",
        "submitted",
        "approved",
    ]

    profile = client.get("/api/v1/me", headers=member).json
    assert profile["member_number"] == number and profile["registration_status"] == "approved"
    assert profile["office"]["code"] == "D0101"
    # the member was told of both decisions, in their language, in the inbox
    notices = db.scalars(select(Notification).order_by(Notification.id)).all()
    assert [n.template for n in notices] == [
        "registration_received",
        "registration_more_info",
        "registration_received",
        "registration_approved",
    ]
    inbox = client.get("/api/v1/me/notifications", headers=member).json
    assert inbox["items"][0]["title"] == "Your social security registration is approved"
    assert number in inbox["items"][0]["body"]
    assert inbox["items"][-1]["body"] == (
        "The Chanthabouly District Social Security Office will review it and let you know."
    )
    assert inbox["unread_count"] == 4


def test_rejection_needs_a_reason_and_is_final(client, sms_gateway, staff):
    member = _member(client, sms_gateway)
    application_id = client.post("/api/v1/me/registration", json=application_form(), headers=member).json["id"]
    officer = _officer(client, staff)
    url = f"/api/v1/staff/registrations/{application_id}/decision"
    no_reason = client.post(url, json={"decision": "reject"}, headers=officer)
    assert no_reason.status_code == 422 and "reason" in no_reason.json["errors"]
    rejected = client.post(url, json={"decision": "reject", "reason": "Duplicate person"}, headers=officer)
    assert rejected.status_code == 200
    assert client.post(url, json={"decision": "approve"}, headers=officer).status_code == 409
    assert client.put("/api/v1/me/registration", json=application_form(), headers=member).status_code == 409


def test_member_numbers_are_unique(client, sms_gateway, staff, db):
    officer = _officer(client, staff)
    numbers = []
    for i in range(3):
        member = _member(client, sms_gateway, phone=f"+85620555200{i:02d}")
        form = application_form(national_id=f"LA-0101-12345{i}")  # one person, one ID
        application_id = client.post("/api/v1/me/registration", json=form, headers=member).json["id"]
        decided = client.post(
            f"/api/v1/staff/registrations/{application_id}/decision", json={"decision": "approve"}, headers=officer
        )
        numbers.append(decided.json["member_number"])
    assert len(set(numbers)) == 3
    assert db.scalar(select(func.count()).select_from(InsuredPerson)) == 3


def test_a_member_sees_only_their_own_application(client, sms_gateway):
    member_a = _member(client, sms_gateway, phone="+8562055510001")
    member_b = _member(client, sms_gateway, phone="+8562055510002")
    client.post("/api/v1/me/registration", json=application_form(), headers=member_a)
    assert client.get("/api/v1/me/registration", headers=member_b).status_code == 404
    assert client.put("/api/v1/me/registration", json=application_form(), headers=member_b).status_code == 404
    # the staff routes are not reachable with a member token at all
    assert client.get("/api/v1/staff/registrations", headers=member_b).status_code == 403


def test_an_officer_of_another_office_can_neither_see_nor_decide(client, sms_gateway, staff, db):
    member = _member(client, sms_gateway)
    application_id = client.post("/api/v1/me/registration", json=application_form(), headers=member).json["id"]
    other = _officer(client, staff, "other_officer")
    assert client.get("/api/v1/staff/registrations", headers=other).json["items"] == []
    assert client.get(f"/api/v1/staff/registrations/{application_id}", headers=other).status_code == 404
    decided = client.post(
        f"/api/v1/staff/registrations/{application_id}/decision", json={"decision": "approve"}, headers=other
    )
    assert decided.status_code == 404
    assert db.get(RegistrationApplication, application_id).status.value == "submitted"
    ops = bearer(staff_sign_in(client, staff["ops"], STAFF_PASSWORD)["access_token"])
    assert client.get(f"/api/v1/staff/registrations/{application_id}", headers=ops).status_code == 403


def test_district_without_office_goes_to_the_provincial_office(client, sms_gateway, staff):
    member = _member(client, sms_gateway)
    applied = client.post(
        "/api/v1/me/registration", json=application_form(district_code="0103", village_code="01030001"), headers=member
    )
    assert applied.status_code == 201
    officer = _officer(client, staff)  # Chanthabouly district office: not theirs
    assert client.get(f"/api/v1/staff/registrations/{applied.json['id']}", headers=officer).status_code == 404


def test_staff_list_pages_with_a_cursor(client, sms_gateway, staff):
    for i in range(5):
        member = _member(client, sms_gateway, phone=f"+85620555300{i:02d}")
        client.post("/api/v1/me/registration", json=application_form(), headers=member)
    officer = _officer(client, staff)
    first = client.get("/api/v1/staff/registrations?limit=2", headers=officer).json
    second = client.get(f"/api/v1/staff/registrations?limit=2&cursor={first['next_cursor']}", headers=officer).json
    third = client.get(f"/api/v1/staff/registrations?limit=2&cursor={second['next_cursor']}", headers=officer).json
    ids = [a["id"] for a in first["items"] + second["items"] + third["items"]]
    assert len(ids) == 5 == len(set(ids)) and ids == sorted(ids)
    assert third["next_cursor"] is None
    bad = client.get("/api/v1/staff/registrations?cursor=%%%", headers=officer)
    assert bad.status_code == 422
    too_big = client.get("/api/v1/staff/registrations?limit=1000", headers=officer)
    assert too_big.status_code == 422


def _count(db):
    return db.scalar(select(func.count()).select_from(RegistrationApplication))


def test_bad_applications_are_refused_and_nothing_is_written(client, sms_gateway, db):
    member = _member(client, sms_gateway)
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    cases = {
        "future birth date": application_form(date_of_birth=tomorrow),
        "too young": application_form(date_of_birth=(date.today() - timedelta(days=365 * 10)).isoformat()),
        "no consent": application_form(consent=False),
        "unknown field": {**application_form(), "is_admin": True},
        "negative income": application_form(declared_monthly_income=-5),
        "float income": application_form(declared_monthly_income=2500.5),
        "district of another province": application_form(district_code="1601", village_code=None),
        "unknown village": application_form(village_code="01019999"),
        "bad sex": application_form(sex="x"),
        "missing name": {k: v for k, v in application_form().items() if k != "name_lo"},
    }
    for name, body in cases.items():
        response = client.post("/api/v1/me/registration", json=body, headers=member)
        assert response.status_code == 422, name
        assert response.json["code"] == 422 and response.json["status"] == "Unprocessable Entity", name
        assert response.json.get("errors"), name
    assert _count(db) == 0


def test_second_application_while_one_is_open_is_a_conflict(client, sms_gateway, db):
    member = _member(client, sms_gateway)
    assert client.post("/api/v1/me/registration", json=application_form(), headers=member).status_code == 201
    assert client.post("/api/v1/me/registration", json=application_form(), headers=member).status_code == 409
    assert _count(db) == 1


def _approve(client, officer, application_id):
    return client.post(
        f"/api/v1/staff/registrations/{application_id}/decision", json={"decision": "approve"}, headers=officer
    )


def test_member_numbers_are_random_with_a_check_digit_not_a_sequence(client, sms_gateway, staff):
    from lsso_mobile.services.identity import is_valid_member_number

    officer = _officer(client, staff)
    numbers = []
    for i in range(6):
        member = _member(client, sms_gateway, phone=f"+85620555600{i:02d}")
        form = application_form(national_id=f"LA-0101-60000{i}")
        application_id = client.post("/api/v1/me/registration", json=form, headers=member).json["id"]
        numbers.append(_approve(client, officer, application_id).json["member_number"])
    assert all(len(n) == 10 and n.startswith("01") and is_valid_member_number(n) for n in numbers), numbers
    # Consecutive approvals do not give neighbouring numbers (the old numbers were province code + row id).
    gaps = [abs(int(b) - int(a)) for a, b in zip(numbers, numbers[1:], strict=False)]
    assert all(gap > 10 for gap in gaps), numbers


def test_the_check_digit_catches_a_mistyped_digit():
    from lsso_mobile.services.identity import is_valid_member_number, luhn_check_digit

    body = "012345678"
    number = body + luhn_check_digit(body)
    assert is_valid_member_number(number)
    for position in range(10):
        typo = number[:position] + str((int(number[position]) + 3) % 10) + number[position + 1 :]
        assert not is_valid_member_number(typo)


def test_an_id_already_insured_is_refused_with_a_stable_code(client, sms_gateway, staff):
    officer = _officer(client, staff)
    first = _member(client, sms_gateway, phone="+8562055561001")
    application_id = client.post(
        "/api/v1/me/registration", json=application_form(national_id="LA-0101-555555"), headers=first
    ).json["id"]
    assert _approve(client, officer, application_id).status_code == 200
    # The same card written another way: spaces, dashes, lower case.
    second = _member(client, sms_gateway, phone="+8562055561002")
    again = client.post("/api/v1/me/registration", json=application_form(national_id="la 0101 555555"), headers=second)
    assert again.status_code == 409 and again.json["error"] == "national_id_already_insured"
    assert field_codes(again.json) == {"national_id": ["already_insured"]}
    # A family-book number is a household's: another person of the household may register with it.
    book = application_form(national_id="FB-0101-42", id_type="family_book")
    assert client.post("/api/v1/me/registration", json=book, headers=second).status_code == 201


def test_pending_applications_with_the_same_id_are_flagged_and_the_second_approval_is_refused(
    client, sms_gateway, staff, db
):
    officer = _officer(client, staff)
    ids = []
    for i, written in enumerate(("LA-0101-777777", "la0101 777777")):
        member = _member(client, sms_gateway, phone=f"+856205556200{i}")
        applied = client.post("/api/v1/me/registration", json=application_form(national_id=written), headers=member)
        assert applied.status_code == 201 and applied.json["national_id"] == "LA0101777777"
        assert "id_matches" not in applied.json  # for staff only
        ids.append(applied.json["id"])
    other = _member(client, sms_gateway, phone="+8562055562009")
    unrelated = client.post(
        "/api/v1/me/registration", json=application_form(national_id="LA-0101-888888"), headers=other
    ).json["id"]
    listed = {
        a["id"]: a["id_matches"] for a in client.get("/api/v1/staff/registrations", headers=officer).json["items"]
    }
    assert listed == {ids[0]: [ids[1]], ids[1]: [ids[0]], unrelated: []}
    assert client.get(f"/api/v1/staff/registrations/{ids[0]}", headers=officer).json["id_matches"] == [ids[1]]

    assert _approve(client, officer, ids[0]).status_code == 200
    refused = _approve(client, officer, ids[1])
    assert refused.status_code == 409 and refused.json["error"] == "national_id_already_insured"
    assert db.get(RegistrationApplication, ids[1]).status.value == "submitted"  # the officer rejects it instead
    assert db.scalar(select(func.count()).select_from(InsuredPerson)) == 1


def test_the_database_keeps_one_insured_person_per_national_id(db):
    import pytest
    from sqlalchemy.exc import IntegrityError

    from lsso_mobile.models import IdType, Office, Scheme, Sex

    office = db.scalars(select(Office).where(Office.code == "P01")).one()

    def person(number, national_id, id_type=IdType.NATIONAL_ID):
        return InsuredPerson(
            member_number=number,
            name_lo="ທ",
            name_latin="T",
            date_of_birth=date(1990, 1, 1),
            sex=Sex.MALE,
            national_id=national_id,
            id_type=id_type,
            scheme=Scheme.VOLUNTARY,
            office_id=office.id,
            province_code="01",
        )

    db.add_all([person("0100000001", "FB1", IdType.FAMILY_BOOK), person("0100000002", "FB1", IdType.FAMILY_BOOK)])
    db.add(person("0100000003", "LA1"))
    db.commit()  # a family book is shared; a national ID once
    db.add(person("0100000004", "LA1"))
    with pytest.raises(IntegrityError):
        db.commit()
    db.rollback()
