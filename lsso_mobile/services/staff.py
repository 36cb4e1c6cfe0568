"""Staff users as the API shows them to themselves."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from lsso_mobile.errors import NotFound
from lsso_mobile.models import StaffUser


def staff_user(session: Session, staff_id: int) -> StaffUser:
    """The staff user with this id; NotFound if there is none."""
    staff = session.get(StaffUser, staff_id)
    if staff is None:
        raise NotFound("No such staff user.", error="staff_not_found")
    return staff


def staff_names(session: Session, staff_ids: set[int | None]) -> dict[int, str]:
    """The name (``StaffUser.name``: display name, else username) of each of these staff users, in one query."""
    ids = {i for i in staff_ids if i is not None}
    if not ids:
        return {}
    return {user.id: user.name for user in session.scalars(select(StaffUser).where(StaffUser.id.in_(ids)))}
