"""The audit trail: each officer action, through the API, leaves exactly one row naming the officer, the
action, the record and its office, and the caller's address as the limits count it (IPv6 by its /64)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lsso_mobile import runtime
from lsso_mobile.models import ActorKind, AuditEvent, InsuredPerson, StaffUser
from lsso_mobile.services.accounts import Principal, create_integration_client
from lsso_mobile.services.audit import DETAIL_TEXT_CHARS, record_audit
from tests.api.test_linking import load, person_record, upload_photo
from tests.conftest import office_id
from tests.console.conftest import add_claim, member_applies, registered_member
from tests.messaging_support import member, officer, start
from tests.support import bearer

IPV6 = "2001:db8:1:2:3:4:5:6"


@pytest.fixture
def core(client, db):
    created, secret = create_integration_client(db, runtime.current().settings, "LSSO core system")
    db.commit()
    response = client.post("/api/v1/integration/token", json={"client_id": created.client_id, "client_secret": secret})
    return bearer(response.json["access_token"])


def staff_id(db, username: str) -> int:
    return db.scalars(select(StaffUser.id).where(StaffUser.username == username)).one()


def audit_rows(db) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def only_new(db, before: int) -> AuditEvent:
    rows = audit_rows(db)[before:]
    assert len(rows) == 1, [(r.action, r.object_type, r.object_id) for r in rows]
    return rows[0]


def check(row: AuditEvent, db, username: str, action: str, object_type: str, object_id: int, office: str) -> None:
    assert (row.actor_kind, row.actor_staff_id) == (ActorKind.STAFF, staff_id(db, username))
    assert (row.action, row.object_type, row.object_id) == (action, object_type, object_id)
    assert row.office_id == office_id(db, office)
    assert row.created_at is not None


def test_registration_decisions_are_audited(client, sms_gateway, staff, db):
    _, first = member_applies(client, sms_gateway, "+8562055590001", national_id="LA-0101-900001")
    _, second = member_applies(client, sms_gateway, "+8562055590002", national_id="LA-0101-900002")
    desk = officer(client, staff["officer"])
    url = "/api/v1/staff/registrations/{}/decision"

    refused = client.post(url.format(first), json={"decision": "reject"}, headers=desk)  # no reason: nothing done
    assert refused.status_code == 422 and audit_rows(db) == []
    other = client.post(
        url.format(first), json={"decision": "approve"}, headers=officer(client, staff["other_officer"])
    )
    assert other.status_code == 404 and audit_rows(db) == []

    approved = client.post(
        url.format(first), json={"decision": "approve"}, headers=desk, environ_overrides={"REMOTE_ADDR": IPV6}
    )
    assert approved.status_code == 200
    row = only_new(db, 0)
    check(row, db, staff["officer"], "registration.approve", "registration_application", first, "D0101")
    assert row.client_address == "2001:db8:1:2::/64"  # as the limits count it
    assert row.details == {"status": "approved", "member_number": approved.json["member_number"]}

    reason = "Please send a clearer photo of your ID card. " * 10
    sent_back = client.post(url.format(second), json={"decision": "request_info", "reason": reason}, headers=desk)
    assert sent_back.status_code == 200
    row = only_new(db, 1)
    check(row, db, staff["officer"], "registration.request_info", "registration_application", second, "D0101")
    assert row.client_address == "127.0.0.1"
    assert row.details["status"] == "more_info_needed" and len(row.details["reason"]) == DETAIL_TEXT_CHARS
    # A decided application cannot be decided again, and leaves no row.
    assert client.post(url.format(first), json={"decision": "approve"}, headers=desk).status_code == 409
    assert len(audit_rows(db)) == 2


def test_claim_status_changes_by_officers_are_audited_and_imports_are_not(client, sms_gateway, staff, db):
    registered_member(client, sms_gateway, "+8562055590003", staff["officer"])
    before = len(audit_rows(db))  # approving the registration was one
    claim_id = add_claim(db, "+8562055590003")
    desk = officer(client, staff["officer"])
    url = f"/api/v1/staff/claims/{claim_id}/status"
    assert client.post(url, json={"status": "under_review"}, headers=desk).status_code == 200
    row = only_new(db, before)
    check(row, db, staff["officer"], "claim.status", "benefit_claim", claim_id, "D0101")
    assert row.details == {"from": "received", "status": "under_review"}
    # The same status again changes nothing and is not an action.
    assert client.post(url, json={"status": "under_review"}, headers=desk).status_code == 200
    assert len(audit_rows(db)) == before + 1
    # A refused step (back to received) is not either.
    assert client.post(url, json={"status": "received"}, headers=desk).status_code == 409
    approved = client.post(url, json={"status": "approved", "amount_approved": 400_000}, headers=desk)
    assert approved.status_code == 200
    row = only_new(db, before + 1)
    assert row.details == {"from": "under_review", "status": "approved", "amount_approved": 400_000}


def test_conversation_assign_resolve_and_reopen_are_audited(client, sms_gateway, staff, db):
    alice = member(client, sms_gateway, "+8562055590004")
    cid = start(client, alice).json["conversation"]["id"]
    desk = officer(client, staff["officer"])
    url = f"/api/v1/staff/conversations/{cid}"
    assert client.post(f"{url}/assign", json={"assignee": "me"}, headers=desk).status_code == 200
    row = only_new(db, 0)
    check(row, db, staff["officer"], "conversation.assign", "conversation", cid, "D0101")
    assert row.details == {"assignee_id": staff_id(db, staff["officer"])}
    assert client.post(f"{url}/assign", json={"assignee": "me"}, headers=desk).status_code == 200  # no change
    assert len(audit_rows(db)) == 1

    # A reply is a message row with its author: not audited twice.
    reply = client.post(f"{url}/replies", json={"body": "We are checking."}, headers=desk)
    assert reply.status_code == 201 and len(audit_rows(db)) == 1

    assert client.post(f"{url}/resolve", headers=desk).status_code == 200
    row = only_new(db, 1)
    check(row, db, staff["officer"], "conversation.resolve", "conversation", cid, "D0101")
    assert row.details == {"from": "pending", "status": "resolved"}
    assert client.post(f"{url}/resolve", headers=desk).status_code == 200  # already resolved: nothing
    assert len(audit_rows(db)) == 2
    assert client.post(f"{url}/reopen", headers=desk).status_code == 200
    check(only_new(db, 2), db, staff["officer"], "conversation.reopen", "conversation", cid, "D0101")
    # Another office's officer reaches nothing and leaves nothing.
    other = officer(client, staff["other_officer"])
    assert client.post(f"{url}/resolve", headers=other).status_code == 404
    assert len(audit_rows(db)) == 3


def test_link_decisions_and_unlinking_are_audited(client, sms_gateway, core, staff, db):
    load(client, core, person_record(phone=None))
    person_id = db.scalars(select(InsuredPerson.id).where(InsuredPerson.member_number == "0100123457")).one()
    requests = []
    for phone in ("+8562055590005", "+8562055590006"):
        headers = member(client, sms_gateway, phone)
        body = {"member_number": "0100123457", "date_of_birth": "1979-06-15"}
        body["id_photo_attachment_id"] = upload_photo(client, headers)
        requested = client.post("/api/v1/me/link-request", json=body, headers=headers)
        assert requested.status_code == 201, requested.json
        requests.append(requested.json["id"])
    assert audit_rows(db) == []  # the members' requests are not officer actions
    desk = officer(client, staff["officer"])
    url = "/api/v1/staff/link-requests/{}/decision"
    other = officer(client, staff["other_officer"])
    assert client.post(url.format(requests[0]), json={"decision": "approve"}, headers=other).status_code == 404
    assert client.post(url.format(requests[0]), json={"decision": "approve"}, headers=desk).status_code == 200
    row = only_new(db, 0)
    check(row, db, staff["officer"], "link_request.approve", "link_request", requests[0], "D0101")
    assert row.details == {"status": "approved", "member_number": "0100123457"}

    rejected = client.post(
        url.format(requests[1]), json={"decision": "reject", "reason": "Not the same person."}, headers=desk
    )
    assert rejected.status_code == 200
    row = only_new(db, 1)
    check(row, db, staff["officer"], "link_request.reject", "link_request", requests[1], "D0101")
    assert row.details == {"status": "rejected", "reason": "Not the same person.", "member_number": "0100123457"}

    unlinked = client.post(
        "/api/v1/staff/insured-persons/0100123457/unlink", json={"reason": "Reported by the owner."}, headers=desk
    )
    assert unlinked.status_code == 200
    row = only_new(db, 2)
    check(row, db, staff["officer"], "link.unlink", "insured_person", person_id, "D0101")
    assert row.details["reason"] == "Reported by the owner." and row.details["member_number"] == "0100123457"
    assert (
        client.post(
            "/api/v1/staff/insured-persons/0100123457/unlink", json={"reason": "again"}, headers=desk
        ).status_code
        == 409
    )
    assert len(audit_rows(db)) == 3


def test_record_audit_names_the_actor_kind(app, db, staff):
    officer_id = staff_id(db, staff["officer"])
    core = Principal(kind="client", id=1, role="core", office_id=None, session_id="s")
    record_audit(db, core, "claim.status", "benefit_claim", 1)
    record_audit(db, None, "claim.status", "benefit_claim", 1, address="::ffff:10.0.0.7")
    record_audit(db, officer_id, "claim.status", "benefit_claim", 1, details={"reason": None, "status": "paid"})
    db.commit()
    rows = audit_rows(db)
    assert [(r.actor_kind, r.actor_staff_id) for r in rows] == [
        (ActorKind.CORE, None),
        (ActorKind.SYSTEM, None),
        (ActorKind.STAFF, officer_id),
    ]
    assert rows[1].client_address == "10.0.0.7" and rows[2].details == {"status": "paid"}
    member_principal = Principal(kind="member", id=1, role="member", office_id=None, session_id="s")
    with pytest.raises(ValueError):
        record_audit(db, member_principal, "claim.status", "benefit_claim", 1)
