"""Staff users as the API shows them to themselves."""

from __future__ import annotations

from sqlalchemy.orm import Session

from lsso_mobile.errors import NotFound
from lsso_mobile.models import StaffUser


def staff_user(session: Session, staff_id: int) -> StaffUser:
    """The staff user with this id; NotFound if there is none."""
    staff = session.get(StaffUser, staff_id)
    if staff is None:
        raise NotFound("No such staff user.")
    return staff
