"""Staff account administration over the API: disable signs out at once, a reset password must be changed
before anything else works, unlock clears the sign-in delay, TOTP enrolment and sign-in (codes work once),
the second factor required by role in production, every change audited; the audit search and its CSV; the
history of rule changes with their authors; and the `lsso-mobile staff` commands."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pyotp
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from lsso_mobile.cli import main
from lsso_mobile.models import AuditEvent, AuthSession, RuleChange, SignInFailure, StaffUser
from lsso_mobile.services import totp
from tests.conftest import STAFF_PASSWORD
from tests.console.conftest import console_sign_in
from tests.support import bearer, staff_sign_in

ADMIN_STAFF = "/api/v1/admin/staff"


def admin_headers(client, staff) -> dict[str, str]:
    return bearer(staff_sign_in(client, staff["admin"], STAFF_PASSWORD)["access_token"])


def staff_id(db, username: str) -> int:
    return db.scalar(select(StaffUser.id).where(StaffUser.username == username))


def current_code(db, username: str, settings, offset_steps: int = 0) -> str:
    db.expire_all()
    staff = db.scalars(select(StaffUser).where(StaffUser.username == username)).one()
    secret = totp.open_secret(settings, staff)
    assert secret is not None
    moment = datetime.now(UTC).timestamp() + offset_steps * totp.STEP_SECONDS
    return pyotp.TOTP(secret).at(int(moment))


def test_admin_lists_creates_and_changes_accounts(client, staff, db):
    admin = admin_headers(client, staff)
    listed = client.get(ADMIN_STAFF, query_string={"q": "officer", "limit": 1}, headers=admin)
    assert listed.status_code == 200 and len(listed.json["items"]) == 1 and listed.json["next_cursor"]
    rest = client.get(ADMIN_STAFF, query_string={"q": "officer", "cursor": listed.json["next_cursor"]}, headers=admin)
    usernames = {listed.json["items"][0]["username"], *(a["username"] for a in rest.json["items"])}
    assert usernames == {staff["officer"], staff["other_officer"]}
    by_office = client.get(ADMIN_STAFF, query_string={"office_code": "D1601"}, headers=admin).json["items"]
    assert [a["username"] for a in by_office] == [staff["other_officer"]]

    created = client.post(
        ADMIN_STAFF,
        json={"username": "Officer.New", "display_name": "Noy", "role": "officer", "office_code": "D0101"},
        headers=admin,
    )
    assert created.status_code == 201, created.json
    account, temporary = created.json["account"], created.json["temporary_password"]
    assert account["username"] == "officer.new" and account["must_change_password"] is True and len(temporary) == 12
    taken = client.post(
        ADMIN_STAFF, json={"username": "officer.new", "display_name": "X", "role": "ops"}, headers=admin
    )
    assert taken.status_code == 409 and taken.json["error"] == "username_taken"
    no_office = client.post(ADMIN_STAFF, json={"username": "o2", "display_name": "X", "role": "officer"}, headers=admin)
    assert no_office.status_code == 422

    moved = client.put(
        f"{ADMIN_STAFF}/{account['id']}",
        json={"display_name": "Noy P.", "role": "officer", "office_code": "D1601"},
        headers=admin,
    )
    assert moved.status_code == 200 and moved.json["office_code"] == "D1601"
    own = client.put(
        f"{ADMIN_STAFF}/{staff_id(db, staff['admin'])}",
        json={"display_name": "Me", "role": "ops", "office_code": None},
        headers=admin,
    )
    assert own.status_code == 422 and own.json["error"] == "own_account"
    actions = db.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == account["id"], AuditEvent.object_type == "staff_user")
    ).all()
    assert actions == ["staff.create", "staff.update"]
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "staff.update")).one()
    assert event.actor_staff_id == staff_id(db, staff["admin"]) and event.client_address == "127.0.0.1"


def test_a_disabled_officer_is_signed_out_at_once(client, app, staff, db):
    officer_tokens = staff_sign_in(client, staff["officer"], STAFF_PASSWORD)
    officer = bearer(officer_tokens["access_token"])
    desk = app.test_client()
    assert console_sign_in(desk, staff["officer"]).status_code == 302
    assert desk.get("/console/inbox").status_code == 200
    assert client.get("/api/v1/staff/conversations", headers=officer).status_code == 200

    admin = admin_headers(client, staff)
    target = staff_id(db, staff["officer"])
    assert client.post(f"{ADMIN_STAFF}/{target}/disable", headers=admin).json["active"] is False

    assert client.get("/api/v1/staff/conversations", headers=officer).status_code == 401
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": officer_tokens["refresh_token"]}).status_code == 401
    )
    assert desk.get("/console/inbox").status_code == 302  # back to the sign-in page
    refused = client.post("/api/v1/auth/staff/login", json={"username": staff["officer"], "password": STAFF_PASSWORD})
    assert refused.status_code == 401
    open_sessions = db.scalar(
        select(func.count())
        .select_from(AuthSession)
        .where(AuthSession.staff_id == target, AuthSession.revoked_at.is_(None))
    )
    assert open_sessions == 0
    for action in ("disable", "reset-password"):
        own = client.post(f"{ADMIN_STAFF}/{staff_id(db, staff['admin'])}/{action}", headers=admin)
        assert own.status_code == 422 and own.json["error"] == "own_account"

    assert client.post(f"{ADMIN_STAFF}/{target}/enable", headers=admin).json["active"] is True
    assert client.get("/api/v1/staff/conversations", headers=officer).status_code == 401  # old sign-ins stay ended
    staff_sign_in(client, staff["officer"], STAFF_PASSWORD)


def test_a_reset_password_must_be_changed_before_anything_else(client, staff, db):
    admin = admin_headers(client, staff)
    target = staff_id(db, staff["officer"])
    old = bearer(staff_sign_in(client, staff["officer"], STAFF_PASSWORD)["access_token"])
    reset = client.post(f"{ADMIN_STAFF}/{target}/reset-password", headers=admin)
    assert reset.status_code == 200 and reset.json["account"]["must_change_password"] is True
    temporary = reset.json["temporary_password"]
    assert client.get("/api/v1/staff/me", headers=old).status_code == 401
    old_password = client.post(
        "/api/v1/auth/staff/login", json={"username": staff["officer"], "password": STAFF_PASSWORD}
    )
    assert old_password.status_code == 401

    restricted = bearer(staff_sign_in(client, staff["officer"], temporary)["access_token"])
    me = client.get("/api/v1/staff/me", headers=restricted)
    assert me.status_code == 200 and me.json["action_required"] == "password_change"
    refused = client.get("/api/v1/staff/conversations", headers=restricted)
    assert refused.status_code == 403 and refused.json["error"] == "password_change_required"
    short = client.post(
        "/api/v1/staff/me/password", json={"current_password": temporary, "new_password": "short"}, headers=restricted
    )
    assert short.status_code == 422
    wrong = client.post(
        "/api/v1/staff/me/password",
        json={"current_password": "not-it-at-all", "new_password": "a-brand-new-password"},
        headers=restricted,
    )
    assert wrong.status_code == 401 and wrong.json["error"] == "current_password_wrong"
    changed = client.post(
        "/api/v1/staff/me/password",
        json={"current_password": temporary, "new_password": "a-brand-new-password"},
        headers=restricted,
    )
    assert changed.status_code == 204
    assert client.get("/api/v1/staff/conversations", headers=restricted).status_code == 200  # this sign-in goes on
    assert client.get("/api/v1/staff/me", headers=restricted).json["action_required"] is None
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.object_id == target).order_by(AuditEvent.id)).all()
    assert actions == ["staff.reset_password", "staff.change_own_password"]


def test_unlock_clears_the_sign_in_delay(client, staff, db, settings):
    for _ in range(settings.login_max_failures + 1):
        client.post("/api/v1/auth/staff/login", json={"username": staff["officer"], "password": "wrong-password"})
    delayed = client.post("/api/v1/auth/staff/login", json={"username": staff["officer"], "password": STAFF_PASSWORD})
    assert delayed.status_code == 429
    admin = admin_headers(client, staff)
    assert client.post(f"{ADMIN_STAFF}/{staff_id(db, staff['officer'])}/unlock", headers=admin).status_code == 200
    assert (
        db.scalar(
            select(func.count()).select_from(SignInFailure).where(SignInFailure.account_key.like("staff:officer%"))
        )
        == 0
    )
    staff_sign_in(client, staff["officer"], STAFF_PASSWORD)


def test_totp_enrolment_and_sign_in(client, staff, db, settings):
    ops = bearer(staff_sign_in(client, staff["ops"], STAFF_PASSWORD)["access_token"])
    begun = client.post("/api/v1/staff/me/second-factor", headers=ops)
    assert begun.status_code == 201 and begun.json["otpauth_uri"].startswith("otpauth://totp/")
    stored = db.scalars(select(StaffUser).where(StaffUser.username == staff["ops"])).one()
    assert begun.json["secret"] not in (stored.totp_secret_sealed or "")  # sealed at rest
    wrong = client.post("/api/v1/staff/me/second-factor/confirm", json={"code": "000000"}, headers=ops)
    assert wrong.status_code == 422
    code = pyotp.TOTP(begun.json["secret"]).now()
    assert client.post("/api/v1/staff/me/second-factor/confirm", json={"code": code}, headers=ops).status_code == 204
    assert client.post("/api/v1/staff/me/second-factor", headers=ops).status_code == 409

    login = {"username": staff["ops"], "password": STAFF_PASSWORD}
    missing = client.post("/api/v1/auth/staff/login", json=login)
    assert missing.status_code == 401 and missing.json["error"] == "second_factor_required"
    replayed = client.post("/api/v1/auth/staff/login", json={**login, "totp_code": code})
    assert replayed.status_code == 401 and replayed.json["error"] == "totp_code_wrong"  # a code works once
    later = current_code(db, staff["ops"], settings, offset_steps=1)
    signed_in = client.post("/api/v1/auth/staff/login", json={**login, "totp_code": later})
    assert signed_in.status_code == 200
    assert client.get("/api/v1/staff/me", headers=bearer(signed_in.json["access_token"])).json["second_factor"] is True

    admin = admin_headers(client, staff)
    removed = client.delete(f"{ADMIN_STAFF}/{staff_id(db, staff['ops'])}/second-factor", headers=admin)
    assert removed.status_code == 200 and removed.json["second_factor_enrolled"] is False
    staff_sign_in(client, staff["ops"], STAFF_PASSWORD)


class TestSecondFactorRequiredByRole:
    @pytest.fixture
    def settings_overrides(self):
        return {"staff_second_factor_roles": ("ops", "admin")}

    def test_ops_must_enrol_before_anything_else(self, client, staff, db, settings):
        ops = bearer(staff_sign_in(client, staff["ops"], STAFF_PASSWORD)["access_token"])
        assert client.get("/api/v1/staff/me", headers=ops).json["action_required"] == "second_factor_enrolment"
        refused = client.get("/api/v1/staff/broadcasts", headers=ops)
        assert refused.status_code == 403 and refused.json["error"] == "second_factor_enrolment_required"
        secret = client.post("/api/v1/staff/me/second-factor", headers=ops).json["secret"]
        code = pyotp.TOTP(secret).now()
        assert (
            client.post("/api/v1/staff/me/second-factor/confirm", json={"code": code}, headers=ops).status_code == 204
        )
        assert client.get("/api/v1/staff/broadcasts", headers=ops).status_code == 200
        # officers are not in the list: no second factor asked of them
        officer = bearer(staff_sign_in(client, staff["officer"], STAFF_PASSWORD)["access_token"])
        assert client.get("/api/v1/staff/conversations", headers=officer).status_code == 200


def test_production_requires_a_second_factor_of_ops_and_admin():
    from lsso_mobile.config import load_settings

    assert load_settings({"LSSO_ENV": "test"}).staff_second_factor_roles == ()
    forced = load_settings({"LSSO_ENV": "test", "LSSO_STAFF_SECOND_FACTOR_ROLES": "officer,ops"})
    assert forced.staff_second_factor_roles == ("officer", "ops")
    from lsso_mobile.config import ConfigError

    with pytest.raises(ConfigError):
        load_settings({"LSSO_ENV": "test", "LSSO_STAFF_SECOND_FACTOR_ROLES": "member"})


def test_rule_changes_keep_their_author_and_the_audit_finds_them(client, staff, db):
    admin = admin_headers(client, staff)
    rules = client.get("/api/v1/admin/scheme-rules", headers=admin).json
    voluntary = next(r for r in rules if r["scheme"] == "voluntary")
    body = {k: voluntary[k] for k in ("employee_rate_bp", "employer_rate_bp", "earnings_floor", "earnings_ceiling")}
    changed = client.put(
        "/api/v1/admin/scheme-rules/voluntary",
        json={**body, "due_day": 20 if voluntary["due_day"] != 20 else 21},
        headers=admin,
    )
    assert changed.status_code == 200
    same_again = client.put(
        "/api/v1/admin/scheme-rules/voluntary", json={**body, "due_day": changed.json["due_day"]}, headers=admin
    )
    assert same_again.status_code == 200
    history = client.get("/api/v1/admin/rule-changes", headers=admin).json["items"]
    assert len(history) == 1  # an unchanged save is no change
    assert history[0]["author"] == staff["admin"] and history[0]["before"]["due_day"] == voluntary["due_day"]
    assert history[0]["after"]["due_day"] == changed.json["due_day"]
    assert db.scalar(select(func.count()).select_from(RuleChange)) == 1

    found = client.get(
        "/api/v1/admin/audit-events", query_string={"action": "rule.", "actor": staff["admin"]}, headers=admin
    )
    assert found.status_code == 200 and [e["action"] for e in found.json["items"]] == ["rule.scheme"]
    assert found.json["items"][0]["actor"] == staff["admin"]
    assert found.json["items"][0]["details"]["due_day"] == changed.json["due_day"]
    nobody = client.get("/api/v1/admin/audit-events", query_string={"actor": "no.such.user"}, headers=admin)
    assert nobody.json["items"] == []
    future = client.get("/api/v1/admin/audit-events", query_string={"since": "2199-01-01T00:00:00Z"}, headers=admin)
    assert future.json["items"] == []


def test_audit_pages_and_csv_export(client, staff, db):
    admin = admin_headers(client, staff)
    target = staff_id(db, staff["other_officer"])
    for _ in range(3):
        client.post(f"{ADMIN_STAFF}/{target}/unlock", headers=admin)
    first = client.get("/api/v1/admin/audit-events", query_string={"limit": 2, "object_id": target}, headers=admin)
    assert len(first.json["items"]) == 2 and first.json["next_cursor"]
    second = client.get(
        "/api/v1/admin/audit-events",
        query_string={"limit": 2, "object_id": target, "cursor": first.json["next_cursor"]},
        headers=admin,
    )
    ids = [e["id"] for e in first.json["items"] + second.json["items"]]
    assert len(ids) == 3 and ids == sorted(ids, reverse=True)

    exported = client.get("/api/v1/admin/audit-events.csv", query_string={"action": "staff.unlock"}, headers=admin)
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert "attachment" in exported.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert len(rows) == 3 and {r["actor"] for r in rows} == {staff["admin"]} and rows[0]["office"] == "D1601"
    assert rows[0]["address"] == "127.0.0.1"


def test_staff_commands(app, staff, db):
    from lsso_mobile import runtime as runtime_module

    settings = runtime_module.current().settings
    env = {
        "LSSO_DATABASE_URL": settings.database_url,
        "LSSO_INSTANCE_DIR": str(settings.instance_dir),
        "LSSO_PASSWORD_HASHING": "fast",
        "LSSO_ENV": "test",
    }

    def invoke(*args: str):
        try:
            return CliRunner().invoke(main, ["staff", *args], env=env)
        finally:  # each command starts a runtime of its own: close it and put the app's back
            runtime_module.current().close()
            runtime_module.install(app.extensions["lsso_runtime"])

    created = invoke("create", "--username", "cli.ops", "--role", "ops")
    assert created.exit_code == 0, created.output
    assert "temporary password: " in created.output
    listed = invoke("list", "--role", "ops")
    assert listed.exit_code == 0 and "cli.ops\tops\t-\tactive" in listed.output
    assert invoke("disable", "cli.ops").exit_code == 0
    disabled = invoke("list", "--disabled")
    assert disabled.output.strip().split("\t")[0] == "cli.ops"
    reset = invoke("reset-password", "cli.ops")
    assert reset.exit_code == 0 and "temporary password" in reset.output
    required = invoke("require-second-factor", "cli.ops")
    assert required.exit_code == 0 and "required" in required.output
    missing = invoke("unlock", "nobody.here")
    assert missing.exit_code != 0 and "no staff user" in missing.output
    db.expire_all()
    actions = db.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.object_type == "staff_user", AuditEvent.actor_staff_id.is_(None))
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["staff.create", "staff.disable", "staff.reset_password", "staff.require_second_factor"]
