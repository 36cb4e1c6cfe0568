"""SMS fallback: a notice that matters and was not acknowledged by the app in time goes by SMS, once.

A notice that can fall back carries ``sms_due_at`` (``notify/outbox.py``). The app's acknowledgement clears
it; the scan here reads only notices whose ``sms_due_at`` has come, through a partial index that holds
nothing but the notices still undecided, so its cost follows the notices due now, never every notice ever
sent. Each due notice is settled in the same transaction as its SMS row: sent (``queued``), or not sent
because the member muted the category since (``muted``), reached the daily cap (``capped``); a member in
quiet hours waits until they end. Critical notices ignore muting, quiet hours and the cap. A unique index on
``sms_messages.notification_id`` makes a second SMS for one notice impossible, whatever runs twice.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from lsso_mobile import metrics
from lsso_mobile.config import Settings
from lsso_mobile.models import (
    Broadcast,
    BroadcastStatus,
    Delivery,
    DeliveryStatus,
    Device,
    Language,
    Member,
    Notification,
    NotificationPreference,
    SmsMessage,
)
from lsso_mobile.notify.preferences import CHANNEL_SMS, VIENTIANE, get_preferences, quiet_period_end
from lsso_mobile.notify.sms_text import fit
from lsso_mobile.services.audience import Audience, audience_condition
from lsso_mobile.services.sms import OutgoingSms, queue_many_sms, queue_sms

log = logging.getLogger(__name__)

SCAN_BATCH = 500
PURPOSE_NOTICE = "notice"


def due_notices(session: Session, now: datetime, limit: int = SCAN_BATCH) -> list[int]:
    """Ids of notices whose SMS is due now, oldest first, locked for this transaction (others skip them)."""
    query = (
        select(Notification.id)
        .where(Notification.sms_due_at.is_not(None), Notification.sms_due_at <= now)
        .order_by(Notification.sms_due_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def vientiane_day_start(now: datetime) -> datetime:
    local = now.astimezone(VIENTIANE)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(now.tzinfo)


def sms_sent_today(session: Session, member_id: int, now: datetime) -> int:
    """SMS about notices and broadcasts this member got since midnight in Vientiane (the daily cap counts them)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(SmsMessage)
            .where(
                SmsMessage.member_id == member_id,
                SmsMessage.created_at >= vientiane_day_start(now),
                (SmsMessage.notification_id.is_not(None)) | (SmsMessage.broadcast_id.is_not(None)),
            )
        )
        or 0
    )


def _settle_all(session: Session, settled: dict[str | None, list[int]]) -> None:
    """One UPDATE per outcome for the whole batch (not one a notice)."""
    for outcome, ids in settled.items():
        if ids:
            session.execute(
                update(Notification)
                .where(Notification.id.in_(ids))
                .values(sms_due_at=None, sms_outcome=outcome, sms_lo=None, sms_en=None)
                .execution_options(synchronize_session=False)
            )


def _preferences(session: Session, member_ids: set[int]) -> dict[int, NotificationPreference]:
    return {
        p.member_id: p
        for p in session.scalars(select(NotificationPreference).where(NotificationPreference.member_id.in_(member_ids)))
    }


def _sent_today(session: Session, member_ids: set[int], now: datetime) -> dict[int, int]:
    """SMS about notices and broadcasts each member got since midnight in Vientiane (the daily cap counts them)."""
    return {
        member_id: count
        for member_id, count in session.execute(
            select(SmsMessage.member_id, func.count())
            .where(
                SmsMessage.member_id.in_(member_ids),
                SmsMessage.created_at >= vientiane_day_start(now),
                (SmsMessage.notification_id.is_not(None)) | (SmsMessage.broadcast_id.is_not(None)),
            )
            .group_by(SmsMessage.member_id)
        )
        if member_id is not None
    }


