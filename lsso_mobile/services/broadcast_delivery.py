"""Pushes of a broadcast: slices over device-id ranges, resumable, each device pushed once.

A slice job claims its slice (a lease renewed after every call), then repeatedly reads the next
500 targeted devices after the slice's ``position``, sends them with one ``send_each`` and commits
their outcomes together with the new position. A run that dies leaves the position at the last
committed call; the next run (the relay re-enqueues a slice whose lease ran out) starts after it.
As with personal notices, the one window is a process killed after FCM accepted a call and before
its answers were committed; the data payload carries the broadcast id so the app can drop a repeat.

Muted members (non-critical notices) are counted and skipped. Members in quiet hours, and devices
FCM asked us to try later, become ``broadcast_deferrals`` rows, sent by the relay when due.
No per-member or per-device row is written for the ordinary case.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from lsso_mobile import metrics
from lsso_mobile import runtime as runtime_module
from lsso_mobile.errors import NotFound
from lsso_mobile.extensions import affected_rows
from lsso_mobile.jobs import SEND_BROADCAST_DEFERRALS, SEND_BROADCAST_SLICE, START_BROADCAST, JobRequest
from lsso_mobile.models import (
    Broadcast,
    BroadcastDeferral,
    BroadcastEvent,
    BroadcastSlice,
    BroadcastStatus,
    DeferralStatus,
    Device,
    Member,
    NotificationPreference,
    SliceStatus,
    utcnow,
)
from lsso_mobile.notify.delivery import clip_push_text, record_with_retry, retry_delay
from lsso_mobile.notify.fcm import MAX_BATCH, MAX_TTL_SECONDS, PushMessage, PushOutcome, PushResult
from lsso_mobile.notify.preferences import quiet_period_end
from lsso_mobile.services.audience import Audience, audience_condition, province_of_member, with_member_area
from lsso_mobile.services.rows import insert_ignoring_duplicates

log = logging.getLogger(__name__)

UNKNOWN_PROVINCE = ""
# What a slice counts per province. "deferred" and "retry" rows are counted again when they are sent.
SLICE_OUTCOMES = ("sent", "failed", "unregistered", "muted", "deferred", "retry")


def _job_timeout(devices: int) -> int:
    """Room for every call of a slice at its worst (the HTTP timeout, twice), so RQ never kills a run mid-call."""
    settings = runtime_module.current().settings
    calls = -(-devices // MAX_BATCH)
    return int(300 + calls * 2 * settings.fcm_http_timeout)


def slice_job(slice_id: int) -> JobRequest:
    """On the ``broadcast`` queue: after personal notices, so a national broadcast never holds them back."""
    timeout = _job_timeout(runtime_module.current().settings.broadcast_slice_devices)
    return SEND_BROADCAST_SLICE.request(slice_id, timeout=timeout, description=f"send_broadcast_slice({slice_id})")


# Starting a broadcast and sending its due deferrals are short: they go on the ``push`` queue, so a
# scheduled notice starts on time even while another broadcast's slices fill the ``broadcast`` queue.
def deferrals_job(broadcast_id: int) -> JobRequest:
    return SEND_BROADCAST_DEFERRALS.request(
        broadcast_id, timeout=_job_timeout(10 * MAX_BATCH), description=f"send_broadcast_deferrals({broadcast_id})"
    )


def start_job(broadcast_id: int, at: datetime | None = None) -> JobRequest:
    return START_BROADCAST.request(broadcast_id, at=at, description=f"start_broadcast({broadcast_id})")


def record_event(
    session: Session,
    broadcast_id: int,
    action: str,
    status: BroadcastStatus,
    staff_id: int | None,
    now: datetime,
    note: str | None = None,
) -> None:
    session.add(
        BroadcastEvent(
            broadcast_id=broadcast_id, action=action, status=status, staff_id=staff_id, note=note, created_at=now
        )
    )


# A broadcast push's data payload: its keys and deep link (documented as PushData in the API document).
BROADCAST_PUSH_DATA_KEYS = ("broadcast_id", "category", "deep_link")
BROADCAST_DEEP_LINK = "lsso://inbox/broadcasts/{broadcast_id}"


@dataclass(frozen=True)
class BroadcastContent:
    """What a slice needs of its broadcast, read once per run."""

    id: int
    status: BroadcastStatus
    category: str
    critical: bool
    audience: Audience
    title_lo: str
    body_lo: str
    title_en: str
    body_en: str
    expires_at: datetime

    @classmethod
    def load(cls, session: Session, broadcast_id: int) -> BroadcastContent:
        b = session.get(Broadcast, broadcast_id)
        if b is None:
            raise NotFound("No such broadcast.", error="broadcast_not_found")
        return cls(
            b.id,
            b.status,
            b.category,
            b.critical,
            Audience.from_json(b.audience),
            b.title_lo,
            b.body_lo,
            b.title_en,
            b.body_en,
            b.expires_at,
        )

    def live(self, now: datetime) -> bool:
        return self.status in (BroadcastStatus.SENDING, BroadcastStatus.SENT) and self.expires_at > now

    def message(self, token: str, english: bool, now: datetime) -> PushMessage:
        ttl = max(0, min(MAX_TTL_SECONDS, int((self.expires_at - now).total_seconds())))
        text = clip_push_text(self.title_en if english else self.title_lo, self.body_en if english else self.body_lo)
        return PushMessage(
            token=token,
            title=text.title,
            body=text.body,
            data={
                "broadcast_id": str(self.id),
                "category": self.category,
                "deep_link": BROADCAST_DEEP_LINK.format(broadcast_id=self.id),
            },
            collapse_key=f"broadcast-{self.id}",
            tag=f"lsso-b{self.id}",
            ttl_seconds=ttl,
            priority="high" if self.critical else "normal",
        )


@dataclass(frozen=True)
class Target:
    device_id: int
    token: str
    english: bool
    province: str
    muted: bool
    quiet_until: datetime | None


def _targets(
    session: Session,
    content: BroadcastContent,
    now: datetime,
    *,
    after: int = 0,
    last: int | None = None,
    device_ids: Sequence[int] | None = None,
    limit: int = MAX_BATCH,
) -> list[Target]:
    """The audience's active devices, in id order, after ``after`` up to ``last`` (or among ``device_ids``)."""
    preference = NotificationPreference
    query = (
        with_member_area(
            select(
                Device.id,
                Device.token,
                Member.language,
                province_of_member().label("province"),
                preference.muted_categories,
                preference.quiet_start,
                preference.quiet_end,
            )
            .select_from(Device)
            .join(Member, Member.id == Device.member_id)
        )
        .outerjoin(preference, preference.member_id == Member.id)
        .where(Device.active.is_(True), audience_condition(session, content.audience, now))
    )
    if device_ids is not None:
        query = query.where(Device.id.in_(device_ids))
    else:
        query = query.where(Device.id > after, Device.id <= last)
    targets = []
    for row in session.execute(query.order_by(Device.id).limit(limit)):
        ordinary = not content.critical
        targets.append(
            Target(
                device_id=row.id,
                token=row.token,
                english=row.language is not None and row.language.value == "en",
                province=row.province or UNKNOWN_PROVINCE,
                muted=ordinary and content.category in (row.muted_categories or []),
                quiet_until=quiet_period_end(now, row.quiet_start, row.quiet_end) if ordinary else None,
            )
        )
    return targets


