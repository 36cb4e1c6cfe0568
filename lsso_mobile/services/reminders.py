"""Due-date reminders for voluntary members whose last month is not paid yet.

The contribution for period P is due on the scheme's due day of month P+1. From
``LSSO_REMINDER_DAYS_BEFORE_DUE`` days before that day, members of the voluntary scheme who use the
app and have no paid (or late-paid) record for P get one reminder, never two for the same period.
Muting and quiet hours apply (the notice is not critical).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from lsso_mobile.i18n import Period
from lsso_mobile.models import (
    Contribution,
    ContributionReminder,
    ContributionStatus,
    InsuredPerson,
    Member,
    Scheme,
    SchemeRule,
)
from lsso_mobile.notify.outbox import record_notification
from lsso_mobile.notify.preferences import VIENTIANE
from lsso_mobile.services.contributions import due_date, period_of, shift_period

BATCH = 1000


@dataclass(frozen=True)
class ReminderRound:
    period: str
    due: date
    insured_before: datetime  # only people insured before the period ended owe it


def reminder_round(session: Session, now: datetime, days_before_due: int) -> ReminderRound | None:
    """Last month's round if today is within ``days_before_due`` days before its due day, else None."""
    rule = session.get(SchemeRule, Scheme.VOLUNTARY)
    if rule is None:
        return None
    period = shift_period(period_of(now), -1)
    due = due_date(period, rule.due_day)
    today = now.astimezone(VIENTIANE).date()
    if (due - today).days > days_before_due or today > due:
        return None
    this_month = shift_period(period, 1)
    month_start = datetime(int(this_month[:4]), int(this_month[5:7]), 1, tzinfo=VIENTIANE)
    return ReminderRound(period, due, month_start)


def remind_batch(
    session: Session, round_: ReminderRound, now: datetime, after_member_id: int, batch: int = BATCH
) -> tuple[int, int | None]:
    """Remind up to ``batch`` members after ``after_member_id``; returns (sent, last member id or None)."""
    paid = exists().where(
        Contribution.insured_person_id == InsuredPerson.id,
        Contribution.period == round_.period,
        Contribution.status.in_((ContributionStatus.PAID, ContributionStatus.LATE)),
    )
    reminded = exists().where(
        ContributionReminder.insured_person_id == InsuredPerson.id, ContributionReminder.period == round_.period
    )
    rows = session.execute(
        select(Member.id, InsuredPerson.id)
        .join(InsuredPerson, InsuredPerson.id == Member.insured_person_id)
        .where(
            InsuredPerson.scheme == Scheme.VOLUNTARY,
            InsuredPerson.created_at < round_.insured_before,
            ~paid,
            ~reminded,
            Member.id > after_member_id,
        )
        .order_by(Member.id)
        .limit(batch)
    ).all()
    for member_id, person_id in rows:
        session.add(ContributionReminder(insured_person_id=person_id, period=round_.period, created_at=now))
        record_notification(
            session,
            member_id,
            "contribution_due",
            {"period": Period(round_.period), "due_date": round_.due},
            now,
            collapse_key="contribution-due",
        )
    session.flush()
    return len(rows), (rows[-1][0] if rows else None)


def send_due_reminders(session: Session, now: datetime, days_before_due: int) -> int:
    """Every reminder due today, in this session (tests, small installs); the job commits per batch."""
    round_ = reminder_round(session, now, days_before_due)
    sent, after = 0, 0
    while round_ is not None:
        count, last = remind_batch(session, round_, now, after)
        sent += count
        if last is None:
            break
        after = last
    return sent
