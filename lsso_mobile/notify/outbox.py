"""The outbox: a service writes its domain change and the notification row in one transaction.

``record_notification`` renders the template in both languages, applies the member's muting and
quiet hours, and asks for a delivery job after commit. The inbox entry exists at once either way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from lsso_mobile.jobs import DELIVER_NOTIFICATION, JobRequest, enqueue_after_commit
from lsso_mobile.models import DispatchStatus, Notification
from lsso_mobile.notify.preferences import get_preferences, quiet_period_end
from lsso_mobile.notify.templates import TEMPLATES, render


def delivery_job(notification_id: int, at: datetime | None = None) -> JobRequest:
    """Now: joins the ``push`` ready list, sent in batches of 500. Later (``at``): its own scheduled job."""
    return DELIVER_NOTIFICATION.request(notification_id, at=at)


def record_notification(
    session: Session,
    member_id: int,
    template_key: str,
    params: dict[str, Any],
    now: datetime,
    *,
    collapse_key: str | None = None,
) -> Notification:
    template = TEMPLATES[template_key]
    notice = render(template_key, params)
    preferences = get_preferences(session, member_id)
    status = DispatchStatus.PENDING
    deliver_after = now
    if not template.critical:
        if template.category in (preferences.muted_categories or []):
            status = DispatchStatus.SKIPPED
        else:
            deliver_after = quiet_period_end(now, preferences.quiet_start, preferences.quiet_end) or now
    notification = Notification(
        member_id=member_id,
        category=template.category,
        template=template_key,
        critical=template.critical,
        title_lo=notice.title_lo,
        body_lo=notice.body_lo,
        title_en=notice.title_en,
        body_en=notice.body_en,
        data={"deep_link": notice.deep_link},
        collapse_key=collapse_key,
        created_at=now,
        updated_at=now,
        deliver_after=deliver_after,
        dispatch_status=status,
    )
    session.add(notification)
    session.flush()
    if status is DispatchStatus.PENDING:
        enqueue_after_commit(session, delivery_job(notification.id, deliver_after if deliver_after > now else None))
    return notification
