"""Delivery: notifications to each of their member's active devices, exactly once per device.

Works on a batch of notifications at a time (up to 500; one for a retry):

1. Claim: the notifications are locked (``SKIP LOCKED`` on PostgreSQL, so two runs never work on
   the same one), a delivery row is inserted per (notification, active device), unique, and
   stamped with this run's claim token; rows waiting to retry, or claimed by a run that died more
   than ``LSSO_DELIVERY_LEASE_SECONDS`` ago, are re-claimed. Committed before anything is sent.
2. Send the claimed rows through the push sender in each member's language, 500 per call, and
   record every answer right after its call, so a crash loses at most the call in flight.
3. Finish: transient failures schedule that notification again with bounded exponential backoff
   honouring Retry-After; a notification with nothing left is done.

A duplicated or retried job finds nothing unclaimed and sends nothing. The one window left is a
process killed after FCM accepted a call and before its answers were committed: those pushes are
sent again after the lease. The data payload carries the notification id so the app can drop
such a repeat.
"""

from __future__ import annotations

import logging
import time
import unicodedata
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import ARRAY, ColumnElement, any_, bindparam, func, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import InstrumentedAttribute, Session

from lsso_mobile import logs, metrics
from lsso_mobile import runtime as runtime_module
from lsso_mobile.config import Settings
from lsso_mobile.extensions import affected_rows
from lsso_mobile.jobs import enqueue_after_commit
from lsso_mobile.models import (
    Delivery,
    DeliveryStatus,
    Device,
    DispatchStatus,
    Member,
    Notification,
    NotificationPreference,
    utcnow,
)
from lsso_mobile.models.base import UTCDateTime
from lsso_mobile.notify.fcm import MAX_BATCH, PushMessage, PushOutcome, PushResult
from lsso_mobile.notify.outbox import delivery_job, fallback_sms_job
from lsso_mobile.notify.preferences import quiet_period_end

log = logging.getLogger(__name__)

RETRY_CAP_SECONDS = 3600
# FCM refuses payloads over 4,096 bytes and Lao script takes 3 bytes a character: the push carries
# the start of the text, the inbox the whole of it.
PUSH_TITLE_MAX_CHARS = 100
PUSH_BODY_MAX_CHARS = 400
CRITICAL_TTL = timedelta(days=28)
DEFAULT_TTL = timedelta(days=7)


# The keys of a personal notice's push data payload (documented as PushData in the API document).
NOTICE_PUSH_DATA_KEYS = ("notification_id", "category", "template", "deep_link")


def notice_tag(notification_id: int) -> str:
    """The Android notification tag and APNs collapse id of a notice: a repeat of the same push (a worker
    killed between FCM's answer and its commit) replaces the first on the phone instead of showing twice."""
    return f"lsso-n{notification_id}"


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = limit - 1
    # Never part a Lao consonant from its vowel signs and tone marks (combining marks, category Mn):
    # a mark left on its own, or on the ellipsis, renders as a dotted circle on the phone.
    while cut > 0 and unicodedata.category(text[cut]) in ("Mn", "Mc", "Me"):
        cut -= 1
    return text[:cut].rstrip() + "…"


@dataclass(frozen=True)
class PushText:
    title: str
    body: str
    title_clipped: bool
    body_clipped: bool


def clip_push_text(title: str, body: str) -> PushText:
    """The one clipping rule for every push (notices, replies, broadcasts) and for the console's preview of
    one: the push carries at most PUSH_TITLE_MAX_CHARS / PUSH_BODY_MAX_CHARS characters (FCM refuses payloads
    over 4 KB and Lao takes 3 bytes a character), cut before a whole letter with an ellipsis; the inbox keeps
    the whole text."""
    clipped_title, clipped_body = _clip(title, PUSH_TITLE_MAX_CHARS), _clip(body, PUSH_BODY_MAX_CHARS)
    return PushText(clipped_title, clipped_body, clipped_title != title, clipped_body != body)


def retry_delay(attempt: int, retry_after: float | None, base_seconds: int = 15) -> float:
    """Exponential backoff (15 s, 30 s, 60 s, ... capped at an hour), never sooner than Retry-After."""
    backoff = min(RETRY_CAP_SECONDS, base_seconds * 2 ** max(0, attempt - 1))
    return float(max(backoff, min(retry_after or 0.0, RETRY_CAP_SECONDS)))