def _pushed(session: Session, ids: list[int]) -> set[int]:
    """Those of these notices that reached at least one device (FCM accepted a push for it)."""
    return set(
        session.scalars(
            select(Delivery.notification_id)
            .where(Delivery.notification_id.in_(ids), Delivery.status == DeliveryStatus.SENT)
            .distinct()
        )
    )


def send_due_fallbacks(session: Session, settings: Settings, ids: Sequence[int], now: datetime) -> Counter[str]:
    """Settle each of these notices that is (still) due: an SMS in the outbox, or the reason there is none.
    A batch costs a fixed number of statements, whatever its size."""
    outcomes: Counter[str] = Counter()
    if not ids:
        return outcomes
    query = select(Notification).where(
        Notification.id.in_(list(ids)), Notification.sms_due_at.is_not(None), Notification.sms_due_at <= now
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    notices = list(session.scalars(query))
    if not notices:
        return outcomes
    member_ids = {n.member_id for n in notices}
    members = {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(member_ids)))}
    preferences = _preferences(session, member_ids)
    sent_today = _sent_today(session, {n.member_id for n in notices if not n.critical}, now)
    outgoing: list[OutgoingSms] = []
    settled: dict[str | None, list[int]] = defaultdict(list)
    reasons: Counter[str] = Counter()  # why each queued SMS replaces a push, for the metrics
    pushed = _pushed(session, [n.id for n in notices])

    def settle(notice: Notification, outcome: str | None, counted_as: str) -> None:
        settled[outcome].append(notice.id)
        outcomes[counted_as] += 1

    for notice in notices:
        member = members.get(notice.member_id)
        if notice.acked_at is not None:  # an acknowledgement raced the scan and lost the lock: nothing to send
            settle(notice, None, "acknowledged")
            continue
        if member is None:
            settle(notice, "no_phone", "no_phone")
            continue
        preference = preferences.get(member.id)
        if not notice.critical and preference is not None:
            if notice.category in (preference.muted_categories or []):
                settle(notice, "muted", "muted")
                continue
            quiet_end = quiet_period_end(now, preference.quiet_start, preference.quiet_end)
            if quiet_end is not None:
                notice.sms_due_at = quiet_end  # rare: the ORM writes it
                outcomes["quiet_hours"] += 1
                continue
        if not notice.critical and sent_today.get(member.id, 0) >= settings.sms_daily_cap:
            settle(notice, "capped", "capped")
            continue
        text = notice.sms_en if member.language is Language.ENGLISH else notice.sms_lo
        if not text:
            settle(notice, "no_text", "no_text")
            continue
        sent_today[member.id] = sent_today.get(member.id, 0) + 1
        outgoing.append(
            OutgoingSms(
                member.phone,
                text,
                PURPOSE_NOTICE,
                member_id=member.id,
                notification_id=notice.id,
                office_id=member.office_id,
                category=notice.category,
            )
        )
        settle(notice, "queued", "queued")
        if preference is not None and preference.channel == CHANNEL_SMS:
            reasons["sms_only"] += 1
        else:  # a push reached a device but the app did not acknowledge it; or no device took a push at all
            reasons["unacknowledged" if notice.id in pushed else "no_device"] += 1
    session.flush()
    _settle_all(session, settled)
    queue_many_sms(session, settings, outgoing)
    for reason, count in reasons.items():
        metrics.count_on_commit(session, metrics.SMS_FALLBACK_SENDS.labels(reason=reason), count)
    for why in ("muted", "capped", "no_text", "no_phone", "acknowledged"):
        if outcomes[why]:
            metrics.count_on_commit(session, metrics.SMS_FALLBACK_WITHHELD.labels(why=why), outcomes[why])
    return outcomes


def scan_once(session: Session, settings: Settings, now: datetime, limit: int = SCAN_BATCH) -> Counter[str]:
    """One batch of the fallback scan: the due notices, settled. Empty when nothing is due."""
    return send_due_fallbacks(session, settings, due_notices(session, now, limit), now)


