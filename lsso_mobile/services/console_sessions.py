"""Console sign-ins: a staff sign-in (``accounts.sign_in_staff``, same lockout rules as the API) kept in a
session cookie by its AuthSession id. Each request checks the AuthSession is still open, younger than a
working day, and its staff user still active; role and office come from the database, as for tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from lsso_mobile.errors import NotAuthenticated
from lsso_mobile.models import AuthSession, StaffUser
from lsso_mobile.services.accounts import Principal, revoke_session, staff_restriction


def staff_principal(session: Session, session_id: str, staff_id: int, now: datetime, lifetime: timedelta) -> Principal:
    auth_session = session.get(AuthSession, session_id)
    if auth_session is None or auth_session.revoked_at is not None or auth_session.staff_id != staff_id:
        raise NotAuthenticated("This session has ended; sign in again.", error="session_ended")
    if auth_session.created_at + lifetime <= now:
        raise NotAuthenticated("The working day is over; sign in again.", error="working_day_over")
    staff = session.get(StaffUser, staff_id)
    if staff is None or not staff.active:
        raise NotAuthenticated("This account is disabled.", error="account_disabled")
    return Principal(
        kind="staff",
        id=staff.id,
        role=staff.role.value,
        office_id=staff.office_id,
        session_id=session_id,
        restriction=staff_restriction(staff),
    )


def end_console_session(session: Session, session_id: str, now: datetime) -> None:
    revoke_session(session, session_id, "console_logout", now)


def staff_user(session: Session, staff_id: int) -> StaffUser | None:
    return session.get(StaffUser, staff_id)
