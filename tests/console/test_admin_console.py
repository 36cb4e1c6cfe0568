"""The admin pages of the console with Flask's test client: who may open them, staff accounts (create with a
temporary password that must be changed first, disable signs the user out at once), the second factor set up
and used to sign in, rule forms with validation and their history, the audit log and its CSV."""

from __future__ import annotations

import re
import time

import pyotp
from sqlalchemy import func, select

from lsso_mobile.models import RuleChange, SchemeRule, StaffUser
from tests.conftest import STAFF_PASSWORD
from tests.console.conftest import console_sign_in, csrf_token, post_form


def staff_id(db, username: str) -> int:
    return db.scalar(select(StaffUser.id).where(StaffUser.username == username))


def test_only_admins_open_the_admin_pages(client, app, staff):
    for who, status in (("officer", 403), ("ops", 403)):
        other = app.test_client()
        console_sign_in(other, staff[who])
        for path in (
            "/console/admin/staff",
            "/console/admin/audit",
            "/console/admin/rules",
            "/console/admin/audit.csv",
        ):
            assert other.get(path).status_code == status, (who, path)
        assert other.get("/console/account").status_code == 200  # everyone has their own account page
    response = console_sign_in(client, staff["admin"])
    assert response.headers["Location"].endswith("/console/admin/staff")
    page = client.get("/console/admin/staff")
    assert page.status_code == 200 and staff["officer"] in page.text and "/console/admin/audit" in page.text
    assert "style=" not in page.text and "<script>" not in page.text


def test_a_new_account_must_change_its_temporary_password_first(client, app, staff, db):
    console_sign_in(client, staff["admin"])
    created = post_form(
        client,
        "/console/admin/staff/new",
        "/console/admin/staff/new",
        {"username": "officer.new", "display_name": "Noy", "role": "officer", "office_code": "D0101"},
    )
    assert created.status_code == 200
    temporary = re.search(r"data-temporary-password>([a-z0-9]{12})<", created.text).group(1)
    no_office = post_form(
        client,
        "/console/admin/staff/new",
        "/console/admin/staff/new",
        {"username": "officer.two", "display_name": "X", "role": "officer", "office_code": ""},
    )
    assert no_office.status_code == 422 and "ພະນັກງານຕ້ອງສັງກັດຫ້ອງການໃດໜຶ່ງ" in no_office.text
    assert staff_id(db, "officer.two") is None

    newcomer = app.test_client()
    signed_in = console_sign_in(newcomer, "officer.new", temporary)
    assert signed_in.status_code == 302
    inbox = newcomer.get("/console/inbox")
    assert inbox.status_code == 302 and inbox.headers["Location"].endswith("/console/account")
    polled = newcomer.get("/console/inbox", headers={"HX-Request": "true"})
    assert polled.status_code == 403 and polled.headers["HX-Redirect"] == "/console/account"
    account = newcomer.get("/console/account")
    assert "ລະຫັດຜ່ານຂອງທ່ານຖືກຕັ້ງໃໝ່" in account.text
    differ = newcomer.post(
        "/console/account/password",
        data={
            "csrf_token": csrf_token(account.text),
            "current_password": temporary,
            "new_password": "my-own-password-1",
            "repeat": "my-own-password-2",
        },
    )
    assert differ.status_code == 422 and "ລະຫັດຜ່ານໃໝ່ທັງສອງບໍ່ຄືກັນ" in differ.text
    changed = newcomer.post(
        "/console/account/password",
        data={
            "csrf_token": csrf_token(account.text),
            "current_password": temporary,
            "new_password": "my-own-password-1",
            "repeat": "my-own-password-1",
        },
    )
    assert changed.status_code == 302
    assert newcomer.get("/console/inbox").status_code == 200


def test_disabling_signs_the_officer_out_of_the_console_at_once(client, app, staff, db):
    desk = app.test_client()
    console_sign_in(desk, staff["officer"])
    assert desk.get("/console/inbox").status_code == 200
    console_sign_in(client, staff["admin"])
    target = staff_id(db, staff["officer"])
    page = f"/console/admin/staff/{target}"
    done = post_form(client, page, f"/console/admin/staff/{target}/disable", {})
    assert done.status_code == 302
    refused = desk.get("/console/inbox")
    assert refused.status_code == 302 and "/console/login" in refused.headers["Location"]
    assert "ປິດໃຊ້ງານແລ້ວ" in client.get(page).text
    # an admin cannot disable themselves: the button is not there, and the route refuses
    own = staff_id(db, staff["admin"])
    assert f"/console/admin/staff/{own}/disable" not in client.get(f"/console/admin/staff/{own}").text
    refused_own = post_form(client, f"/console/admin/staff/{own}", f"/console/admin/staff/{own}/disable", {})
    assert refused_own.status_code == 302
    db.expire_all()
    assert db.get(StaffUser, own).active is True


