"""The officer's name, not a bare id, wherever a member or a colleague sees a decision or a message from
the office: registration and claim history, link requests, conversation messages and the assignee."""

from __future__ import annotations

from sqlalchemy import select

from lsso_mobile.models import StaffUser
from tests.api.test_linking import core, load, person_record, upload_photo  # noqa: F401  (core: a fixture)
from tests.console.conftest import add_claim, member_applies, registered_member
from tests.messaging_support import member, officer, start

OFFICER_NAME = "ນາງ ມະນີວອນ Manivone"


def name_the_officer(db, username: str, name: str = OFFICER_NAME) -> None:
    db.scalars(select(StaffUser).where(StaffUser.username == username)).one().display_name = name
    db.commit()


def test_registration_and_claim_history_name_the_deciding_officer(client, sms_gateway, staff, db):
    name_the_officer(db, staff["officer"])
    headers, application_id = member_applies(client, sms_gateway, "+8562055591001", national_id="LA-0101-910001")
    desk = officer(client, staff["officer"])
    sent_back = client.post(
        f"/api/v1/staff/registrations/{application_id}/decision",
        json={"decision": "request_info", "reason": "Photo unclear"},
        headers=desk,
    )
    assert sent_back.status_code == 200
    assert [(e["status"], e["decided_by_name"]) for e in sent_back.json["history"]] == [
        ("submitted", None),
        ("more_info_needed", OFFICER_NAME),
    ]
    mine = client.get("/api/v1/me/registration", headers=headers).json
    assert mine["history"][-1]["decided_by_name"] == OFFICER_NAME and mine["history"][-1]["decided_by_staff"] is True

    bob = registered_member(client, sms_gateway, "+8562055591002", staff["officer"], national_id="LA-0101-910002")
    claim_id = add_claim(db, "+8562055591002")
    changed = client.post(f"/api/v1/staff/claims/{claim_id}/status", json={"status": "under_review"}, headers=desk)
    assert changed.status_code == 200
    history = client.get("/api/v1/me/claims", headers=bob).json[0]["history"]
    assert [(h["status"], h["decided_by_name"]) for h in history] == [("under_review", OFFICER_NAME)]


def test_messages_and_the_assignee_carry_the_officer_name(client, sms_gateway, staff, db):
    name_the_officer(db, staff["officer"])
    name_the_officer(db, staff["other_officer"], "   ")  # no display name: the username shows
    alice = member(client, sms_gateway, "+8562055591003")
    cid = start(client, alice).json["conversation"]["id"]
    desk = officer(client, staff["officer"])
    replied = client.post(f"/api/v1/staff/conversations/{cid}/replies", json={"body": "We are on it."}, headers=desk)
    assert replied.status_code == 201
    assert replied.json["message"]["author_name"] == OFFICER_NAME
    assert replied.json["conversation"]["assignee_name"] == OFFICER_NAME  # a reply assigns the conversation

    thread = client.get(f"/api/v1/conversations/{cid}/messages", headers=alice).json["items"]
    assert [(m["author"], m["author_name"]) for m in thread] == [("staff", OFFICER_NAME), ("member", None)]
    staff_thread = client.get(f"/api/v1/staff/conversations/{cid}/messages", headers=desk).json
    assert staff_thread["conversation"]["assignee_name"] == OFFICER_NAME
    assert [m["author_name"] for m in staff_thread["items"]] == [OFFICER_NAME, None]
    inbox = client.get("/api/v1/staff/conversations?status=pending", headers=desk).json["items"]
    assert [c["assignee_name"] for c in inbox] == [OFFICER_NAME]
    assert "assignee_name" not in client.get(f"/api/v1/conversations/{cid}", headers=alice).json

    other = officer(client, staff["other_officer"])
    bob_cid = start(client, member(client, sms_gateway, "+8562055591004"), office_code="D1601").json["conversation"]
    assigned = client.post(
        f"/api/v1/staff/conversations/{bob_cid['id']}/assign", json={"assignee": "me"}, headers=other
    )
    assert assigned.json["assignee_name"] == staff["other_officer"]


def test_link_requests_and_link_history_name_the_officer(client, sms_gateway, core, staff, db):  # noqa: F811
    name_the_officer(db, staff["officer"])
    load(client, core, person_record(phone=None))
    headers = member(client, sms_gateway, "+8562055591005")
    body = {"member_number": "0100123457", "date_of_birth": "1979-06-15"}
    body["id_photo_attachment_id"] = upload_photo(client, headers)
    request_id = client.post("/api/v1/me/link-request", json=body, headers=headers).json["id"]
    assert client.get("/api/v1/me/link-request", headers=headers).json["decided_by_name"] is None
    desk = officer(client, staff["officer"])
    decided = client.post(
        f"/api/v1/staff/link-requests/{request_id}/decision", json={"decision": "approve"}, headers=desk
    )
    assert decided.json["decided_by_name"] == OFFICER_NAME
    assert client.get("/api/v1/me/link-request", headers=headers).json["decided_by_name"] == OFFICER_NAME
    history = client.get("/api/v1/staff/insured-persons/0100123457/links", headers=desk).json["history"]
    assert [(e["method"], e["staff_name"]) for e in history] == [("officer", OFFICER_NAME)]