_OUTCOME_NAME = {
    PushOutcome.SENT: "sent",
    PushOutcome.UNREGISTERED: "unregistered",
    PushOutcome.RETRY: "retry",
    PushOutcome.FAILED: "failed",
}


def _deactivate(session: Session, device_ids: list[int], now: datetime) -> None:
    if device_ids:
        session.execute(
            update(Device)
            .where(Device.id.in_(device_ids))
            .values(active=False, deactivated_at=now, deactivated_reason="unregistered")
        )


def _deferral(
    content: BroadcastContent, target: Target, reason: str, due: datetime, attempts: int, error_code: str | None = None
) -> dict[str, Any]:
    return {
        "broadcast_id": content.id,
        "device_id": target.device_id,
        "province_code": target.province,
        "reason": reason,
        "status": DeferralStatus.WAITING.value,
        "due_at": due,
        "attempts": attempts,
        "error_code": error_code,
    }


def _send_targets(
    content: BroadcastContent,
    targets: list[Target],
    now: datetime,
    base_seconds: int,
) -> tuple[Counter[tuple[str, str]], list[dict[str, Any]], list[int]]:
    """Push to the targets that may have it now; returns per-province counts, deferral rows and dead devices."""
    counts: Counter[tuple[str, str]] = Counter()
    deferrals: list[dict[str, Any]] = []
    sendable = []
    for target in targets:
        if target.muted:
            counts[(target.province, "muted")] += 1
        elif target.quiet_until is not None:
            counts[(target.province, "deferred")] += 1
            deferrals.append(_deferral(content, target, "quiet_hours", target.quiet_until, 0))
        else:
            sendable.append(target)
    dead: list[int] = []
    if sendable:
        results = runtime_module.current().push_sender.send(
            [content.message(t.token, t.english, now) for t in sendable]
        )
        metrics.count_pushes("broadcast", [result.outcome.value for result in results])
        for target, result in zip(sendable, results, strict=True):
            outcome = _OUTCOME_NAME[result.outcome]
            counts[(target.province, outcome)] += 1
            if result.outcome is PushOutcome.UNREGISTERED:
                dead.append(target.device_id)
            elif result.outcome is PushOutcome.RETRY:
                due = now + timedelta(seconds=retry_delay(1, result.retry_after_seconds, base_seconds))
                deferrals.append(_deferral(content, target, "retry", due, 1, result.error_code))
    return counts, deferrals, dead