def test_second_factor_set_up_and_sign_in_in_the_console(client, app, staff, db, settings):
    console_sign_in(client, staff["ops"])
    account = client.get("/console/account")
    begun = client.post("/console/account/second-factor", data={"csrf_token": csrf_token(account.text)})
    assert begun.status_code == 302
    page = client.get("/console/account")
    assert "<svg" in page.text and "data-qr" in page.text
    secret = re.search(r"data-totp-secret>([A-Z2-7]+)<", page.text).group(1)
    wrong = client.post(
        "/console/account/second-factor/confirm", data={"csrf_token": csrf_token(page.text), "code": "123456"}
    )
    assert wrong.status_code == 422 and "ລະຫັດຈາກແອັບຢືນຢັນຕົວຕົນບໍ່ຖືກຕ້ອງ" in wrong.text
    confirmed = client.post(
        "/console/account/second-factor/confirm",
        data={"csrf_token": csrf_token(page.text), "code": pyotp.TOTP(secret).now()},
    )
    assert confirmed.status_code == 302

    other = app.test_client()
    without = console_sign_in(other, staff["ops"])
    assert without.status_code == 401 and 'id="totp_code-error"' in without.text
    login = other.get("/console/login")
    code = pyotp.TOTP(secret).at(int(time.time()) + 30)  # the next step: the last one is used up
    with_code = other.post(
        "/console/login",
        data={
            "username": staff["ops"],
            "password": STAFF_PASSWORD,
            "totp_code": code,
            "csrf_token": csrf_token(login.text),
            "next": "",
        },
    )
    assert with_code.status_code == 302


def test_rule_forms_validate_and_keep_the_history(client, staff, db):
    console_sign_in(client, staff["admin"])
    rule = db.get(SchemeRule, "voluntary") or db.scalars(select(SchemeRule)).first()
    scheme = rule.scheme.value
    path = f"/console/admin/rules/scheme/{scheme}"
    values = {
        "employee_rate_bp": str(rule.employee_rate_bp),
        "employer_rate_bp": str(rule.employer_rate_bp),
        "earnings_floor": str(rule.earnings_ceiling + 1),
        "earnings_ceiling": str(rule.earnings_ceiling),
        "due_day": str(rule.due_day),
    }
    refused = post_form(client, path, path, values)
    assert refused.status_code == 422 and "ພື້ນຕ້ອງບໍ່ເກີນເພດານ" in refused.text
    assert db.scalar(select(func.count()).select_from(RuleChange)) == 0
    bad_day = post_form(client, path, path, {**values, "earnings_floor": str(rule.earnings_floor), "due_day": "31"})
    assert bad_day.status_code == 422
    saved = post_form(client, path, path, {**values, "earnings_floor": str(rule.earnings_floor), "due_day": "27"})
    assert saved.status_code == 302
    history = client.get("/console/admin/rules")
    assert "due_day: 27" in history.text and staff["admin"] in history.text

    audit = client.get("/console/admin/audit", query_string={"action": "rule."})
    assert "rule.scheme" in audit.text and staff["admin"] in audit.text
    exported = client.get("/console/admin/audit.csv", query_string={"action": "rule."})
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    lines = exported.get_data(as_text=True).strip().splitlines()
    assert len(lines) == 2 and "rule.scheme" in lines[1] and staff["admin"] in lines[1]
    nothing = client.get("/console/admin/audit", query_string={"since": "2199-01-01", "action": "rule."})
    assert "rule.scheme" not in nothing.text


def test_office_calendar_hours_and_holidays(client, app, staff, db):
    from lsso_mobile.models import AuditEvent, Holiday, Office, WorkingHours

    desk = app.test_client()
    console_sign_in(desk, staff["officer"])
    assert desk.get("/console/admin/calendar").status_code == 403
    console_sign_in(client, staff["admin"])
    page = client.get("/console/admin/calendar", query_string={"office": "D0101"})
    assert page.status_code == 200 and "D0101" in page.text
    token = csrf_token(page.text)
    week = {f"open_{d}": "y" for d in range(5)}
    week.update({f"opens_{d}": "07:30" for d in range(7)} | {f"closes_{d}": "15:30" for d in range(7)})
    backwards = client.post(
        "/console/admin/calendar/hours", data={"csrf_token": token, "office": "D0101", **week, "closes_0": "07:00"}
    )
    assert backwards.status_code == 422 and "ເວລາປິດຕ້ອງຫຼັງເວລາເປີດ" in backwards.text
    office_id = db.scalar(select(Office.id).where(Office.code == "D0101"))
    assert db.scalar(select(func.count()).select_from(WorkingHours).where(WorkingHours.office_id == office_id)) == 0
    saved = client.post("/console/admin/calendar/hours", data={"csrf_token": token, "office": "D0101", **week})
    assert saved.status_code == 302
    hours = db.scalars(select(WorkingHours).where(WorkingHours.office_id == office_id)).all()
    assert sorted(h.weekday for h in hours) == [0, 1, 2, 3, 4] and {h.opens.hour for h in hours} == {7}

    added = client.post(
        "/console/admin/calendar/holidays",
        data={"csrf_token": token, "office": "D0101", "day": "2031-10-10", "name_lo": "ບຸນ", "name_en": "Boat race"},
    )
    assert added.status_code == 302
    holiday = db.scalars(select(Holiday).where(Holiday.name_en == "Boat race")).one()
    assert holiday.office_id == office_id
    again = client.post(
        "/console/admin/calendar/holidays",
        data={"csrf_token": token, "office": "D0101", "day": "2031-10-10", "name_lo": "ບຸນ", "name_en": "Boat race"},
    )
    assert again.status_code == 422 and "ມື້ນີ້ເປັນວັນພັກຢູ່ທີ່ນີ້ແລ້ວ" in again.text
    removed = client.post(
        f"/console/admin/calendar/holidays/{holiday.id}/delete", data={"csrf_token": token, "office": "D0101"}
    )
    assert removed.status_code == 302
    db.expire_all()
    actions = db.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("calendar.%")).order_by(AuditEvent.id)
    ).all()
    assert actions == ["calendar.hours", "calendar.holiday_add", "calendar.holiday_delete"]
