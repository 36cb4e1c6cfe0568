"""Link requests in the console: the menu counts the pending ones, the list and the page show the record to
compare with the ID photo (served by the console), and the decision goes through the same service as the
API (another office's request is a 404; a rejection needs a reason, shown at the field; nothing written)."""

from __future__ import annotations

from sqlalchemy import func, select

from lsso_mobile.models import AuditEvent, LinkRequest, LinkRequestStatus
from tests.api.test_linking import core, load, person_record, upload_photo  # noqa: F401  (core: a fixture)
from tests.console.conftest import console_sign_in, csrf_token, post_form
from tests.messaging_support import member

MEMBER_PHONE = "+8562055592001"


def ask_for_a_link(client, sms_gateway, core, phone: str = MEMBER_PHONE) -> tuple[dict, int]:  # noqa: F811
    load(client, core, person_record())
    headers = member(client, sms_gateway, phone)
    body = {"member_number": "0100123457", "date_of_birth": "1979-06-15"}
    body["id_photo_attachment_id"] = upload_photo(client, headers)
    requested = client.post("/api/v1/me/link-request", json=body, headers=headers)
    assert requested.status_code == 201, requested.json
    return headers, requested.json["id"]


def test_an_officer_checks_the_photo_and_approves(desk, sms_gateway, core, db):  # noqa: F811
    headers, request_id = ask_for_a_link(desk, sms_gateway, core)
    inbox = desk.get("/console/inbox")
    assert 'href="/console/link-requests"' in inbox.text and 'data-count="link-requests">1<' in inbox.text

    listed = desk.get("/console/link-requests")
    assert listed.status_code == 200
    assert "Keo Sisavath" in listed.text and "0100123457" in listed.text and "+85620****2001" in listed.text
    assert desk.get("/console/link-requests?status=approved").text.count("Keo Sisavath") == 0

    page = desk.get(f"/console/link-requests/{request_id}")
    assert page.status_code == 200
    text = page.text
    assert "ນາງ ແກ້ວ ສີສະຫວາດ" in text and "Keo Sisavath" in text and "LA0101777001" in text
    assert "+85620****1001" in text and "2055571001" not in text  # the phone on record, masked
    assert "+85620****2001" in text  # the asking account
    photo_url = f"/console/link-requests/{request_id}/photo"
    assert f'src="{photo_url}"' in text
    photo = desk.get(photo_url)
    assert photo.status_code == 200 and photo.content_type == "image/png"
    assert (
        photo.headers["Cache-Control"] == "private, no-store" and photo.headers["X-Content-Type-Options"] == "nosniff"
    )

    # Rejecting needs a reason: shown at the field, in Lao, and nothing is written.
    refused = post_form(
        desk,
        page_path := f"/console/link-requests/{request_id}",
        f"{page_path}/decision",
        {"decision": "reject", "reason": " "},
    )
    assert refused.status_code == 422
    assert 'id="reason-error"' in refused.text and "ຕ້ອງມີເຫດຜົນເພື່ອປະຕິເສດຄຳຂໍເຊື່ອມບັນຊີ" in refused.text
    db.expire_all()
    assert db.get(LinkRequest, request_id).status is LinkRequestStatus.PENDING
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == 0

    approved = post_form(desk, page_path, f"{page_path}/decision", {"decision": "approve", "reason": ""})
    assert approved.status_code == 302 and approved.headers["Location"].endswith(page_path)
    after = desk.get(page_path)
    assert (
        "0100123457" in after.text
        and "data-decision" in after.text
        and '<form method="post" action="/console/link-requests' not in after.text
    )
    assert "ຄຳຂໍເຊື່ອມບັນຊີ</a>" in after.text  # nothing pending: no count in the menu
    linked = desk.get("/api/v1/me/link", headers=headers)
    assert linked.status_code == 200 and linked.json["method"] == "officer"
    audit = db.scalars(select(AuditEvent)).one()
    assert (audit.action, audit.object_id, audit.client_address) == ("link_request.approve", request_id, "127.0.0.1")

    again = post_form(desk, "/console/link-requests", f"{page_path}/decision", {"decision": "approve"})
    assert again.status_code == 422 and "ຄຳຂໍເຊື່ອມບັນຊີນີ້ໄດ້ຕັດສິນແລ້ວ" in again.text


def test_another_office_sees_nothing_and_a_form_without_its_token_is_refused(client, sms_gateway, core, staff, db):  # noqa: F811
    _, request_id = ask_for_a_link(client, sms_gateway, core)
    assert console_sign_in(client, staff["other_officer"]).status_code == 302
    assert "Keo Sisavath" not in client.get("/console/link-requests?status=all").text
    assert 'data-count="link-requests"' not in client.get("/console/inbox").text
    url = f"/console/link-requests/{request_id}"
    assert client.get(url).status_code == 404
    assert client.get(f"{url}/photo").status_code == 404
    token = csrf_token(client.get("/console/link-requests").text)
    refused = client.post(f"{url}/decision", data={"csrf_token": token, "decision": "approve"})
    assert refused.status_code == 404
    no_token = client.post(f"{url}/decision", data={"decision": "approve"})
    assert no_token.status_code == 400
    db.expire_all()
    assert db.get(LinkRequest, request_id).status is LinkRequestStatus.PENDING


def test_english_and_a_rejection_with_its_reason(desk, sms_gateway, core, staff, db):  # noqa: F811
    headers, request_id = ask_for_a_link(desk, sms_gateway, core)
    page_path = f"/console/link-requests/{request_id}"
    post_form(desk, page_path, "/console/language", {"lang": "en", "next": page_path})
    page = desk.get(page_path)
    assert "Phone on record" in page.text and "Waiting for a check" in page.text and "National ID card" in page.text
    rejected = post_form(
        desk, page_path, f"{page_path}/decision", {"decision": "reject", "reason": "The photo is of someone else."}
    )
    assert rejected.status_code == 302
    shown = desk.get(page_path).text
    assert "The photo is of someone else." in shown and staff["officer"] in shown  # decided by (the name)
    mine = desk.get("/api/v1/me/link-request", headers=headers).json
    assert mine["status"] == "rejected" and mine["reason"] == "The photo is of someone else."
