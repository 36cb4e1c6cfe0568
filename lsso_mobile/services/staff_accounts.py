"""Staff account administration (admins) and each staff user's own password and second factor.

The API, the console and the CLI all call these functions. Every change is kept in the audit trail in the
same unit of work (who, when, what, from where). A disabled account is signed out at once: its sign-ins are
revoked, and every request checks the account is active (``accounts.authenticate_access_token``,
``console_sessions.staff_principal``), so its tokens and console cookies stop working on the next request.
A password an admin resets is a temporary one shown once; until its owner changes it, their sign-in can only
change it (``accounts.staff_restriction``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from lsso_mobile.config import Settings
from lsso_mobile.errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from lsso_mobile.models import AuthSession, Office, SignInFailure, StaffRole, StaffUser
from lsso_mobile.services import totp
from lsso_mobile.services.accounts import (
    Principal,
    _check_secret,
    _counting_failures,
    create_staff_user,
    revoke_all_sessions,
)
from lsso_mobile.services.audit import record_audit
from lsso_mobile.services.paging import keyset_page
from lsso_mobile.services.secrets_hashing import hash_secret

MIN_PASSWORD_CHARS = 10
OBJECT = "staff_user"


@dataclass(frozen=True)
class Actor:
    """Who is changing an account, and from where (the audit trail's who and from where)."""

    principal: Principal | None  # None: the service itself (the CLI)
    address: str | None
    now: datetime


def _audit(session: Session, actor: Actor, action: str, staff: StaffUser, **details: object) -> None:
    record_audit(
        session,
        actor.principal,
        action,
        OBJECT,
        staff.id,
        office_id=staff.office_id,
        details={"username": staff.username, **details},
        address=actor.address,
        now=actor.now,
    )


def _account_key(staff: StaffUser) -> str:
    return f"staff:{staff.username}"


def temporary_password() -> str:
    """A password to read out or pass on once: 12 characters from an alphabet without look-alikes."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


def _check_password(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(
            "Staff passwords need at least 10 characters.", error="password_too_short", errors={field: ["too short"]}
        )


def staff_account(session: Session, staff_id: int, *, lock: bool = False) -> StaffUser:
    staff = session.get(StaffUser, staff_id, with_for_update=lock or None)
    if staff is None:
        raise NotFound("No such staff user.", error="staff_not_found")
    return staff


def office_by_code(session: Session, code: str | None) -> int | None:
    """The id of the office with this code (None for no code); 422 for an unknown code."""
    if not code:
        return None
    office_id = session.scalar(select(Office.id).where(Office.code == code))
    if office_id is None:
        raise InvalidInput("No office has this code.", error="office_unknown", errors={"office_code": ["unknown"]})
    return office_id


def office_codes(session: Session, office_ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in office_ids if i is not None}
    if not ids:
        return {}
    return {row_id: code for row_id, code in session.execute(select(Office.id, Office.code).where(Office.id.in_(ids)))}


def list_staff(
    session: Session,
    query: str | None,
    role: StaffRole | None,
    office_id: int | None,
    active: bool | None,
    after: int | None,
    limit: int,
) -> list[StaffUser]:
    """Staff users by id, filtered by a text in the username or name, a role, an office, active or not."""
    statement = select(StaffUser)
    if query:
        pattern = f"%{query.strip().lower()}%"
        statement = statement.where(
            or_(func.lower(StaffUser.username).like(pattern), func.lower(StaffUser.display_name).like(pattern))
        )
    if role is not None:
        statement = statement.where(StaffUser.role == role)
    if office_id is not None:
        statement = statement.where(StaffUser.office_id == office_id)
    if active is not None:
        statement = statement.where(StaffUser.active.is_(active))
    return list(session.scalars(keyset_page(statement, StaffUser.id, after, limit)))


def create_account(
    session: Session,
    settings: Settings,
    actor: Actor,
    username: str,
    role: StaffRole,
    display_name: str,
    office_id: int | None,
    password: str | None = None,
) -> tuple[StaffUser, str | None]:
    """A new staff account. Without ``password`` a temporary one is made (returned, shown once) and must be
    changed at the first sign-in."""
    temporary = None
    if password is None:
        password = temporary = temporary_password()
    else:
        _check_password(password)
    username = username.strip().lower()
    if session.scalar(select(StaffUser.id).where(StaffUser.username == username)) is not None:
        raise Conflict("This username is taken.", error="username_taken", errors={"username": ["taken"]})
    staff = create_staff_user(session, settings, username, password, role, display_name, office_id)
    staff.must_change_password = temporary is not None
    staff.created_at = actor.now
    _audit(session, actor, "staff.create", staff, role=role, office_id=office_id)
    return staff, temporary


def _refuse_own(actor: Actor, staff: StaffUser, what: str) -> None:
    if actor.principal is not None and actor.principal.id == staff.id:
        raise InvalidInput(
            "You cannot do this to your own account; ask another admin.", error="own_account", params={"what": what}
        )


def update_account(
    session: Session,
    actor: Actor,
    staff_id: int,
    role: StaffRole,
    office_id: int | None,
    display_name: str,
) -> StaffUser:
    """Change role, office and name. An officer must belong to an office. The change applies to the user's
    next request (role and office are read from the database every time)."""
    staff = staff_account(session, staff_id, lock=True)
    if role is not staff.role:
        _refuse_own(actor, staff, "role")
    if role is StaffRole.OFFICER and office_id is None:
        raise InvalidInput(
            "An officer must belong to an office.", error="office_required", errors={"office_code": ["required"]}
        )
    before = {"role": staff.role.value, "office_id": staff.office_id, "display_name": staff.display_name}
    staff.role, staff.office_id, staff.display_name = role, office_id, display_name
    after = {"role": role.value, "office_id": office_id, "display_name": display_name}
    changed = {k: after[k] for k in after if after[k] != before[k]}
    if changed:
        _audit(session, actor, "staff.update", staff, **{f"old_{k}": before[k] for k in changed}, **changed)
    session.flush()
    return staff


def disable_account(session: Session, actor: Actor, staff_id: int) -> StaffUser:
    """Disable the account and end every sign-in of it (API tokens and console sessions)."""
    staff = staff_account(session, staff_id, lock=True)
    _refuse_own(actor, staff, "disable")
    if staff.active:
        staff.active = False
        staff.disabled_at = actor.now
        revoke_all_sessions(session, actor.now, "account_disabled", staff_id=staff.id)
        _audit(session, actor, "staff.disable", staff)
    return staff


def enable_account(session: Session, actor: Actor, staff_id: int) -> StaffUser:
    staff = staff_account(session, staff_id, lock=True)
    if not staff.active:
        staff.active = True
        staff.disabled_at = None
        _audit(session, actor, "staff.enable", staff)
    return staff


def unlock_account(session: Session, actor: Actor, staff_id: int) -> StaffUser:
    """Forget the account's failed sign-ins, so no delay is left before its next try."""
    staff = staff_account(session, staff_id, lock=True)
    cleared = session.execute(delete(SignInFailure).where(SignInFailure.account_key == _account_key(staff)))
    staff.failed_logins, staff.locked_until = 0, None
    _audit(session, actor, "staff.unlock", staff, failures_cleared=getattr(cleared, "rowcount", None))
    return staff


def reset_password(session: Session, settings: Settings, actor: Actor, staff_id: int) -> tuple[StaffUser, str]:
    """A temporary password (returned, shown once); every sign-in ends and the next one must change it."""
    staff = staff_account(session, staff_id, lock=True)
    _refuse_own(actor, staff, "reset_password")  # one's own password is changed with the current one
    temporary = temporary_password()
    staff.password_hash = hash_secret(temporary, settings.password_hashing)
    staff.must_change_password = True
    session.execute(delete(SignInFailure).where(SignInFailure.account_key == _account_key(staff)))
    revoke_all_sessions(session, actor.now, "password_reset", staff_id=staff.id)
    _audit(session, actor, "staff.reset_password", staff)
    return staff, temporary


def require_second_factor(session: Session, actor: Actor, staff_id: int, required: bool) -> StaffUser:
    """Require (or stop requiring) a second factor; without one enrolled, the next sign-in can only enrol it."""
    staff = staff_account(session, staff_id, lock=True)
    if staff.second_factor_required != required:
        staff.second_factor_required = required
        _audit(session, actor, "staff.require_second_factor", staff, required=required)
    return staff


def remove_second_factor(session: Session, actor: Actor, staff_id: int) -> StaffUser:
    """Forget the account's authenticator (a lost phone); every sign-in ends. If a second factor is still
    required, the next sign-in enrols a new one."""
    staff = staff_account(session, staff_id, lock=True)
    _refuse_own(actor, staff, "remove_second_factor")
    staff.totp_secret_sealed, staff.totp_confirmed_at, staff.totp_last_step = None, None, None
    revoke_all_sessions(session, actor.now, "second_factor_removed", staff_id=staff.id)
    _audit(session, actor, "staff.remove_second_factor", staff)
    return staff


# -- a staff user's own account ------------------------------------------------------------------------


def change_own_password(
    session: Session, settings: Settings, actor: Actor, current_password: str, new_password: str
) -> StaffUser:
    """The signed-in user's new password. Guessing the current one is slowed like a sign-in. Other sign-ins
    of the account end; this one goes on, no longer restricted."""
    assert actor.principal is not None
    staff = staff_account(session, actor.principal.id)
    with _counting_failures(
        session,
        settings,
        _account_key(staff),
        actor.address or "unknown",
        actor.now,
        delay_max_seconds=settings.staff_login_delay_max_seconds,
        account_wide=True,
    ):
        staff = staff_account(session, actor.principal.id, lock=True)
        try:
            _check_secret(staff.password_hash, current_password, settings)
        except NotAuthenticated:
            raise NotAuthenticated(
                "The current password is wrong.",
                error="current_password_wrong",
                errors={"current_password": ["wrong"]},
            ) from None
    _check_password(new_password, "new_password")
    if new_password == current_password:
        raise InvalidInput(
            "The new password must differ from the current one.",
            error="password_unchanged",
            errors={"new_password": ["unchanged"]},
        )
    staff.password_hash = hash_secret(new_password, settings.password_hashing)
    staff.must_change_password = False
    staff.password_changed_at = actor.now
    _end_other_sign_ins(session, staff, actor, "password_changed")
    _audit(session, actor, "staff.change_own_password", staff)
    return staff


def _end_other_sign_ins(session: Session, staff: StaffUser, actor: Actor, reason: str) -> None:
    assert actor.principal is not None
    session.execute(
        update(AuthSession)
        .where(
            AuthSession.staff_id == staff.id,
            AuthSession.revoked_at.is_(None),
            AuthSession.id != actor.principal.session_id,
        )
        .values(revoked_at=actor.now, revoked_reason=reason)
    )


@dataclass(frozen=True)
class Enrolment:
    secret: str  # base32, for typing into an app that cannot scan
    uri: str  # otpauth://, for the QR code


def begin_totp_enrolment(session: Session, settings: Settings, actor: Actor) -> Enrolment:
    """A new secret for the signed-in user, kept sealed until a code from it is confirmed. An account that
    already has a confirmed second factor keeps it: an admin removes it first (a lost phone)."""
    assert actor.principal is not None
    staff = staff_account(session, actor.principal.id, lock=True)
    if staff.totp_confirmed_at is not None:
        raise Conflict("A second factor is already set up for this account.", error="second_factor_exists")
    secret = totp.new_secret()
    staff.totp_secret_sealed = totp.seal_secret(settings, staff, secret)
    staff.totp_last_step = None
    return Enrolment(secret, totp.provisioning_uri(secret, staff.username))


def pending_enrolment(settings: Settings, staff: StaffUser) -> Enrolment | None:
    """The enrolment begun and not confirmed yet (to show its QR code again), or None."""
    if staff.totp_confirmed_at is not None:
        return None
    secret = totp.open_secret(settings, staff)
    return Enrolment(secret, totp.provisioning_uri(secret, staff.username)) if secret else None


def confirm_totp_enrolment(session: Session, settings: Settings, actor: Actor, code: str) -> StaffUser:
    """Turn the second factor on with a code from the app; from now on every sign-in needs a code."""
    assert actor.principal is not None
    staff = staff_account(session, actor.principal.id, lock=True)
    if staff.totp_confirmed_at is not None:
        raise Conflict("A second factor is already set up for this account.", error="second_factor_exists")
    if staff.totp_secret_sealed is None:
        raise InvalidInput(
            "Start the set-up first.", error="enrolment_not_started", errors={"code": ["enrolment not started"]}
        )
    if not totp.accept_totp_code(settings, staff, code, actor.now):
        raise InvalidInput(
            "The code from the authenticator app is wrong.", error="totp_code_wrong", errors={"code": ["wrong"]}
        )
    staff.totp_confirmed_at = actor.now
    _end_other_sign_ins(session, staff, actor, "second_factor_added")
    _audit(session, actor, "staff.enrol_second_factor", staff)
    return staff
