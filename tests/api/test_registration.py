"""Registration for social security over HTTP: apply, review, decide, correct, and who may see what."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from lsso_mobile.models import InsuredPerson, Notification, RegistrationApplication
from tests.conftest import STAFF_PASSWORD
from tests.support import application_form, bearer, sign_up, staff_sign_in


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
