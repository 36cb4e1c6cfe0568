"""The delivery job: one notification to each of the member's active devices, exactly once each.

1. Claim: under a lock on the notification row, a delivery row is inserted per active device
   (unique per notification and device) and stamped with this run's claim token; rows left to
   retry, or claimed by a run that died more than ``LSSO_DELIVERY_LEASE_SECONDS`` ago, are
   re-claimed. Committed before anything is sent.
2. Send the claimed rows through the push sender, in the member's language, 500 a call, and
   record every answer right after its call, so a crash loses at most the call in flight.
3. Finish: transient failures schedule the job again with bounded exponential backoff that
   honours Retry-After; when nothing is left the notification is done.

A duplicated or retried job finds nothing unclaimed and sends nothing. The one window left is a
process killed after FCM accepted a call and before its answers were committed: those pushes are
sent again after the lease. The data payload carries the notification id so the app can drop
such a repeat.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from lsso_mobile import runtime as runtime_module
from lsso_mobile.config import Settings
from lsso_mobile.models import (
    Delivery,
    DeliveryStatus,
    Device,
    DispatchStatus,
    Member,
    Notification,
    utcnow,
)
from lsso_mobile.notify.fcm import MAX_BATCH, PushMessage, PushOutcome, PushResult
from lsso_mobile.notify.outbox import delivery_job

log = logging.getLogger(__name__)

RETRY_CAP_SECONDS = 3600
CRITICAL_TTL = timedelta(days=28)
DEFAULT_TTL = timedelta(days=7)


def insert_ignoring_conflicts(session: Session, model: type, rows: list[dict], conflict_columns: list[str]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on PostgreSQL and SQLite alike."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(model).values(rows).on_conflict_do_nothing(index_elements=conflict_columns))


def retry_delay(attempt: int, retry_after: float | None, base_seconds: int = 15) -> float:
    """Exponential backoff (15 s, 30 s, 60 s, ... capped at an hour), never sooner than Retry-After."""
    backoff = min(RETRY_CAP_SECONDS, base_seconds * 2 ** max(0, attempt - 1))
    return max(backoff, min(retry_after or 0.0, RETRY_CAP_SECONDS))


def _claim(session: Session, notification: Notification, claim: str, now: datetime, lease: timedelta) -> None:
    device_ids = list(session.scalars(
        select(Device.id).where(Device.member_id == notification.member_id, Device.active.is_(True))
    ))
    insert_ignoring_conflicts(
        session, Delivery,
        [{"notification_id": notification.id, "device_id": device_id, "status": DeliveryStatus.SENDING.value,
          "attempts": 1, "claim_token": claim, "claimed_at": now, "updated_at": now} for device_id in device_ids],
        ["notification_id", "device_id"],
    )
    active = select(Device.id).where(Device.member_id == notification.member_id, Device.active.is_(True))
    reclaimable = or_(
        Delivery.status == DeliveryStatus.RETRY,
        (Delivery.status == DeliveryStatus.SENDING) & (Delivery.claimed_at < now - lease),
    )
    base = (Delivery.notification_id == notification.id) & or_(Delivery.claim_token.is_(None),
                                                                Delivery.claim_token != claim) & reclaimable
    session.execute(
        update(Delivery).where(base, Delivery.device_id.in_(active))
        .values(claim_token=claim, status=DeliveryStatus.SENDING, claimed_at=now, attempts=Delivery.attempts + 1,
                updated_at=now)
        .execution_options(synchronize_session=False)
    )
    # A device switched off since its last try will not get this notice.
    session.execute(
        update(Delivery).where(base, Delivery.device_id.not_in(active))
        .values(status=DeliveryStatus.FAILED, error_code="DEVICE_INACTIVE", updated_at=now)
        .execution_options(synchronize_session=False)
    )


def _messages(session: Session, notification: Notification, claim: str) -> list[tuple[int, int, PushMessage]]:
    member = session.get(Member, notification.member_id)
    language = member.language.value if member else "lo"
    unread = session.scalar(
        select(func.count()).select_from(Notification)
        .where(Notification.member_id == notification.member_id, Notification.read_at.is_(None))
    ) or 0
    title = notification.title_en if language == "en" else notification.title_lo
    body = notification.body_en if language == "en" else notification.body_lo
    data = {"notification_id": str(notification.id), "category": notification.category,
            "template": notification.template, **{k: str(v) for k, v in (notification.data or {}).items()}}
    ttl = CRITICAL_TTL if notification.critical else DEFAULT_TTL
    rows = session.execute(
        select(Delivery.id, Device.id, Device.token).join(Device, Device.id == Delivery.device_id)
        .where(Delivery.notification_id == notification.id, Delivery.claim_token == claim)
        .order_by(Delivery.id)
    ).all()
    return [
        (delivery_id, device_id, PushMessage(
            token=token, title=title, body=body, data=data, collapse_key=notification.collapse_key,
            ttl_seconds=int(ttl.total_seconds()), badge=unread, priority="high" if notification.critical else "normal",
        ))
        for delivery_id, device_id, token in rows
    ]


def record_results(session: Session, sent: Sequence[tuple[int, int, PushMessage]], results: Sequence[PushResult],
                   now: datetime) -> None:
    """Write each push's outcome; dead tokens switch their device off."""
    for (delivery_id, device_id, _message), result in zip(sent, results, strict=True):
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            continue
        delivery.updated_at = now
        delivery.error_code = result.error_code
        if result.outcome is PushOutcome.SENT:
            delivery.status = DeliveryStatus.SENT
            delivery.fcm_message_id = result.message_id
        elif result.outcome is PushOutcome.UNREGISTERED:
            delivery.status = DeliveryStatus.UNREGISTERED
            session.execute(update(Device).where(Device.id == device_id).values(
                active=False, deactivated_at=now, deactivated_reason="unregistered"))
        elif result.outcome is PushOutcome.RETRY:
            delivery.status = DeliveryStatus.RETRY
        else:
            delivery.status = DeliveryStatus.FAILED
            log.warning("push failed for good: delivery=%s code=%s", delivery_id, result.error_code)