FEW_IDS = 16


def among(
    session: Session, column: ColumnElement[int] | InstrumentedAttribute[int], ids: Collection[int]
) -> ColumnElement[bool]:
    """``column IN ids``, as one array parameter on PostgreSQL (``column = ANY(:ids)``).

    ``in_()`` sends a batch's 500 ids as 500 bind parameters: SQLAlchemy renders 500 placeholders into the
    statement at every execution, and psycopg parses that text again (too long for its cache). Profiled in a
    worker, that was most of the delivery's own CPU beyond the SDK's; one array parameter keeps each statement's
    text short and fixed, so both cache it and psycopg prepares it. A few ids (a single notice, a retry) stay a
    short ``IN`` list: PostgreSQL plans one id as a key look-up, where for an array of one it took a status index
    on a freshly filled table (5 ms instead of 0.3 ms a claim, measured in the benchmark's latency phase)."""
    if len(ids) > FEW_IDS and session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(list(ids), ARRAY(column.type)))
    return column.in_(ids)


def _claim(session: Session, ids: Sequence[int], claim: str, now: datetime, lease: timedelta) -> list[int]:
    """Lock the due, pending notifications among ``ids`` and claim their deliveries; returns those ids."""
    lockable = (
        select(Notification.id)
        .where(
            among(session, Notification.id, ids),
            Notification.dispatch_status == DispatchStatus.PENDING,
            Notification.deliver_after <= now + timedelta(seconds=1),
        )
        .with_for_update(skip_locked=True)
    )
    locked = session.execute(
        update(Notification)
        .where(Notification.id.in_(lockable.scalar_subquery()))
        .values(dispatch_attempts=Notification.dispatch_attempts + 1)
        .returning(Notification.id, Notification.member_id)
        .execution_options(synchronize_session=False)
    ).all()
    if not locked:
        return []
    claimed_ids = _defer_quiet_hours(session, sorted(nid for nid, _ in locked), now)
    if not claimed_ids:
        return []
    # One INSERT ... SELECT claims every (notification, active device) pair not claimed before.
    pairs = (
        select(
            Notification.id,
            Device.id,
            literal(DeliveryStatus.SENDING.value),
            literal(1),
            literal(claim),
            literal(now, UTCDateTime()),
            literal(now, UTCDateTime()),
        )
        .join(Device, (Device.member_id == Notification.member_id) & Device.active.is_(True))
        .where(among(session, Notification.id, claimed_ids))
    )
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(Delivery)
        .from_select(
            ["notification_id", "device_id", "status", "attempts", "claim_token", "claimed_at", "updated_at"], pairs
        )
        .on_conflict_do_nothing(index_elements=["notification_id", "device_id"])
    )
    reclaimable = (
        among(session, Delivery.notification_id, claimed_ids)
        & or_(Delivery.claim_token.is_(None), Delivery.claim_token != claim)
        & or_(
            Delivery.status == DeliveryStatus.RETRY,
            (Delivery.status == DeliveryStatus.SENDING) & (Delivery.claimed_at < now - lease),
        )
    )
    if session.scalar(select(Delivery.id).where(reclaimable).limit(1)) is None:
        return claimed_ids  # the usual case: a first try, nothing to retry or recover
    # Still active and still this member's: a token that moved to another member never gets this notice.
    active_devices = (
        select(Device.id)
        .join(Notification, Notification.member_id == Device.member_id)
        .where(Device.active.is_(True), Notification.id == Delivery.notification_id)
    )
    session.execute(
        update(Delivery)
        .where(reclaimable, Delivery.device_id.in_(active_devices))
        .values(
            claim_token=claim,
            status=DeliveryStatus.SENDING,
            claimed_at=now,
            attempts=Delivery.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    # A device switched off or handed to another member since its last try will not get this notice.
    session.execute(
        update(Delivery)
        .where(reclaimable, Delivery.device_id.not_in(active_devices))
        .values(status=DeliveryStatus.FAILED, error_code="DEVICE_INACTIVE", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return claimed_ids


def _defer_quiet_hours(session: Session, ids: list[int], now: datetime) -> list[int]:
    """Non-critical notices whose member is in quiet hours now (a backlog, a retry) wait until they end."""
    rows = session.execute(
        select(Notification.id, NotificationPreference.quiet_start, NotificationPreference.quiet_end)
        .join(NotificationPreference, NotificationPreference.member_id == Notification.member_id)
        .where(
            among(session, Notification.id, ids),
            Notification.critical.is_(False),
            NotificationPreference.quiet_start.is_not(None),
        )
    ).all()
    deferred = set()
    for notification_id, quiet_start, quiet_end in rows:
        ends = quiet_period_end(now, quiet_start, quiet_end)
        if ends is None:
            continue
        session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(deliver_after=ends, dispatch_attempts=Notification.dispatch_attempts - 1)
            .execution_options(synchronize_session=False)
        )
        enqueue_after_commit(session, delivery_job(notification_id, ends))
        deferred.add(notification_id)
    return [i for i in ids if i not in deferred]


def _messages(session: Session, claimed_ids: list[int], claim: str) -> list[tuple[int, int, PushMessage]]:
    """(delivery id, device id, message) for every delivery this run claimed."""
    n = Notification
    rows = session.execute(
        select(
            Delivery.id.label("delivery_id"),
            Device.id.label("device_id"),
            Device.token,
            Member.language,
            n.id.label("notification_id"),
            n.member_id,
            n.category,
            n.template,
            n.critical,
            n.title_lo,
            n.body_lo,
            n.title_en,
            n.body_en,
            n.data,
            n.collapse_key,
        )
        .join(n, n.id == Delivery.notification_id)
        .join(Device, (Device.id == Delivery.device_id) & (Device.member_id == n.member_id))
        .join(Member, Member.id == n.member_id)
        .where(among(session, Delivery.notification_id, claimed_ids), Delivery.claim_token == claim)
        .order_by(Delivery.id)
    ).all()
    member_ids = {row.member_id for row in rows}
    unread = (
        dict(
            session.execute(
                select(Notification.member_id, func.count())
                .where(among(session, Notification.member_id, member_ids), Notification.read_at.is_(None))
                .group_by(Notification.member_id)
            ).all()
        )
        if member_ids
        else {}
    )
    messages = []
    for row in rows:
        delivery_id, device_id, token, language = row.delivery_id, row.device_id, row.token, row.language
        english = language is not None and language.value == "en"
        data = {
            "notification_id": str(row.notification_id),
            "category": row.category,
            "template": row.template,
            **{k: str(v) for k, v in (row.data or {}).items()},  # deep_link (notify/outbox.py)
        }
        ttl = CRITICAL_TTL if row.critical else DEFAULT_TTL
        clipped = clip_push_text(row.title_en if english else row.title_lo, row.body_en if english else row.body_lo)
        messages.append(
            (
                delivery_id,
                device_id,
                PushMessage(
                    token=token,
                    title=clipped.title,
                    body=clipped.body,
                    data=data,
                    collapse_key=row.collapse_key,
                    tag=notice_tag(row.notification_id),
                    ttl_seconds=int(ttl.total_seconds()),
                    badge=unread.get(row.member_id, 0),
                    priority="high" if row.critical else "normal",
                ),
            )
        )
    return messages


_STATUS_OF = {
    PushOutcome.SENT: DeliveryStatus.SENT,
    PushOutcome.UNREGISTERED: DeliveryStatus.UNREGISTERED,
    PushOutcome.RETRY: DeliveryStatus.RETRY,
    PushOutcome.FAILED: DeliveryStatus.FAILED,
}


_RECORD_MANY_POSTGRESQL = text("""
    UPDATE deliveries AS d
    SET status = v.status, error_code = v.error_code, fcm_message_id = v.message_id, updated_at = :now
    FROM unnest(CAST(:ids AS integer[]), CAST(:statuses AS varchar[]), CAST(:codes AS varchar[]),
                CAST(:message_ids AS varchar[])) AS v(id, status, error_code, message_id)
    WHERE d.id = v.id AND d.claim_token = :claim
""")


def record_results(
    session: Session,
    sent: Sequence[tuple[int, int, PushMessage]],
    results: Sequence[PushResult],
    now: datetime,
    claim: str,
) -> None:
    """Write each push's outcome in one statement; dead tokens switch their device off."""
    rows = []
    dead_devices = []
    for (delivery_id, device_id, _message), result in zip(sent, results, strict=True):
        rows.append(
            {
                "delivery_id": delivery_id,
                "new_status": _STATUS_OF[result.outcome].value,
                "new_error_code": result.error_code,
                "new_message_id": result.message_id,
            }
        )
        if result.outcome is PushOutcome.UNREGISTERED:
            dead_devices.append(device_id)
        elif result.outcome is PushOutcome.FAILED:
            log.warning("push failed for good: delivery=%s code=%s", delivery_id, result.error_code)
    if rows and session.get_bind().dialect.name == "postgresql":
        # One statement for the whole call: arrays unnested server-side, no per-row round trip.
        session.execute(
            _RECORD_MANY_POSTGRESQL,
            {
                "ids": [r["delivery_id"] for r in rows],
                "statuses": [r["new_status"] for r in rows],
                "codes": [r["new_error_code"] for r in rows],
                "message_ids": [r["new_message_id"] for r in rows],
                "now": now,
                "claim": claim,
            },
        )
    elif rows:
        table = Delivery.__table__  # a Table: the bulk UPDATE binds each row's own values
        session.connection().execute(
            update(table)  # type: ignore[arg-type]
            .where(table.c.id == bindparam("delivery_id"), table.c.claim_token == claim)
            .values(
                status=bindparam("new_status"),
                error_code=bindparam("new_error_code"),
                fcm_message_id=bindparam("new_message_id"),
                updated_at=now,
            ),
            rows,
        )
    if dead_devices:
        session.execute(
            update(Device)
            .where(Device.id.in_(dead_devices))
            .values(active=False, deactivated_at=now, deactivated_reason="unregistered")
        )


def _finish(
    session: Session, claimed_ids: list[int], now: datetime, settings: Settings, retry_after: dict[int, float]
) -> dict[str, int]:
    counts: dict[int, dict[DeliveryStatus, int]] = defaultdict(dict)
    for notification_id, status, count in session.execute(
        select(Delivery.notification_id, Delivery.status, func.count())
        .where(among(session, Delivery.notification_id, claimed_ids))
        .group_by(Delivery.notification_id, Delivery.status)
    ):
        counts[notification_id][status] = count
    done, summary = [], {"done": 0, "retry": 0, "exhausted": 0, "in_flight": 0}
    for notification_id, attempts in session.execute(
        select(Notification.id, Notification.dispatch_attempts).where(among(session, Notification.id, claimed_ids))
    ):
        by_status = counts[notification_id]
        if by_status.get(DeliveryStatus.RETRY):
            if attempts >= settings.push_max_attempts:
                session.execute(
                    update(Delivery)
                    .where(Delivery.notification_id == notification_id, Delivery.status == DeliveryStatus.RETRY)
                    .values(status=DeliveryStatus.FAILED, error_code="RETRIES_EXHAUSTED", updated_at=now)
                )
                done.append(notification_id)
                summary["exhausted"] += 1
                continue
            due = now + timedelta(
                seconds=retry_delay(attempts, retry_after.get(notification_id), settings.push_retry_base_seconds)
            )
            session.execute(update(Notification).where(Notification.id == notification_id).values(deliver_after=due))
            enqueue_after_commit(session, delivery_job(notification_id, due))
            summary["retry"] += 1
        elif by_status.get(DeliveryStatus.SENDING):
            summary["in_flight"] += 1  # another run holds live claims and will finish it
        else:
            done.append(notification_id)
            summary["done"] += 1
    if done:
        session.execute(
            update(Notification)
            .where(among(session, Notification.id, done))
            .values(dispatch_status=DispatchStatus.DONE, dispatched_at=now)
            .execution_options(synchronize_session=False)
        )
        # A notice that reached no device (every token dead, or none left) waits for no acknowledgement. The counts
        # above show which did reach one (a sent delivery stays sent): the usual batch has nothing left to look at.
        unsent = [notification_id for notification_id in done if not counts[notification_id].get(DeliveryStatus.SENT)]
        if unsent:
            unreached = list(
                session.scalars(
                    update(Notification)
                    .where(
                        among(session, Notification.id, unsent),
                        Notification.sms_due_at > now,
                        ~select(Delivery.id)
                        .where(Delivery.notification_id == Notification.id, Delivery.status == DeliveryStatus.SENT)
                        .exists(),
                    )
                    .values(sms_due_at=now)
                    .returning(Notification.id)
                    .execution_options(synchronize_session=False)
                )
            )
            for notification_id in unreached:
                enqueue_after_commit(session, fallback_sms_job(notification_id))
    return summary


@dataclass
class _Batch:
    claim: str
    claimed_ids: list[int]
    messages: list[tuple[int, int, PushMessage]]


def _prepare(batches: Iterator[Sequence[int]]) -> _Batch | None:
    """Claim the next batch that has anything to do; None when the batches run out."""
    rt = runtime_module.current()
    lease = timedelta(seconds=rt.settings.delivery_lease_seconds)
    for ids in batches:
        claim = str(uuid.uuid4())
        with rt.db.unit_of_work() as session:
            claimed_ids = _claim(session, ids, claim, utcnow(), lease)
            if claimed_ids:
                return _Batch(claim, claimed_ids, _messages(session, claimed_ids, claim))
    return None


# How long a worker keeps trying to record answers FCM has already given while the database is away (a
# restart, a fail-over). Giving up earlier would leave the claims to the lease and the relay, which would
# send those pushes again; this stays well inside LSSO_DELIVERY_LEASE_SECONDS' production default.
RECORD_RETRY_SECONDS = 45.0


def record_with_retry(what: str, write: Callable[[Session], None], bound: float = RECORD_RETRY_SECONDS) -> None:
    """Run ``write`` in a unit of work, again and again while the database cannot be reached (up to ``bound``
    seconds, backing off from 0.1 s to 2 s): for answers already received from FCM, which must not be
    lost to a database blip."""
    rt = runtime_module.current()
    deadline = time.monotonic() + bound
    delay = 0.1
    while True:
        try:
            with rt.db.unit_of_work() as session:
                write(session)
            return
        except (OperationalError, InterfaceError) as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "database unavailable while recording %s (%s); retrying in %.1fs", what, type(exc).__name__, delay
            )
            time.sleep(delay)
            delay = min(2.0, delay * 2)


def log_push_outcomes(kind: str, chunk: Sequence[tuple[int, int, PushMessage]], results: Sequence[PushResult]) -> None:
    """Count the answers and log one line per request that caused them, under that request's id."""
    metrics.count_pushes(kind, [result.outcome.value for result in results])
    groups: dict[str | None, tuple[set[int], Counter[str]]] = {}
    for (_delivery_id, _device_id, message), result in zip(chunk, results, strict=True):
        notification_id = int(message.data["notification_id"])
        notices, outcomes = groups.setdefault(logs.origin_of(notification_id), (set(), Counter()))
        notices.add(notification_id)
        outcomes[result.outcome.value] += 1
    for request_id, (notices, outcomes) in groups.items():
        shown = sorted(notices)
        with logs.request_context(request_id):
            log.info(
                "pushed notice(s) %s: %s",
                ",".join(map(str, shown[:20])) + ("..." if len(shown) > 20 else ""),
                dict(outcomes),
                extra={"kind": kind, "notifications": len(shown), "pushes": sum(outcomes.values())},
            )


def _record_now(
    session: Session, *, sent: Sequence[tuple[int, int, PushMessage]], results: Sequence[PushResult], claim: str
) -> None:
    record_results(session, sent, results, utcnow(), claim)


def _send(batch: _Batch) -> dict[int, float]:
    """Send 500 at a time and commit each call's answers before the next call: a crash loses at most
    the answers of the call in flight. Returns Retry-After seconds per notification."""
    rt = runtime_module.current()
    retry_after: dict[int, float] = {}
    for start in range(0, len(batch.messages), MAX_BATCH):
        chunk = batch.messages[start : start + MAX_BATCH]
        results = rt.push_sender.send([message for _, _, message in chunk])
        record_with_retry("push answers", partial(_record_now, sent=chunk, results=results, claim=batch.claim))
        log_push_outcomes("personal", chunk, results)
        for (_, _, message), result in zip(chunk, results, strict=True):
            if result.outcome is PushOutcome.RETRY and result.retry_after_seconds:
                nid = int(message.data["notification_id"])
                retry_after[nid] = max(retry_after.get(nid, 0.0), result.retry_after_seconds)
    return retry_after


def _complete(batch: _Batch, retry_after: dict[int, float]) -> Counter[str]:
    """Done, retry later, or give up, per notification. Safe to lose: the relay runs it again."""
    rt = runtime_module.current()
    with rt.db.unit_of_work() as session:
        summary = _finish(session, batch.claimed_ids, utcnow(), rt.settings, retry_after)
    log.info("delivered %d notification(s), %d push(es): %s", len(batch.claimed_ids), len(batch.messages), summary)
    return Counter(claimed=len(batch.claimed_ids), pushes=len(batch.messages), **summary)


def deliver_batches(batches: Iterable[Sequence[int]]) -> dict[str, int]:
    """Send batches of notifications (the ``push`` drain job lands here).

    While one batch is with FCM, a second thread claims the next batch and finishes the last, so
    most of the database's round trips hide behind FCM's instead of adding to them.
    """
    totals: Counter[str] = Counter()
    iterator = iter(batches)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="push-db") as db_thread:
        next_batch = db_thread.submit(_prepare, iterator)
        completing = None
        while (batch := next_batch.result()) is not None:
            next_batch = db_thread.submit(_prepare, iterator)
            retry_after = _send(batch)
            if completing is not None:
                totals.update(completing.result())
            completing = db_thread.submit(_complete, batch, retry_after)
        if completing is not None:
            totals.update(completing.result())
    return dict(totals)


def deliver_notifications(notification_ids: Sequence[int]) -> dict[str, int]:
    """Send one batch of notifications."""
    return {"claimed": 0, **deliver_batches([notification_ids])}


def deliver_notification(notification_id: int) -> str:
    """RQ job for one notification (retries, deferred pushes). Returns what happened to it."""
    result = deliver_notifications([notification_id])
    if not result["claimed"]:
        rt = runtime_module.current()
        with rt.db.unit_of_work() as session:
            notification = session.get(Notification, notification_id)
            if (
                notification is not None
                and notification.dispatch_status is DispatchStatus.PENDING
                and notification.deliver_after > utcnow() + timedelta(seconds=1)
            ):
                return "not due yet"
        return "nothing to do"
    if result.get("done"):
        return "done"
    if result.get("retry"):
        return "retry scheduled"
    if result.get("exhausted"):
        return "retries exhausted"
    return "other deliveries still in flight"


def relay_undelivered(limit: int = 5000) -> int:
    """Hand every overdue undelivered notification to the queue again (Redis was down, a job was lost)."""
    rt = runtime_module.current()
    cutoff = utcnow() - timedelta(seconds=rt.settings.relay_grace_seconds)
    with rt.db.unit_of_work() as session:
        lease_start = utcnow() - timedelta(seconds=rt.settings.delivery_lease_seconds)
        live_claim = (
            select(Delivery.id)
            .where(
                Delivery.notification_id == Notification.id,
                Delivery.status == DeliveryStatus.SENDING,
                Delivery.claimed_at > lease_start,
            )
            .exists()
        )
        ids = list(
            session.scalars(
                select(Notification.id)
                .where(
                    Notification.dispatch_status == DispatchStatus.PENDING,
                    Notification.deliver_after <= cutoff,
                    ~live_claim,
                )
                .order_by(Notification.deliver_after)
                .limit(limit)
            )
        )
    if ids:
        rt.job_queue.submit_many([delivery_job(notification_id) for notification_id in ids])
        log.info("relay: re-enqueued %d undelivered notification(s)", len(ids))
    return len(ids)


def prune_stale_devices() -> int:
    """Switch off devices not seen for LSSO_DEVICE_STALE_DAYS (FCM expires such tokens anyway)."""
    rt = runtime_module.current()
    now = utcnow()
    cutoff = now - timedelta(days=rt.settings.device_stale_days)
    with rt.db.unit_of_work() as session:
        result = session.execute(
            update(Device)
            .where(Device.active.is_(True), Device.last_seen_at < cutoff)
            .values(active=False, deactivated_at=now, deactivated_reason="stale")
        )
        count = affected_rows(result)
    if count:
        log.info("pruned %d device(s) unseen for %d days", count, rt.settings.device_stale_days)
    return count
