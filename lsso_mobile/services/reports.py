"""Reports for ops and admin staff: registrations, first responses, overdue answers, push outcomes and
broadcast reach, each over a range of days (Asia/Vientiane).

Every report is one or two aggregate queries (GROUP BY in the database) that answer a few rows per day,
week, province or office, however many members, conversations or deliveries there are; the range bounds
the rows read, through an index on the time column each report filters on (migration 0014).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from lsso_mobile.errors import InvalidInput
from lsso_mobile.models import (
    ApplicationStatus,
    Broadcast,
    BroadcastRead,
    Conversation,
    ConversationStatus,
    Delivery,
    Office,
    RegistrationApplication,
)
from lsso_mobile.services.broadcast_delivery import broadcast_stats

VIENTIANE = ZoneInfo("Asia/Vientiane")  # UTC+7 all year: no daylight saving
MAX_DAYS = 366
MAX_BROADCASTS = 200  # broadcast reach lists at most this many (newest first)


@dataclass(frozen=True)
class DateRange:
    """Whole days in Vientiane, first and last included."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), VIENTIANE)

    @property
    def end(self) -> datetime:
        """The instant after the last day (exclusive)."""
        return datetime.combine(self.last + timedelta(days=1), time(), VIENTIANE)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def weeks(self) -> list[date]:
        """The Mondays of the weeks the range touches."""
        monday = self.first - timedelta(days=self.first.weekday())
        return [monday + timedelta(weeks=n) for n in range((self.last - monday).days // 7 + 1)]


def date_range(first: date | None, last: date | None, now: datetime, default_days: int = 84) -> DateRange:
    """The range asked for; by default the last ``default_days`` days up to today (Vientiane)."""
    today = now.astimezone(VIENTIANE).date()
    last = last or today
    first = first or last - timedelta(days=default_days - 1)
    if first > last:
        raise InvalidInput(
            "The first day must not be after the last day.",
            error="report_range_reversed",
            errors={"first": ["The first day must not be after the last day."]},
        )
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput(
            "A report covers at most {days} days.",
            error="report_range_too_long",
            params={"days": MAX_DAYS},
            errors={"first": ["A report covers at most a year."]},
        )
    return DateRange(first, last)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _local_day(session: Session, column: Any) -> ColumnElement[Any]:
    if _dialect(session) == "postgresql":
        return func.date(func.timezone("Asia/Vientiane", column))
    return func.date(column, "+7 hours")  # SQLite stores UTC text


def _local_week(session: Session, column: Any) -> ColumnElement[Any]:
    """The Monday of the column's week, in Vientiane."""
    if _dialect(session) == "postgresql":
        return func.date(func.date_trunc("week", func.timezone("Asia/Vientiane", column)))
    return func.date(column, "+7 hours", "-6 days", "weekday 1")


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _in(column: Any, period: DateRange) -> ColumnElement[bool]:
    return and_(column >= period.start, column < period.end)


# -- registrations ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeeklyRegistrations:
    week: date  # Monday
    province_code: str
    submitted: int  # applications sent that week
    approved: int  # of those, approved since


def registrations_by_week(session: Session, period: DateRange) -> list[WeeklyRegistrations]:
    a = RegistrationApplication
    week = _local_week(session, a.created_at).label("week")
    rows = session.execute(
        select(week, a.province_code, func.count(), func.count().filter(a.status == ApplicationStatus.APPROVED))
        .where(_in(a.created_at, period))
        .group_by(week, a.province_code)
        .order_by(week, a.province_code)
    )
    return [WeeklyRegistrations(_as_date(w), province, n, approved) for w, province, n, approved in rows]


# -- first responses and overdue answers ------------------------------------------------------------------


@dataclass(frozen=True)
class OfficeResponses:
    office_code: str
    office_name_lo: str
    office_name_en: str
    conversations: int  # started in the range
    in_time: int  # first answer by its due time
    late: int  # first answer after it
    overdue: int  # no answer yet, due time passed
    waiting: int  # no answer yet, not due yet
    median_minutes: float | None  # started -> first answer, wall-clock, answered ones only

    @property
    def in_time_share(self) -> float | None:
        judged = self.in_time + self.late + self.overdue
        return self.in_time / judged if judged else None


def first_responses_by_office(session: Session, period: DateRange, now: datetime) -> list[OfficeResponses]:
    c = Conversation
    answered = c.first_responded_at.is_not(None)
    rows = session.execute(
        select(
            c.office_id,
            func.count(),
            func.count().filter(answered, c.first_responded_at <= c.first_response_due_at),
            func.count().filter(answered, c.first_responded_at > c.first_response_due_at),
            func.count().filter(c.first_responded_at.is_(None), c.first_response_due_at < now),
        )
        .where(_in(c.created_at, period))
        .group_by(c.office_id)
    ).all()
    medians = _median_first_response_minutes(session, period)
    offices = {o.id: o for o in session.scalars(select(Office).where(Office.id.in_([r[0] for r in rows])))}
    result = []
    for office_id, total, in_time, late, overdue in rows:
        office = offices[office_id]
        waiting = total - in_time - late - overdue
        result.append(
            OfficeResponses(
                office.code,
                office.name_lo,
                office.name_en,
                total,
                in_time,
                late,
                overdue,
                waiting,
                medians.get(office_id),
            )
        )
    return sorted(result, key=lambda r: r.office_code)


def _median_first_response_minutes(session: Session, period: DateRange) -> dict[int, float]:
    c = Conversation
    where = and_(_in(c.created_at, period), c.first_responded_at.is_not(None))
    if _dialect(session) == "postgresql":
        seconds = func.extract("epoch", c.first_responded_at - c.created_at)
        median = func.percentile_cont(0.5).within_group(seconds)
        return {
            office_id: float(value) / 60
            for office_id, value in session.execute(select(c.office_id, median).where(where).group_by(c.office_id))
        }
    # SQLite (the embedded default) has no percentile: the answered conversations' times, one office at a time.
    durations: dict[int, list[float]] = defaultdict(list)
    for office_id, started, answered in session.execute(
        select(c.office_id, c.created_at, c.first_responded_at).where(where)
    ):
        if answered is not None:
            durations[office_id].append((answered - started).total_seconds() / 60)
    return {office_id: statistics.median(values) for office_id, values in durations.items()}


@dataclass(frozen=True)
class OfficeOverdue:
    office_code: str
    office_name_lo: str
    office_name_en: str
    overdue: int  # open, waiting for an answer that fell due within the range and has not come
    oldest_due_at: datetime | None


def overdue_by_office(session: Session, period: DateRange, now: datetime) -> list[OfficeOverdue]:
    c = Conversation
    rows = session.execute(
        select(c.office_id, func.count(), func.min(c.reply_due_at))
        .where(
            c.status == ConversationStatus.OPEN,
            c.reply_due_at >= period.start,
            c.reply_due_at < min(period.end, now),
        )
        .group_by(c.office_id)
    ).all()
    offices = {o.id: o for o in session.scalars(select(Office).where(Office.id.in_([r[0] for r in rows])))}
    result = [
        OfficeOverdue(offices[i].code, offices[i].name_lo, offices[i].name_en, n, oldest) for i, n, oldest in rows
    ]
    return sorted(result, key=lambda r: (-r.overdue, r.office_code))


# -- pushes -----------------------------------------------------------------------------------------------

PUSH_OUTCOMES = ("sent", "failed", "unregistered", "retry", "sending")


@dataclass(frozen=True)
class DailyPushes:
    day: date
    counts: dict[str, int]  # outcome -> pushes (personal notices' deliveries + broadcasts' devices)


def push_outcomes_by_day(session: Session, period: DateRange) -> list[DailyPushes]:
    """Personal notices by the day of their delivery's last change; broadcasts by the day they went out."""
    d = Delivery
    day = _local_day(session, d.updated_at).label("day")
    counts: dict[date, dict[str, int]] = {n: dict.fromkeys(PUSH_OUTCOMES, 0) for n in period.days()}
    for when, status, n in session.execute(
        select(day, d.status, func.count()).where(_in(d.updated_at, period)).group_by(day, d.status)
    ):
        counts[_as_date(when)][status.value] += n
    for broadcast_id, published in session.execute(
        select(Broadcast.id, Broadcast.published_at).where(_in(Broadcast.published_at, period))
    ):
        assert published is not None  # the range asked for a time
        bucket = counts[published.astimezone(VIENTIANE).date()]
        for outcomes in broadcast_stats(session, broadcast_id).values():
            bucket["sent"] += outcomes.get("sent", 0)
            bucket["failed"] += outcomes.get("failed", 0)
            bucket["unregistered"] += outcomes.get("unregistered", 0)
            bucket["retry"] += outcomes.get("waiting", 0)
    return [DailyPushes(n, values) for n, values in sorted(counts.items())]


@dataclass(frozen=True)
class BroadcastReach:
    id: int
    title_lo: str
    title_en: str
    published_at: datetime
    status: str
    audience_members: int
    audience_devices: int
    outcomes: dict[str, int]  # sent, failed, unregistered, muted, waiting, dropped (devices)
    read_by: int  # members who opened it in the app

    @property
    def reach(self) -> float | None:
        """Devices a push reached FCM for, of the audience's devices when sending began."""
        return self.outcomes["sent"] / self.audience_devices if self.audience_devices else None


def broadcast_reach(session: Session, period: DateRange) -> list[BroadcastReach]:
    published = list(
        session.scalars(
            select(Broadcast)
            .where(_in(Broadcast.published_at, period))
            .order_by(Broadcast.published_at.desc())
            .limit(MAX_BROADCASTS)
        )
    )
    ids = [b.id for b in published]
    reads = dict(
        session.execute(
            select(BroadcastRead.broadcast_id, func.count())
            .where(BroadcastRead.broadcast_id.in_(ids))
            .group_by(BroadcastRead.broadcast_id)
        ).all()
    )
    result = []
    for b in published:
        outcomes = dict.fromkeys(("sent", "failed", "unregistered", "muted", "waiting", "dropped"), 0)
        for counts in broadcast_stats(session, b.id).values():
            for name in outcomes:
                outcomes[name] += counts.get(name, 0)
        assert b.published_at is not None
        result.append(
            BroadcastReach(
                b.id,
                b.title_lo,
                b.title_en,
                b.published_at,
                b.status.value,
                b.audience_members or 0,
                b.audience_devices or 0,
                outcomes,
                reads.get(b.id, 0),
            )
        )
    return result