def _finish(session: Session, notification: Notification, now: datetime, settings: Settings,
            retry_after: float | None) -> str:
    counts = dict(session.execute(
        select(Delivery.status, func.count()).where(Delivery.notification_id == notification.id)
        .group_by(Delivery.status)
    ).all())
    if counts.get(DeliveryStatus.RETRY, 0):
        if notification.dispatch_attempts >= settings.push_max_attempts:
            session.execute(update(Delivery).where(Delivery.notification_id == notification.id,
                                                   Delivery.status == DeliveryStatus.RETRY)
                            .values(status=DeliveryStatus.FAILED, error_code="RETRIES_EXHAUSTED", updated_at=now))
            notification.dispatch_status = DispatchStatus.DONE
            notification.dispatched_at = now
            return "retries exhausted"
        delay = retry_delay(notification.dispatch_attempts, retry_after, settings.push_retry_base_seconds)
        notification.deliver_after = now + timedelta(seconds=delay)
        from lsso_mobile.jobs import enqueue_after_commit

        enqueue_after_commit(session, delivery_job(notification.id, notification.deliver_after))
        return f"retry in {delay:.0f}s"
    if counts.get(DeliveryStatus.SENDING, 0):
        return "other deliveries still in flight"
    notification.dispatch_status = DispatchStatus.DONE
    notification.dispatched_at = now
    return "done"


def deliver_notification(notification_id: int) -> str:
    """RQ job (queue ``push``): send one notification to its member's devices. Returns what it did."""
    rt = runtime_module.current()
    settings = rt.settings
    claim = str(uuid.uuid4())
    now = utcnow()
    with rt.db.unit_of_work() as session:
        from lsso_mobile.jobs import bind_job_queue

        bind_job_queue(session, rt.job_queue)
        notification = session.get(Notification, notification_id, with_for_update=True)
        if notification is None or notification.dispatch_status is not DispatchStatus.PENDING:
            return "nothing to do"
        if notification.deliver_after > now + timedelta(seconds=1):
            return "not due yet"
        notification.dispatch_attempts += 1
        _claim(session, notification, claim, now, timedelta(seconds=settings.delivery_lease_seconds))
    with rt.db.unit_of_work() as session:
        notification = session.get(Notification, notification_id)
        claimed = _messages(session, notification, claim)
    retry_after: float | None = None
    sender = rt.push_sender
    for start in range(0, len(claimed), MAX_BATCH):
        chunk = claimed[start:start + MAX_BATCH]
        results = sender.send([message for _, _, message in chunk])
        for result in results:
            if result.outcome is PushOutcome.RETRY and result.retry_after_seconds:
                retry_after = max(retry_after or 0.0, result.retry_after_seconds)
        with rt.db.unit_of_work() as session:
            record_results(session, chunk, results, utcnow())
    with rt.db.unit_of_work() as session:
        bind_job_queue(session, rt.job_queue)
        notification = session.get(Notification, notification_id, with_for_update=True)
        outcome = _finish(session, notification, utcnow(), settings, retry_after)
    log.info("notification %s: %d push(es) sent in this run; %s", notification_id, len(claimed), outcome)
    return outcome


def relay_undelivered(limit: int = 5000) -> int:
    """Hand every overdue undelivered notification to the queue again (Redis was down, a job was lost)."""
    rt = runtime_module.current()
    cutoff = utcnow() - timedelta(seconds=rt.settings.relay_grace_seconds)
    with rt.db.unit_of_work() as session:
        ids = list(session.scalars(
            select(Notification.id).where(Notification.dispatch_status == DispatchStatus.PENDING,
                                          Notification.deliver_after <= cutoff)
            .order_by(Notification.deliver_after).limit(limit)
        ))
    for notification_id in ids:
        rt.job_queue.submit(delivery_job(notification_id))
    if ids:
        log.info("relay: re-enqueued %d undelivered notification(s)", len(ids))
    return len(ids)


def prune_stale_devices() -> int:
    """Switch off devices not seen for LSSO_DEVICE_STALE_DAYS (FCM expires such tokens anyway)."""
    rt = runtime_module.current()
    now = utcnow()
    cutoff = now - timedelta(days=rt.settings.device_stale_days)
    with rt.db.unit_of_work() as session:
        result = session.execute(
            update(Device).where(Device.active.is_(True), Device.last_seen_at < cutoff)
            .values(active=False, deactivated_at=now, deactivated_reason="stale")
        )
        count = result.rowcount or 0
    if count:
        log.info("pruned %d device(s) unseen for %d days", count, rt.settings.device_stale_days)
    return count
