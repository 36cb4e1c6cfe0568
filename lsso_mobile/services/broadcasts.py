"""Broadcast notices: written by one ops user, approved by another, then sent in slices.

draft -> awaiting_approval -> scheduled -> sending -> sent; a draft, a notice awaiting approval and a
scheduled one can be cancelled; one that is sending or sent can be withdrawn from inboxes. Every
transition is a ``broadcast_events`` row with who and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from lsso_mobile.errors import Conflict, Forbidden, InvalidInput, NotFound
from lsso_mobile.jobs import SEND_BROADCAST_SMS, enqueue_after_commit
from lsso_mobile.models import (
    Broadcast,
    BroadcastDeferral,
    BroadcastEvent,
    BroadcastSlice,
    BroadcastStatus,
    DeferralStatus,
    Device,
    District,
    Province,
    SliceStatus,
    utcnow,
)
from lsso_mobile.notify.delivery import PushText, clip_push_text
from lsso_mobile.services.accounts import Principal
from lsso_mobile.services.audience import Audience, AudienceSize, audience_size
from lsso_mobile.services.broadcast_delivery import broadcast_stats, record_event, slice_progress, start_job
from lsso_mobile.services.paging import keyset_page
from lsso_mobile.services.staff import staff_names

DEFAULT_LIFETIME = timedelta(days=30)
MAX_LIFETIME = timedelta(days=90)
MAX_SCHEDULE_AHEAD = timedelta(days=90)
CANCELLABLE = (BroadcastStatus.DRAFT, BroadcastStatus.AWAITING_APPROVAL, BroadcastStatus.SCHEDULED)
WITHDRAWABLE = (BroadcastStatus.SENDING, BroadcastStatus.SENT)


@dataclass(frozen=True)
class BroadcastDraft:
    title_lo: str
    body_lo: str
    title_en: str
    body_en: str
    category: str
    critical: bool
    audience: Audience
    send_at: datetime | None
    expires_at: datetime | None
    sms_fallback: bool = False  # also by SMS to audience members with no active device, or SMS only


# What ``events`` of a broadcast may say was done (the API lists them as an enum).
EVENT_ACTIONS = ("created", "edited", "submitted", "approved", "rejected", "cancelled", "withdrawn", "sending", "sent")


def _check_audience(session: Session, audience: Audience) -> None:
    errors: dict[str, list[str]] = {}
    if audience.provinces:
        known = set(session.scalars(select(Province.code).where(Province.code.in_(audience.provinces))))
        if missing := sorted(set(audience.provinces) - known):
            errors["provinces"] = [f"Unknown province code(s): {', '.join(missing)}"]
    if audience.districts:
        known = set(session.scalars(select(District.code).where(District.code.in_(audience.districts))))
        if missing := sorted(set(audience.districts) - known):
            errors["districts"] = [f"Unknown district code(s): {', '.join(missing)}"]
    if errors:
        raise InvalidInput(
            "The audience names places that do not exist.", error="audience_unknown_places", errors={"audience": errors}
        )


def _timing(draft: BroadcastDraft, now: datetime) -> tuple[datetime | None, datetime]:
    start = draft.send_at or now
    if draft.send_at is not None and not now < draft.send_at <= now + MAX_SCHEDULE_AHEAD:
        raise InvalidInput(
            "send_at must be in the future, at most 90 days ahead.",
            error="send_at_out_of_range",
            errors={"send_at": ["out of range"]},
        )
    expires_at = draft.expires_at or start + DEFAULT_LIFETIME
    if not start + timedelta(hours=1) <= expires_at <= start + MAX_LIFETIME:
        raise InvalidInput(
            "expires_at must be between 1 hour and 90 days after sending.",
            error="expires_at_out_of_range",
            errors={"expires_at": ["out of range"]},
        )
    return draft.send_at, expires_at


def create_broadcast(session: Session, author: Principal, draft: BroadcastDraft, now: datetime) -> Broadcast:
    _check_audience(session, draft.audience)
    send_at, expires_at = _timing(draft, now)
    broadcast = Broadcast(
        title_lo=draft.title_lo,
        body_lo=draft.body_lo,
        title_en=draft.title_en,
        body_en=draft.body_en,
        category=draft.category,
        critical=draft.critical,
        sms_fallback=draft.sms_fallback,
        audience=draft.audience.to_json(),
        status=BroadcastStatus.DRAFT,
        send_at=send_at,
        expires_at=expires_at,
        created_by=author.id,
        created_at=now,
        updated_at=now,
    )
    session.add(broadcast)
    session.flush()
    record_event(session, broadcast.id, "created", broadcast.status, author.id, now)
    return broadcast


def get_broadcast(session: Session, broadcast_id: int, *, lock: bool = False) -> Broadcast:
    query = select(Broadcast).where(Broadcast.id == broadcast_id)
    # FOR NO KEY UPDATE: slice runs insert deferrals whose foreign key takes KEY SHARE on this row;
    # a plain FOR UPDATE here would deadlock a withdrawal against them.
    broadcast = session.scalar(query.with_for_update(key_share=True) if lock else query)
    if broadcast is None:
        raise NotFound("No such broadcast.", error="broadcast_not_found")
    return broadcast


def _require(broadcast: Broadcast, allowed: tuple[BroadcastStatus, ...], action: str) -> None:
    if broadcast.status not in allowed:
        raise Conflict(
            "The broadcast's status does not allow this.",
            error="broadcast_status_conflict",
            params={"status": broadcast.status.value, "action": action},
            errors={"status": ["Not allowed in this status."]},
        )


def update_draft(
    session: Session, editor: Principal, broadcast_id: int, draft: BroadcastDraft, now: datetime
) -> Broadcast:
    broadcast = get_broadcast(session, broadcast_id, lock=True)
    _require(broadcast, (BroadcastStatus.DRAFT,), "edited")
    if broadcast.created_by != editor.id:
        raise Forbidden("Only the author edits a draft; approvers review it unchanged.", error="not_author")
    _check_audience(session, draft.audience)
    broadcast.send_at, broadcast.expires_at = _timing(draft, now)
    broadcast.title_lo, broadcast.body_lo = draft.title_lo, draft.body_lo
    broadcast.title_en, broadcast.body_en = draft.title_en, draft.body_en
    broadcast.category, broadcast.critical = draft.category, draft.critical
    broadcast.sms_fallback = draft.sms_fallback
    broadcast.audience = draft.audience.to_json()
    broadcast.updated_at = now
    record_event(session, broadcast.id, "edited", broadcast.status, editor.id, now)
    return broadcast


def _transition(
    session: Session,
    broadcast: Broadcast,
    status: BroadcastStatus,
    action: str,
    staff_id: int | None,
    now: datetime,
    note: str | None = None,
) -> Broadcast:
    broadcast.status = status
    broadcast.updated_at = now
    record_event(session, broadcast.id, action, status, staff_id, now, note)
    return broadcast


def submit_for_approval(session: Session, author: Principal, broadcast_id: int, now: datetime) -> Broadcast:
    broadcast = get_broadcast(session, broadcast_id, lock=True)
    _require(broadcast, (BroadcastStatus.DRAFT,), "submitted")
    if broadcast.created_by != author.id:
        raise Forbidden("Only the author submits a draft for approval.", error="not_author")
    if broadcast.send_at is not None and broadcast.send_at <= now:
        raise InvalidInput(
            "send_at has passed; set a new time or send it at once.",
            error="send_at_passed",
            errors={"send_at": ["passed"]},
        )
    return _transition(session, broadcast, BroadcastStatus.AWAITING_APPROVAL, "submitted", author.id, now)


def approve(session: Session, approver: Principal, broadcast_id: int, now: datetime) -> Broadcast:
    """The second pair of eyes. Sending starts at once, or at ``send_at``."""
    broadcast = get_broadcast(session, broadcast_id, lock=True)
    _require(broadcast, (BroadcastStatus.AWAITING_APPROVAL,), "approved")
    if broadcast.created_by == approver.id:
        raise Forbidden("A broadcast must be approved by a different ops user than its author.", error="same_approver")
    if broadcast.expires_at < max(now, broadcast.send_at or now) + timedelta(hours=1):
        raise Conflict(
            "It would expire within an hour of going out; the author must set a later expiry.",
            error="expires_too_soon",
            errors={"expires_at": ["too soon"]},
        )
    broadcast.approved_by = approver.id
    _transition(session, broadcast, BroadcastStatus.SCHEDULED, "approved", approver.id, now)
    later = broadcast.send_at if broadcast.send_at is not None and broadcast.send_at > now else None
    enqueue_after_commit(session, start_job(broadcast.id, later))  # the relay is the safety net for both
    return broadcast


def reject(session: Session, reviewer: Principal, broadcast_id: int, note: str, now: datetime) -> Broadcast:
    """Back to its author as a draft, with the reason."""
    broadcast = get_broadcast(session, broadcast_id, lock=True)
    _require(broadcast, (BroadcastStatus.AWAITING_APPROVAL,), "sent back")
    if broadcast.created_by == reviewer.id:
        raise Forbidden(
            "The author withdraws a submission by cancelling it, not by rejecting it.", error="author_cannot_reject"
        )
    return _transition(session, broadcast, BroadcastStatus.DRAFT, "rejected", reviewer.id, now, note)


def cancel(session: Session, staff: Principal, broadcast_id: int, now: datetime) -> Broadcast:
    broadcast = get_broadcast(session, broadcast_id, lock=True)
    _require(broadcast, CANCELLABLE, "cancelled")
    return _transition(session, broadcast, BroadcastStatus.CANCELLED, "cancelled", staff.id, now)


def withdraw(session: Session, staff: Principal, broadcast_id: int, now: datetime) -> Broadcast:
    """Out of every inbox at once; slices stop at their next call and deferred pushes are dropped."""
    broadcast = get_broadcast(session, broadcast_id, lock=True)
    _require(broadcast, WITHDRAWABLE, "withdrawn")
    broadcast.withdrawn_at = now
    session.execute(
        update(BroadcastSlice)
        .where(BroadcastSlice.broadcast_id == broadcast_id, BroadcastSlice.status == SliceStatus.PENDING)
        .values(status=SliceStatus.STOPPED, updated_at=now)
    )
    session.execute(
        update(BroadcastDeferral)
        .where(BroadcastDeferral.broadcast_id == broadcast_id, BroadcastDeferral.status == DeferralStatus.WAITING)
        .values(status=DeferralStatus.DROPPED)
    )
    return _transition(session, broadcast, BroadcastStatus.WITHDRAWN, "withdrawn", staff.id, now)


def preview(session: Session, audience: Audience, now: datetime) -> AudienceSize:
    _check_audience(session, audience)
    return audience_size(session, audience, now)


def list_broadcasts(
    session: Session, status: BroadcastStatus | None, before_id: int | None, limit: int
) -> list[Broadcast]:
    query = select(Broadcast)
    if status is not None:
        query = query.where(Broadcast.status == status)
    return list(session.scalars(keyset_page(query, Broadcast.id, before_id, limit, newest_first=True)))


def events_of(session: Session, broadcast_id: int) -> list[BroadcastEvent]:
    return list(
        session.scalars(
            select(BroadcastEvent).where(BroadcastEvent.broadcast_id == broadcast_id).order_by(BroadcastEvent.id)
        )
    )


def start_broadcast(session: Session, broadcast: Broadcast, now: datetime, slice_devices: int) -> list[int]:
    """Sending begins: snapshot the audience size, cut the device ids into slices, publish to inboxes.

    Slicing reads only the lowest and highest device id, so it costs the same for ten devices or
    five million; each slice job then finds its audience within its own range.
    """
    size = audience_size(session, Audience.from_json(broadcast.audience), now)
    broadcast.audience_members, broadcast.audience_devices = size.members, size.devices
    low, high = session.execute(select(func.min(Device.id), func.max(Device.id))).one()
    # Stamped after the counting, just before the commit: a member's delta sync (which looks back
    # 30 s) cannot miss it.
    broadcast.published_at = utcnow()
    _transition(session, broadcast, BroadcastStatus.SENDING, "sending", None, now)
    if broadcast.sms_fallback:
        enqueue_after_commit(
            session, SEND_BROADCAST_SMS.request(broadcast.id, description=f"send_broadcast_sms({broadcast.id})")
        )
    if low is None:
        return []
    rows = [
        {
            "broadcast_id": broadcast.id,
            "first_device_id": first,
            "last_device_id": min(high, first + slice_devices - 1),
            "position": first - 1,
            "status": SliceStatus.PENDING.value,
            "runs": 0,
            "stats": {},
            "updated_at": now,
        }
        for first in range(low, high + 1, slice_devices)
    ]
    for start in range(0, len(rows), 1000):
        session.execute(insert(BroadcastSlice), rows[start : start + 1000])
    return list(
        session.scalars(
            select(BroadcastSlice.id).where(BroadcastSlice.broadcast_id == broadcast.id).order_by(BroadcastSlice.id)
        )
    )


# -- what the console shows: the phone preview, progress and results -----------------------------------


def phone_previews(title_lo: str, body_lo: str, title_en: str, body_en: str) -> dict[str, PushText]:
    """The push each language's members would get, clipped by the rule the sender uses."""
    return {"lo": clip_push_text(title_lo, body_lo), "en": clip_push_text(title_en, body_en)}


