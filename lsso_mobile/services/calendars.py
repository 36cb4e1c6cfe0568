"""Office calendars: working hours and holidays (national and per office), and when an answer is due."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from lsso_mobile.config import Settings
from lsso_mobile.errors import Conflict, InvalidInput, NotFound
from lsso_mobile.models import (
    Holiday,
    Office,
    WorkingHours,
)
from lsso_mobile.services.accounts import Principal
from lsso_mobile.services.audit import record_audit
from lsso_mobile.services.paging import keyset_page
from lsso_mobile.services.working_time import DEFAULT_HOURS, OfficeCalendar, add_working_time
from lsso_mobile.validation import MAX_TITLE_CHARS, required_text


def office_calendar(session: Session, office_id: int, start: date) -> OfficeCalendar:
    """The office's own hours (else the national default, else Mon-Fri 08-16) and holidays for a year."""
    rows = session.execute(
        select(WorkingHours.office_id, WorkingHours.weekday, WorkingHours.opens, WorkingHours.closes).where(
            or_(WorkingHours.office_id == office_id, WorkingHours.office_id.is_(None))
        )
    ).all()
    own = {r.weekday: (r.opens, r.closes) for r in rows if r.office_id == office_id}
    national = {r.weekday: (r.opens, r.closes) for r in rows if r.office_id is None}
    holidays = set(
        session.scalars(
            select(Holiday.day).where(
                or_(Holiday.office_id == office_id, Holiday.office_id.is_(None)),
                Holiday.day >= start,
                Holiday.day <= start + timedelta(days=366),
            )
        )
    )
    return OfficeCalendar(hours=own or national or DEFAULT_HOURS, holidays=frozenset(holidays))


def answer_due(session: Session, settings: Settings, office_id: int, since: datetime) -> datetime | None:
    calendar = office_calendar(session, office_id, since.date() - timedelta(days=1))
    return add_working_time(since, timedelta(hours=settings.first_response_hours), calendar)


def office_by_code(session: Session, code: str) -> Office:
    office = session.scalars(select(Office).where(Office.code == code)).first()
    if office is None:
        raise NotFound("No office with this code.", error="unknown_office")
    return office


def working_hours(session: Session, office_id: int | None) -> list[WorkingHours]:
    owner = WorkingHours.office_id == office_id if office_id is not None else WorkingHours.office_id.is_(None)
    return list(session.scalars(select(WorkingHours).where(owner).order_by(WorkingHours.weekday)))


def replace_working_hours(
    session: Session,
    office_id: int | None,
    days: list[tuple[int, time, time]],
    *,
    actor: Principal | None = None,
    address: str | None = None,
) -> list[WorkingHours]:
    """The whole week at once; an office given no days falls back to the national hours. The change is in the
    audit trail (object ``working_hours`` with the office's id, 0 for the national default)."""
    weekdays = [d for d, _, _ in days]
    if len(set(weekdays)) != len(weekdays):
        raise InvalidInput(
            "Each weekday at most once.", error="weekday_duplicate", errors={"days": ["duplicate weekday"]}
        )
    if any(closes <= opens for _, opens, closes in days):
        raise InvalidInput(
            "Closing time must be after opening time.",
            error="closes_before_opens",
            errors={"days": ["closes before opens"]},
        )
    if office_id is None and not days:
        raise InvalidInput(
            "The national default needs at least one open day.", error="no_open_day", errors={"days": ["empty"]}
        )
    owner = WorkingHours.office_id == office_id if office_id is not None else WorkingHours.office_id.is_(None)
    session.execute(delete(WorkingHours).where(owner))
    session.add_all([WorkingHours(office_id=office_id, weekday=d, opens=o, closes=c) for d, o, c in days])
    session.flush()
    week = " ".join(f"{d}:{o:%H:%M}-{c:%H:%M}" for d, o, c in sorted(days))
    record_audit(
        session,
        actor,
        "calendar.hours",
        "working_hours",
        office_id or 0,
        office_id=office_id,
        details={"week": week or "national default"},
        address=address,
    )
    return working_hours(session, office_id)


def list_holidays(session: Session, year: int | None, after_id: int | None, limit: int) -> list[Holiday]:
    query = select(Holiday)
    if year is not None:
        query = query.where(Holiday.day >= date(year, 1, 1), Holiday.day <= date(year, 12, 31))
    return list(session.scalars(keyset_page(query, Holiday.id, after_id, limit)))


def add_holiday(
    session: Session,
    office_id: int | None,
    day: date,
    name_lo: str,
    name_en: str,
    *,
    actor: Principal | None = None,
    address: str | None = None,
) -> Holiday:
    owner = Holiday.office_id == office_id if office_id is not None else Holiday.office_id.is_(None)
    if session.scalar(select(Holiday.id).where(owner, Holiday.day == day)) is not None:
        raise Conflict("This day is already a holiday here.", error="holiday_exists")
    holiday = Holiday(
        office_id=office_id,
        day=day,
        name_lo=required_text(name_lo, "name_lo", MAX_TITLE_CHARS),
        name_en=required_text(name_en, "name_en", MAX_TITLE_CHARS),
    )
    session.add(holiday)
    session.flush()
    record_audit(
        session,
        actor,
        "calendar.holiday_add",
        "holiday",
        holiday.id,
        office_id=office_id,
        details={"day": day.isoformat(), "name_en": holiday.name_en},
        address=address,
    )
    return holiday


def delete_holiday(
    session: Session, holiday_id: int, *, actor: Principal | None = None, address: str | None = None
) -> None:
    holiday = session.get(Holiday, holiday_id)
    if holiday is None:
        raise NotFound("No such holiday.", error="holiday_not_found")
    record_audit(
        session,
        actor,
        "calendar.holiday_delete",
        "holiday",
        holiday.id,
        office_id=holiday.office_id,
        details={"day": holiday.day.isoformat(), "name_en": holiday.name_en},
        address=address,
    )
    session.delete(holiday)