def _merge(stats: dict[str, Any], counts: Counter[tuple[str, str]]) -> dict[str, Any]:
    merged = {province: dict(values) for province, values in stats.items()}
    for (province, outcome), count in counts.items():
        merged.setdefault(province, {})
        merged[province][outcome] = merged[province].get(outcome, 0) + count
    return merged


def _claim_slice(session: Session, slice_id: int, claim: str, now: datetime, lease: timedelta) -> Any:
    return session.execute(
        update(BroadcastSlice)
        .where(
            BroadcastSlice.id == slice_id,
            BroadcastSlice.status == SliceStatus.PENDING,
            (BroadcastSlice.claim_token.is_(None)) | (BroadcastSlice.claimed_at < now - lease),
        )
        .values(claim_token=claim, claimed_at=now, runs=BroadcastSlice.runs + 1, updated_at=now)
        .returning(
            BroadcastSlice.broadcast_id, BroadcastSlice.position, BroadcastSlice.last_device_id, BroadcastSlice.stats
        )
        .execution_options(synchronize_session=False)
    ).one_or_none()


def _next_targets(broadcast_id: int, after: int, last: int) -> tuple[BroadcastContent, list[Target] | None, datetime]:
    """The broadcast as it is now (withdrawn meanwhile? then None: stop) and its next targets. Read again while
    the database is briefly away, as the progress is written: a run that died here would keep its claim on
    the slice until the lease ran out."""
    found: list[tuple[BroadcastContent, list[Target] | None, datetime]] = []

    def read(session: Session) -> None:
        now = utcnow()
        content = BroadcastContent.load(session, broadcast_id)
        found[:] = [
            (content, _targets(session, content, now, after=after, last=last) if content.live(now) else None, now)
        ]

    record_with_retry("broadcast progress (the next targets)", read)
    return found[0]


def _end_slice(slice_id: int, claim: str, status: SliceStatus, position: int) -> None:
    with runtime_module.current().db.unit_of_work() as session:
        session.execute(
            update(BroadcastSlice)
            .where(
                BroadcastSlice.id == slice_id,
                BroadcastSlice.claim_token == claim,
                BroadcastSlice.status == SliceStatus.PENDING,
            )
            .values(status=status, position=position, claim_token=None, updated_at=utcnow())
        )


def _record_progress(
    slice_id: int, claim: str, position: int, stats: dict[str, Any], deferrals: list[dict[str, Any]], dead: list[int]
) -> bool:
    """Commit one call's outcomes with the new position, if the slice is still ours to work (retried while
    the database is away: FCM has answered, and losing the answers would send the call again)."""
    kept_it: list[bool] = []

    def write(session: Session) -> None:
        kept_it[:] = [_write_progress(session, slice_id, claim, position, stats, deferrals, dead)]

    record_with_retry("broadcast progress", write)
    return bool(kept_it and kept_it[0])


def _write_progress(
    session: Session,
    slice_id: int,
    claim: str,
    position: int,
    stats: dict[str, Any],
    deferrals: list[dict[str, Any]],
    dead: list[int],
) -> bool:
    now = utcnow()
    kept = affected_rows(
        session.execute(
            update(BroadcastSlice)
            .where(
                BroadcastSlice.id == slice_id,
                BroadcastSlice.claim_token == claim,
                BroadcastSlice.status == SliceStatus.PENDING,
            )
            .values(position=position, stats=stats, claimed_at=now, updated_at=now)
        )
    )
    if not kept:
        session.rollback()
        return False
    insert_ignoring_duplicates(session, BroadcastDeferral, deferrals, ["broadcast_id", "device_id"])
    _deactivate(session, dead, now)
    return True


