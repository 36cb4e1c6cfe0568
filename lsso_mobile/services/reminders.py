"""Due-date reminders for voluntary members whose last month is not paid yet.

The contribution for period P is due on the scheme's due day of month P+1. From
``LSSO_REMINDER_DAYS_BEFORE_DUE`` days before that day, members of the voluntary scheme who use the
app and have no paid (or late-paid) record for P get one reminder, never two for the same period.
Muting and quiet hours apply (the notice is not critical).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

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


def send_due_reminders(session: Session, now: datetime, days_before_due: int) -> int:
    """Write one reminder notice per member still owing last month; returns how many were written."""
    rule = session.get(SchemeRule, Scheme.VOLUNTARY)
    if rule is None:
        return 0
    period = shift_period(period_of(now), -1)
    due = due_date(period, rule.due_day)
    today = now.astimezone(VIENTIANE).date()
    if (due - today).days > days_before_due or today > due:
        return 0
    paid = exists().where(Contribution.insured_person_id == InsuredPerson.id, Contribution.period == period,
                          Contribution.status.in_((ContributionStatus.PAID, ContributionStatus.LATE)))
    reminded = exists().where(ContributionReminder.insured_person_id == InsuredPerson.id,
                              ContributionReminder.period == period)
    sent = 0
    after = 0
    while True:
        rows = session.execute(
            select(Member.id, InsuredPerson.id).join(InsuredPerson, InsuredPerson.id == Member.insured_person_id)
            .where(InsuredPerson.scheme == Scheme.VOLUNTARY, ~paid, ~reminded, Member.id > after)
            .order_by(Member.id).limit(BATCH)
        ).all()
        if not rows:
            return sent
        for member_id, person_id in rows:
            session.add(ContributionReminder(insured_person_id=person_id, period=period, created_at=now))
            record_notification(session, member_id, "contribution_due",
                                {"period": period, "due_date": due.isoformat()}, now, collapse_key="contribution-due")
            sent += 1
        session.flush()
        after = rows[-1][0]


def send_due_reminders_job() -> int:
    """Scheduled job: today's reminders, in one transaction (re-running it sends nothing twice)."""
    from lsso_mobile import runtime
    from lsso_mobile.jobs import bind_job_queue
    from lsso_mobile.models import utcnow

    rt = runtime.current()
    with rt.db.unit_of_work() as session:
        bind_job_queue(session, rt.job_queue)
        return send_due_reminders(session, utcnow(), rt.settings.reminder_days_before_due)