def next_due_in(session: Session, now: datetime) -> timedelta | None:
    """How long until the next notice falls due (None: none is waiting)."""
    soonest = session.scalar(select(func.min(Notification.sms_due_at)).where(Notification.sms_due_at.is_not(None)))
    return None if soonest is None else max(timedelta(0), soonest - now)


# -- broadcasts ops chose to send by SMS too -----------------------------------------------------------------

PURPOSE_BROADCAST = "broadcast"
BROADCAST_SMS_PARTS = 2


def broadcast_sms_text(broadcast: Broadcast, language: Language) -> str:
    if language is Language.ENGLISH:
        return fit(f"LSSO: {broadcast.title_en}. {broadcast.body_en}", BROADCAST_SMS_PARTS)
    return fit(f"ປກສ: {broadcast.title_lo}. {broadcast.body_lo}", BROADCAST_SMS_PARTS)


def broadcast_sms_batch(
    session: Session, settings: Settings, broadcast_id: int, after_member_id: int, now: datetime
) -> tuple[Counter[str], int | None, datetime | None]:
    """The next members (by id, after ``after_member_id``) of a flagged broadcast's audience who have no active
    device or chose SMS only and have no SMS of it yet: one SMS each. Answers the outcomes, the last member id
    read (None: the audience is done) and the earliest end of quiet hours of a member who must wait."""
    outcomes: Counter[str] = Counter()
    broadcast = session.get(Broadcast, broadcast_id)
    if (
        broadcast is None
        or not broadcast.sms_fallback
        or broadcast.status not in (BroadcastStatus.SENDING, BroadcastStatus.SENT)
        or broadcast.expires_at <= now
    ):
        return outcomes, None, None
    has_device = select(Device.id).where(Device.member_id == Member.id, Device.active.is_(True)).exists()
    sms_only = Member.id.in_(select(NotificationPreference.member_id).where(NotificationPreference.channel == "sms"))
    already = (
        select(SmsMessage.id).where(SmsMessage.broadcast_id == broadcast_id, SmsMessage.member_id == Member.id).exists()
    )
    members = list(
        session.scalars(
            select(Member)
            .where(
                Member.id > after_member_id,
                audience_condition(session, Audience.from_json(broadcast.audience), now),
                or_(~has_device, sms_only),
                ~already,
            )
            .order_by(Member.id)
            .limit(SCAN_BATCH)
        )
    )
    wait_until: datetime | None = None
    for member in members:
        preferences = get_preferences(session, member.id)
        if not broadcast.critical:
            if broadcast.category in (preferences.muted_categories or []):
                outcomes["muted"] += 1
                continue
            quiet_end = quiet_period_end(now, preferences.quiet_start, preferences.quiet_end)
            if quiet_end is not None:
                wait_until = quiet_end if wait_until is None else min(wait_until, quiet_end)
                outcomes["quiet_hours"] += 1
                continue
            if sms_sent_today(session, member.id, now) >= settings.sms_daily_cap:
                outcomes["capped"] += 1
                continue
        queue_sms(
            session,
            settings,
            member.phone,
            broadcast_sms_text(broadcast, member.language),
            PURPOSE_BROADCAST,
            member_id=member.id,
            broadcast_id=broadcast.id,
            office_id=member.office_id,
            category=broadcast.category,
        )
        outcomes["queued"] += 1
    session.flush()
    if outcomes["queued"]:
        metrics.count_on_commit(session, metrics.SMS_FALLBACK_SENDS.labels(reason="broadcast"), outcomes["queued"])
    for why in ("muted", "capped"):
        if outcomes[why]:
            metrics.count_on_commit(session, metrics.SMS_FALLBACK_WITHHELD.labels(why=why), outcomes[why])
    last = members[-1].id if len(members) == SCAN_BATCH else None
    return outcomes, last, wait_until
