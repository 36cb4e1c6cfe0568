"""The outbox: a service writes its domain change and the notification row in one transaction.

``record_notification`` renders the template in both languages, applies the member's muting and
quiet hours, and asks for a delivery job after commit. The inbox entry exists at once either way.

SMS fallback: a notice whose template or category has a window in ``LSSO_SMS_FALLBACK_WINDOWS`` gets
``sms_due_at`` (when its push may be shown, plus the window) and its SMS texts; the app's acknowledgement
clears it, and the fallback scan (``services/sms_fallback.py``) sends what is still due. A member with no
active device, or who chose SMS only, is due at once (and an SMS-only member gets no push).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lsso_mobile import runtime as runtime_module
from lsso_mobile.config import fallback_windows
from lsso_mobile.jobs import DELIVER_NOTIFICATION, SEND_FALLBACK_SMS, JobRequest, enqueue_after_commit
from lsso_mobile.models import Device, DispatchStatus, Notification
from lsso_mobile.notify.preferences import CHANNEL_SMS, get_preferences, quiet_period_end
from lsso_mobile.notify.templates import TEMPLATES, render, render_sms


def delivery_job(notification_id: int, at: datetime | None = None) -> JobRequest:
    """Now: joins the ``push`` ready list, sent in batches of 500. Later (``at``): its own scheduled job."""
    return DELIVER_NOTIFICATION.request(notification_id, at=at)


def fallback_window(template_key: str, category: str) -> int | None:
    """Seconds the app has to acknowledge this notice before it goes by SMS; None: it never does."""
    windows = fallback_windows(runtime_module.current().settings.sms_fallback_windows)
    return windows.get(template_key, windows.get(category))


def fallback_sms_job(notification_id: int) -> JobRequest:
    return SEND_FALLBACK_SMS.request(notification_id, description=f"send_fallback_sms({notification_id})")


def record_notification(
    session: Session,
    member_id: int,
    template_key: str,
    params: dict[str, Any],
    now: datetime,
    *,
    collapse_key: str | None = None,
    sms_fallback: bool = True,
) -> Notification:
    """The notice ``template_key`` for the member, and its push job after commit. ``sms_fallback=False`` when the
    caller sends its own SMS for it (a payment receipt): the notice then never falls back to SMS."""
    template = TEMPLATES[template_key]
    notice = render(template_key, params)
    preferences = get_preferences(session, member_id)
    status = DispatchStatus.PENDING
    deliver_after = now
    muted = False
    if not template.critical:
        if template.category in (preferences.muted_categories or []):
            status = DispatchStatus.SKIPPED
            muted = True
        else:
            deliver_after = quiet_period_end(now, preferences.quiet_start, preferences.quiet_end) or now
    sms_due_at = None
    if not muted:
        window = fallback_window(template_key, template.category)
        if preferences.channel == CHANNEL_SMS:
            status = DispatchStatus.SKIPPED  # SMS only: no push
            sms_due_at = deliver_after if sms_fallback else None
        elif window is not None and sms_fallback:
            has_device = session.scalar(
                select(Device.id).where(Device.member_id == member_id, Device.active.is_(True)).limit(1)
            )
            sms_due_at = deliver_after + timedelta(seconds=window) if has_device else deliver_after
    sms_lo = sms_en = None
    if sms_due_at is not None:
        sms_lo, sms_en = render_sms(template_key, notice, params)
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
        sms_due_at=sms_due_at,
        sms_lo=sms_lo,
        sms_en=sms_en,
    )
    session.add(notification)
    session.flush()
    if status is DispatchStatus.PENDING:
        enqueue_after_commit(session, delivery_job(notification.id, deliver_after if deliver_after > now else None))
    if sms_due_at is not None and sms_due_at <= now:
        enqueue_after_commit(session, fallback_sms_job(notification.id))
    return notification