def send_broadcast_slice(slice_id: int) -> dict[str, int]:
    """RQ job: push one slice of a broadcast, resuming after its recorded position."""
    rt = runtime_module.current()
    lease = timedelta(seconds=rt.settings.delivery_lease_seconds)
    claim = str(uuid.uuid4())
    with rt.db.unit_of_work() as session:
        claimed = _claim_slice(session, slice_id, claim, utcnow(), lease)
        if claimed is None:
            return {"claimed": 0}  # done, or a live run holds it: a duplicate job
        content = BroadcastContent.load(session, claimed.broadcast_id)
    position, last, stats = claimed.position, claimed.last_device_id, dict(claimed.stats or {})
    totals: Counter[str] = Counter(claimed=1)
    started = time.perf_counter()
    outcome = "partial"
    # While one call is with FCM, a second thread reads the next 500 targets: the database's round
    # trips hide behind FCM's instead of adding to them.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="broadcast-db") as db_thread:
        upcoming = db_thread.submit(_next_targets, content.id, position, last)
        while True:
            content, targets, now = upcoming.result()
            if not targets:
                _end_slice(
                    slice_id,
                    claim,
                    SliceStatus.DONE if targets is not None else SliceStatus.STOPPED,
                    last if targets is not None else position,
                )
                finish_if_complete(content.id)
                outcome = "done" if targets is not None else "stopped"
                break
            upcoming = db_thread.submit(_next_targets, content.id, targets[-1].device_id, last)
            counts, deferrals, dead = _send_targets(content, targets, now, rt.settings.push_retry_base_seconds)
            position = targets[-1].device_id
            stats = _merge(stats, counts)
            if not _record_progress(slice_id, claim, position, stats, deferrals, dead):
                # Withdrawn, or our lease ran out and another run took the slice over (it resumes
                # from the last committed position): stop here without recording.
                log.warning("broadcast slice %s: withdrawn or lease lost; this run stops", slice_id)
                break
            totals.update({outcome: n for (_, outcome), n in counts.items()})
    metrics.BROADCAST_SLICES.labels(outcome=outcome).inc()
    metrics.BROADCAST_SLICE_SECONDS.observe(time.perf_counter() - started)
    log.info("broadcast slice %s: %s", slice_id, dict(totals), extra={"broadcast_id": content.id})
    return dict(totals)


def finish_if_complete(broadcast_id: int) -> bool:
    """A sending broadcast whose slices are all finished is sent (deferrals may still follow)."""
    rt = runtime_module.current()
    with rt.db.unit_of_work() as session:
        open_slices = (
            select(BroadcastSlice.id)
            .where(BroadcastSlice.broadcast_id == broadcast_id, BroadcastSlice.status == SliceStatus.PENDING)
            .exists()
        )
        now = utcnow()
        result = session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.SENDING, ~open_slices)
            .values(status=BroadcastStatus.SENT, finished_at=now, updated_at=now)
        )
        if affected_rows(result):
            record_event(session, broadcast_id, "sent", BroadcastStatus.SENT, None, now)
            return True
    return False


def _claim_deferrals(session: Session, broadcast_id: int, claim: str, now: datetime, lease: timedelta) -> list[int]:
    d = BroadcastDeferral
    due = (
        select(d.id)
        .where(
            d.broadcast_id == broadcast_id,
            ((d.status == DeferralStatus.WAITING) & (d.due_at <= now))
            | ((d.status == DeferralStatus.SENDING) & (d.claimed_at < now - lease)),
        )
        .order_by(d.id)
        .limit(MAX_BATCH)
        .with_for_update(skip_locked=True)
    )
    return list(
        session.scalars(
            update(d)
            .where(d.id.in_(due.scalar_subquery()))
            .values(status=DeferralStatus.SENDING, claim_token=claim, claimed_at=now, attempts=d.attempts + 1)
            .returning(d.device_id)
            .execution_options(synchronize_session=False)
        )
    )


