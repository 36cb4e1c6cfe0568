"""The ops pages with Flask's test client: who gets in, the composer (errors at the field, nothing written),
the audience counts and phone preview partials, four eyes, rejection with a note, withdrawal with a
confirmation, results by province, and the report pages with their charts and CSV."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import func, select, update

from lsso_mobile import runtime
from lsso_mobile.models import Broadcast, BroadcastStatus, Member, StaffRole
from lsso_mobile.notify.delivery import PUSH_BODY_MAX_CHARS, PUSH_TITLE_MAX_CHARS, clip_push_text
from lsso_mobile.services.accounts import create_staff_user
from tests.conftest import STAFF_PASSWORD, office_id
from tests.console.conftest import console_sign_in, csrf_token
from tests.support import bearer, sign_up

OPS2 = "ops.second"


@pytest.fixture
def settings_overrides(fcm_server):
    return {"push_backend": "fcm", "fcm_endpoint": fcm_server.url, "fcm_project_id": "lsso-test"}


@pytest.fixture
def fcm_server():
    from tests.fakes.fcm import FakeFcmServer

    server = FakeFcmServer().start()
    yield server
    server.stop()


@pytest.fixture
def second_ops(app, db):
    create_staff_user(db, runtime.current().settings, OPS2, STAFF_PASSWORD, StaffRole.OPS, "Second ops", None)
    db.commit()
    return OPS2


def member_in(client, sms_gateway, db, phone, token, office_code, language="lo"):
    headers = bearer(sign_up(client, sms_gateway, phone, language=language)["access_token"])
    device = {"token": token, "platform": "android", "app_version": "1.0"}
    assert client.post("/api/v1/me/devices", json=device, headers=headers).status_code == 201
    db.execute(update(Member).where(Member.phone == phone).values(office_id=office_id(db, office_code)))
    db.commit()
    return headers


NOTICE = {
    "title_lo": "ຫ້ອງການປິດ",
    "body_lo": "ຫ້ອງການປິດວັນຈັນ",
    "title_en": "Office closed",
    "body_en": "The office is closed on Monday",
    "category": "news",
    "timing": "now",
}


def compose(client, action="submit", **fields):
    page = client.get("/console/broadcasts/new")
    assert page.status_code == 200, page.text
    data = {**NOTICE, **fields, "action": action, "csrf_token": csrf_token(page.text)}
    return client.post("/console/broadcasts/new", data=data)


def broadcast_id_of(response) -> int:
    assert response.status_code == 302, response.text
    return int(re.search(r"/console/broadcasts/(\d+)$", response.headers["Location"]).group(1))


def post_button(client, broadcast_id, action, **data):
    page = client.get(f"/console/broadcasts/{broadcast_id}")
    return client.post(
        f"/console/broadcasts/{broadcast_id}/{action}", data={"csrf_token": csrf_token(page.text), **data}
    )


def test_who_gets_into_the_ops_pages(app, client, staff):
    response = console_sign_in(client, staff["ops"])
    assert response.headers["Location"].endswith("/console/broadcasts")
    assert client.get("/console/broadcasts").status_code == 200
    assert client.get("/console/inbox").status_code == 403
    client.cookie_jar.clear() if hasattr(client, "cookie_jar") else None

    officer = app.test_client()
    console_sign_in(officer, staff["officer"])
    refused = officer.get("/console/broadcasts/new")
    assert refused.status_code == 403 and "ບໍ່ແມ່ນສຳລັບບັນຊີຂອງທ່ານ" in refused.text
    assert officer.get("/console/reports").status_code == 403

    admin = app.test_client()
    assert console_sign_in(admin, staff["admin"]).headers["Location"].endswith("/console/admin/staff")
    assert admin.get("/console/broadcasts").status_code == 200  # reads the history
    assert admin.get("/console/broadcasts/new").status_code == 403  # writes nothing
    assert app.test_client().get("/console/broadcasts").status_code == 302  # signed out: to the sign-in


def test_bad_input_is_shown_at_its_field_and_nothing_is_written(client, staff, db):
    console_sign_in(client, staff["ops"])
    response = compose(client, title_lo="", timing="at", send_at="", districts="9999")
    assert response.status_code == 422
    assert 'id="title_lo-error"' in response.text and 'id="send_at-error"' in response.text
    response = compose(client, districts="9999")  # unknown district: the service refuses it
    assert response.status_code == 422 and 'id="provinces-error"' in response.text
    response = compose(client, title_en="Bad \u202eexe.pdf")
    assert response.status_code == 422 and 'id="title_en-error"' in response.text
    assert db.scalar(select(func.count()).select_from(Broadcast)) == 0


def test_audience_counts_and_phone_preview_follow_the_composer(client, staff, sms_gateway, db):
    member_in(client, sms_gateway, db, "+8562055591001", "tok-ops-console-device-0101-a", "D0101")
    member_in(client, sms_gateway, db, "+8562055591002", "tok-ops-console-device-0101-b", "D0101")
    member_in(client, sms_gateway, db, "+8562055591003", "tok-ops-console-device-1601-a", "D1601")
    console_sign_in(client, staff["ops"])
    token = csrf_token(client.get("/console/broadcasts/new").text)
    headers = {"HX-Request": "true", "X-CSRFToken": token}
    everyone = client.post("/console/broadcasts/compose/audience", data={}, headers=headers)
    assert re.search(r"data-audience-members>3<", everyone.text) and re.search(
        r"data-audience-devices>3<", everyone.text
    )
    district = client.post("/console/broadcasts/compose/audience", data={"districts": "0101"}, headers=headers)
    assert re.search(r"data-audience-members>2<", district.text), district.text
    both = client.post("/console/broadcasts/compose/audience", data={"districts": ["0101", "1601"]}, headers=headers)
    assert re.search(r"data-audience-members>3<", both.text)
    arrears = client.post(
        "/console/broadcasts/compose/audience", data={"districts": "0101", "in_arrears": "y"}, headers=headers
    )
    assert re.search(r"data-audience-members>0<", arrears.text)

    long_lo = "ສະບາຍດີ " * 80
    phone = client.post(
        "/console/broadcasts/compose/phone",
        data={"title_lo": "ແຈ້ງການ", "body_lo": long_lo, "title_en": "Notice", "body_en": "Short"},
        headers=headers,
    )
    assert phone.status_code == 200 and "data-clipped" in phone.text
    sent = clip_push_text("ແຈ້ງການ", long_lo)
    assert sent.body_clipped and f"{sent.body}</p>" in phone.text


def test_the_clipping_rule_keeps_lao_letters_whole():
    title = "ກ" * (PUSH_TITLE_MAX_CHARS - 2) + "ຫ້ອງ"  # a consonant, then a tone mark across the limit
    clipped = clip_push_text(title, "ສັ້ນ")
    assert clipped.title_clipped and not clipped.body_clipped and clipped.body == "ສັ້ນ"
    assert len(clipped.title) <= PUSH_TITLE_MAX_CHARS and clipped.title.endswith("…")
    assert not re.search("[\u0eb1\u0eb4-\u0ebc\u0ec8-\u0ecd]…", clipped.title)  # no mark left before the ellipsis
    assert clip_push_text("t", "x" * PUSH_BODY_MAX_CHARS).body_clipped is False
    assert len(clip_push_text("t", "x" * (PUSH_BODY_MAX_CHARS + 1)).body) == PUSH_BODY_MAX_CHARS


def test_four_eyes_rejection_approval_results_and_withdrawal(
    app, client, staff, second_ops, sms_gateway, db, fcm_server
):
    member_in(client, sms_gateway, db, "+8562055592001", "tok-ops-console-device-four-a", "D0101")
    member_in(client, sms_gateway, db, "+8562055592002", "tok-ops-console-device-four-b", "D0101", language="en")
    member_in(client, sms_gateway, db, "+8562055592003", "tok-ops-console-device-four-c", "D1601")
    console_sign_in(client, staff["ops"])
    broadcast_id = broadcast_id_of(compose(client, districts="0101"))
    assert db.get(Broadcast, broadcast_id).status is BroadcastStatus.AWAITING_APPROVAL

    # The author cannot approve (the service refuses; the page says so) nor see approve buttons.
    detail = client.get(f"/console/broadcasts/{broadcast_id}")
    assert "data-approve" not in detail.text
    refused = post_button(client, broadcast_id, "approve")
    assert refused.status_code == 302
    assert "ຕ້ອງໄດ້ຮັບການອະນຸມັດ" in client.get(f"/console/broadcasts/{broadcast_id}").text
    db.expire_all()
    assert db.get(Broadcast, broadcast_id).status is BroadcastStatus.AWAITING_APPROVAL

    reviewer = app.test_client()
    console_sign_in(reviewer, second_ops)
    queue = reviewer.get("/console/broadcasts/approvals")
    assert f'data-approval="{broadcast_id}"' in queue.text and "ຫ້ອງການປິດວັນຈັນ" in queue.text
    size = reviewer.get(f"/console/broadcasts/{broadcast_id}/audience-size")
    assert re.search(r"data-audience-members>2<", size.text) and re.search(r"data-audience-devices>2<", size.text)
    assert post_button(reviewer, broadcast_id, "reject", note="").status_code == 422  # a note is required
    assert post_button(reviewer, broadcast_id, "reject", note="Say which Monday.").status_code == 302
    db.expire_all()
    assert db.get(Broadcast, broadcast_id).status is BroadcastStatus.DRAFT
    history = client.get(f"/console/broadcasts/{broadcast_id}").text
    assert "Say which Monday." in history and "Second ops" in history

    # The author changes the draft and submits it again; the reviewer approves; jobs run in-process here.
    edit = client.get(f"/console/broadcasts/{broadcast_id}/edit")
    assert 'value="0101" id="district-0101" checked' in edit.text
    data = {**NOTICE, "body_lo": "ຫ້ອງການປິດວັນຈັນທີ 7", "districts": "0101", "action": "submit"}
    changed = client.post(
        f"/console/broadcasts/{broadcast_id}/edit", data={**data, "csrf_token": csrf_token(edit.text)}
    )
    assert changed.status_code == 302
    assert post_button(reviewer, broadcast_id, "approve").status_code == 302
    db.expire_all()
    broadcast = db.get(Broadcast, broadcast_id)
    assert broadcast.status is BroadcastStatus.SENT and broadcast.approved_by is not None
    assert fcm_server.counts_by_token() == {"tok-ops-console-device-four-a": 1, "tok-ops-console-device-four-b": 1}
    results = reviewer.get(f"/console/broadcasts/{broadcast_id}/progress")
    assert 'data-total="sent">2<' in results.text and "<svg" in results.text and "hx-trigger" not in results.text

    # Withdrawing needs the confirmation box.
    assert post_button(reviewer, broadcast_id, "withdraw").status_code == 422
    assert post_button(reviewer, broadcast_id, "withdraw", confirm="y").status_code == 302
    db.expire_all()
    assert db.get(Broadcast, broadcast_id).status is BroadcastStatus.WITHDRAWN
    listing = client.get("/console/broadcasts")
    assert "ຖອນຄືນແລ້ວ" in listing.text and "Second ops" in listing.text


def test_report_pages_draw_charts_and_export_csv(client, staff, sms_gateway, db):
    from tests.console.conftest import member_applies

    member_applies(client, sms_gateway, "+8562055593001")
    console_sign_in(client, staff["ops"])
    index = client.get("/console/reports")
    assert index.status_code == 200
    for name in ("registrations", "first-responses", "response-times", "overdue", "pushes", "broadcast-reach"):
        page = client.get(f"/console/reports/{name}")
        assert page.status_code == 200, name
        assert "<svg" in page.text and "style=" not in page.text, name
        exported = client.get(f"/console/reports/{name}/export.csv")
        assert exported.status_code == 200 and exported.mimetype == "text/csv"
        assert "attachment" in exported.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(client.get("/console/reports/registrations/export.csv").text.lstrip("\ufeff"))))
    assert rows[0] == ["week", "province_code", "province", "submitted", "approved"]
    assert len(rows) == 2 and rows[1][1] == "01" and rows[1][3] == "1"
    bad = client.get("/console/reports/pushes?first=2026-01-10&last=2026-01-01")
    assert bad.status_code == 422 and 'class="error"' in bad.text
    assert client.get("/console/reports/pushes?first=2024-01-01&last=2026-01-01").status_code == 422
    assert client.get("/console/reports/nothing").status_code == 404