OUTCOMES = ("sent", "failed", "unregistered", "muted", "waiting", "dropped")


@dataclass(frozen=True)
class BroadcastResults:
    """Progress while sending and outcomes afterwards, in devices (a member may have several)."""

    slices_done: int
    slices_total: int
    totals: dict[str, int]
    by_province: dict[str, dict[str, int]]  # province code ("" unknown) -> outcome -> devices
    pushes_per_second: float | None  # FCM calls' messages per second since sending began

    @property
    def pushed(self) -> int:
        return self.totals["sent"] + self.totals["failed"] + self.totals["unregistered"]


def broadcast_results(session: Session, broadcast: Broadcast, now: datetime) -> BroadcastResults:
    by_province = broadcast_stats(session, broadcast.id)
    done, total = slice_progress(session, broadcast.id)
    rows = {province: {o: counts.get(o, 0) for o in OUTCOMES} for province, counts in by_province.items()}
    totals = {o: sum(counts[o] for counts in rows.values()) for o in OUTCOMES}
    rate = None
    if broadcast.published_at is not None:
        end = broadcast.finished_at or now
        seconds = (end - broadcast.published_at).total_seconds()
        pushed = totals["sent"] + totals["failed"] + totals["unregistered"]
        rate = pushed / seconds if seconds > 0 and pushed else 0.0
    return BroadcastResults(done, total, totals, rows, rate)


@dataclass(frozen=True)
class EventView:
    event: BroadcastEvent
    staff_name: str | None  # None: the system


def history_of(session: Session, broadcast_id: int) -> list[EventView]:
    """Every step of a broadcast with the name of who took it."""
    events = events_of(session, broadcast_id)
    names = staff_names(session, {e.staff_id for e in events})
    return [EventView(e, names.get(e.staff_id) if e.staff_id is not None else None) for e in events]


def author_names(session: Session, broadcasts: list[Broadcast]) -> dict[int, str]:
    ids: set[int | None] = {b.created_by for b in broadcasts}
    return staff_names(session, ids | {b.approved_by for b in broadcasts})


def count_awaiting_approval(session: Session, reviewer_id: int) -> int:
    """Broadcasts this ops user may approve: submitted by someone else."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Broadcast)
            .where(Broadcast.status == BroadcastStatus.AWAITING_APPROVAL, Broadcast.created_by != reviewer_id)
        )
        or 0
    )