def _record_deferrals(
    session: Session,
    broadcast_id: int,
    claim: str,
    results: Iterable[tuple[int, PushResult]],
    attempts_cap: int,
    base_seconds: int,
    now: datetime,
) -> None:
    d = BroadcastDeferral
    attempts = dict(
        session.execute(
            select(d.device_id, d.attempts).where(d.broadcast_id == broadcast_id, d.claim_token == claim)
        ).all()
    )
    for device_id, result in results:
        values: dict[str, Any] = {"error_code": result.error_code}
        if result.outcome is PushOutcome.SENT:
            values["status"] = DeferralStatus.SENT
        elif result.outcome is PushOutcome.UNREGISTERED:
            values["status"] = DeferralStatus.UNREGISTERED
        elif result.outcome is PushOutcome.RETRY and attempts.get(device_id, 0) < attempts_cap:
            values["status"] = DeferralStatus.WAITING
            values["due_at"] = now + timedelta(
                seconds=retry_delay(attempts.get(device_id, 1), result.retry_after_seconds, base_seconds)
            )
        else:
            values["status"] = DeferralStatus.FAILED
            if result.outcome is PushOutcome.RETRY:
                values["error_code"] = "RETRIES_EXHAUSTED"
        session.execute(
            update(d)
            .where(d.broadcast_id == broadcast_id, d.device_id == device_id, d.claim_token == claim)
            .values(**values)
        )


def send_broadcast_deferrals(broadcast_id: int) -> dict[str, int]:
    """RQ job: push the broadcast's deferred devices that are due (quiet hours over, retry time come)."""
    rt = runtime_module.current()
    lease = timedelta(seconds=rt.settings.delivery_lease_seconds)
    totals: Counter[str] = Counter()
    while True:
        now = utcnow()
        claim = str(uuid.uuid4())
        with rt.db.unit_of_work() as session:
            content = BroadcastContent.load(session, broadcast_id)
            if not content.live(now):
                dropped = affected_rows(
                    session.execute(
                        update(BroadcastDeferral)
                        .where(
                            BroadcastDeferral.broadcast_id == broadcast_id,
                            BroadcastDeferral.status.in_([DeferralStatus.WAITING, DeferralStatus.SENDING]),
                        )
                        .values(status=DeferralStatus.DROPPED)
                    )
                )
                totals["dropped"] += dropped or 0
                break
            device_ids = _claim_deferrals(session, broadcast_id, claim, now, lease)
        if not device_ids:
            break
        with rt.db.unit_of_work() as session:
            targets = {
                t.device_id: t for t in _targets(session, content, now, device_ids=device_ids, limit=len(device_ids))
            }
            # Switched off, handed to a member outside the audience, or muted since: not sent.
            gone = [i for i in device_ids if i not in targets or targets[i].muted]
            still_quiet = {i: t.quiet_until for i, t in targets.items() if t.quiet_until is not None}
            ours = (BroadcastDeferral.broadcast_id == broadcast_id) & (BroadcastDeferral.claim_token == claim)
            if gone:
                session.execute(
                    update(BroadcastDeferral)
                    .where(ours, BroadcastDeferral.device_id.in_(gone))
                    .values(status=DeferralStatus.DROPPED)
                )
            for device_id, until in still_quiet.items():
                session.execute(
                    update(BroadcastDeferral)
                    .where(ours, BroadcastDeferral.device_id == device_id)
                    .values(status=DeferralStatus.WAITING, due_at=until, attempts=BroadcastDeferral.attempts - 1)
                )
        totals["dropped"] += len(gone)
        sendable = [targets[i] for i in device_ids if i in targets and i not in still_quiet and not targets[i].muted]
        if not sendable:
            continue
        results = rt.push_sender.send([content.message(t.token, t.english, now) for t in sendable])
        metrics.count_pushes("broadcast", [result.outcome.value for result in results])
        with rt.db.unit_of_work() as session:
            _record_deferrals(
                session,
                broadcast_id,
                claim,
                [(t.device_id, r) for t, r in zip(sendable, results, strict=True)],
                rt.settings.push_max_attempts,
                rt.settings.push_retry_base_seconds,
                utcnow(),
            )
            _deactivate(
                session,
                [t.device_id for t, r in zip(sendable, results, strict=True) if r.outcome is PushOutcome.UNREGISTERED],
                utcnow(),
            )
        totals.update(_OUTCOME_NAME[r.outcome] for r in results)
    return dict(totals)


def broadcast_stats(session: Session, broadcast_id: int) -> dict[str, dict[str, int]]:
    """Outcomes per province: slices' counters plus what became of deferred devices."""
    by_province: dict[str, Counter[str]] = defaultdict(Counter)
    for (stats,) in session.execute(select(BroadcastSlice.stats).where(BroadcastSlice.broadcast_id == broadcast_id)):
        for province, values in (stats or {}).items():
            by_province[province].update(
                {k: v for k, v in values.items() if k in ("sent", "failed", "unregistered", "muted")}
            )
    for province, status, count in session.execute(
        select(BroadcastDeferral.province_code, BroadcastDeferral.status, func.count())
        .where(BroadcastDeferral.broadcast_id == broadcast_id)
        .group_by(BroadcastDeferral.province_code, BroadcastDeferral.status)
    ):
        name = "waiting" if status in (DeferralStatus.WAITING, DeferralStatus.SENDING) else status.value
        by_province[province][name] += count
    return {province: dict(counts) for province, counts in sorted(by_province.items())}


def slice_progress(session: Session, broadcast_id: int) -> tuple[int, int]:
    """(finished slices, all slices)."""
    done, total = session.execute(
        select(func.count().filter(BroadcastSlice.status != SliceStatus.PENDING), func.count()).where(
            BroadcastSlice.broadcast_id == broadcast_id
        )
    ).one()
    return done or 0, total or 0


def relay_broadcasts() -> dict[str, int]:
    """Start due scheduled broadcasts, re-enqueue slices whose run died or whose job was lost, send due
    deferrals, and mark finished broadcasts sent. Safe to run often, from any number of processes."""
    rt = runtime_module.current()
    now = utcnow()
    lease = timedelta(seconds=rt.settings.delivery_lease_seconds)
    grace = timedelta(seconds=rt.settings.relay_grace_seconds)
    requests: list[JobRequest] = []
    with rt.db.unit_of_work() as session:
        # Approved ones without send_at are due at once: their start job may have been lost with Redis.
        due = list(
            session.scalars(
                select(Broadcast.id).where(
                    Broadcast.status == BroadcastStatus.SCHEDULED,
                    or_(Broadcast.send_at.is_(None), Broadcast.send_at <= now),
                )
            )
        )
        requests += [start_job(broadcast_id) for broadcast_id in due]
        sending = list(session.scalars(select(Broadcast.id).where(Broadcast.status == BroadcastStatus.SENDING)))
        # A run that died: release its claim (a live run that lost it stops at its next commit).
        released = (
            list(
                session.scalars(
                    update(BroadcastSlice)
                    .where(
                        BroadcastSlice.broadcast_id.in_(sending),
                        BroadcastSlice.status == SliceStatus.PENDING,
                        BroadcastSlice.claim_token.is_not(None),
                        BroadcastSlice.claimed_at < now - lease,
                    )
                    .values(claim_token=None, updated_at=now)
                    .returning(BroadcastSlice.id)
                    .execution_options(synchronize_session=False)
                )
            )
            if sending
            else []
        )
        # Slices never claimed while no slice job waits in the queue: their jobs were lost (Redis).
        lost: list[int] = []
        if sending and rt.job_queue.waiting(SEND_BROADCAST_SLICE.queue) == 0:
            lost = list(
                session.scalars(
                    update(BroadcastSlice)
                    .where(
                        BroadcastSlice.broadcast_id.in_(sending),
                        BroadcastSlice.status == SliceStatus.PENDING,
                        BroadcastSlice.claim_token.is_(None),
                        BroadcastSlice.updated_at < now - grace,
                        BroadcastSlice.id.not_in(released),
                    )
                    .values(updated_at=now)
                    .returning(BroadcastSlice.id)
                    .execution_options(synchronize_session=False)
                )
            )
        requests += [slice_job(slice_id) for slice_id in released + lost]
        d = BroadcastDeferral
        with_due_deferrals = list(
            session.scalars(
                select(d.broadcast_id)
                .where(
                    ((d.status == DeferralStatus.WAITING) & (d.due_at <= now))
                    | ((d.status == DeferralStatus.SENDING) & (d.claimed_at < now - lease))
                )
                .distinct()
            )
        )
        requests += [deferrals_job(broadcast_id) for broadcast_id in with_due_deferrals]
    for broadcast_id in sending:
        finish_if_complete(broadcast_id)
    if requests:
        rt.job_queue.submit_many(requests)
        log.info(
            "broadcast relay: %d start(s), %d slice(s) re-enqueued, %d deferral run(s)",
            len(due),
            len(released) + len(lost),
            len(with_due_deferrals),
        )
    return {"started": len(due), "slices": len(released) + len(lost), "deferrals": len(with_due_deferrals)}
