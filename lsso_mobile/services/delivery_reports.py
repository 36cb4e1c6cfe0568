"""What reached members, for ops and the office: channel health per member, delivery per notice and per
broadcast, and what SMS cost by day, office and category.

Officers see their own office's members and notices (another office's is "not found"); ops and admins see all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, case, cast, func, select
from sqlalchemy.orm import Session

from lsso_mobile.errors import InvalidInput, NotFound
from lsso_mobile.models import (
    Broadcast,
    BroadcastAck,
    BroadcastSlice,
    Delivery,
    DeliveryStatus,
    Device,
    Member,
    Notification,
    Office,
    SmsMessage,
    StaffRole,
)
from lsso_mobile.notify.preferences import get_preferences
from lsso_mobile.services.accounts import Principal

HEALTH_WINDOW = timedelta(days=30)
MAX_COST_DAYS = 92


def _member_in_reach(session: Session, staff: Principal, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None or (staff.role == StaffRole.OFFICER.value and member.office_id != staff.office_id):
        raise NotFound("No such member.", error="member_not_found")
    return member


@dataclass(frozen=True)
class ChannelHealth:
    member_id: int
    channel: str
    active_devices: int
    last_app_start: datetime | None
    last_ack: datetime | None
    notices: int  # personal notices of the last 30 days
    pushed: int  # ... of which FCM accepted at least one push
    acknowledged: int  # ... of which the app acknowledged
    ack_share: float | None  # acknowledged / pushed
    sms: int  # SMS to this member in the last 30 days
    sms_parts: int


def channel_health(session: Session, staff: Principal, member_id: int, now: datetime) -> ChannelHealth:
    member = _member_in_reach(session, staff, member_id)
    since = now - HEALTH_WINDOW
    devices, last_start = session.execute(
        select(func.count(case((Device.active.is_(True), 1))), func.max(Device.last_seen_at)).where(
            Device.member_id == member.id
        )
    ).one()
    pushed_any = (
        select(Delivery.id)
        .where(Delivery.notification_id == Notification.id, Delivery.status == DeliveryStatus.SENT)
        .exists()
    )
    notices, pushed, acknowledged = session.execute(
        select(
            func.count(),
            func.count(case((pushed_any, 1))),
            func.count(Notification.acked_at),
        ).where(Notification.member_id == member.id, Notification.created_at >= since)
    ).one()
    last_ack = session.scalar(select(func.max(Notification.acked_at)).where(Notification.member_id == member.id))
    last_broadcast_ack = session.scalar(
        select(func.max(BroadcastAck.acked_at)).where(BroadcastAck.member_id == member.id)
    )
    if last_broadcast_ack is not None and (last_ack is None or last_broadcast_ack > last_ack):
        last_ack = last_broadcast_ack
    sms, parts = session.execute(
        select(func.count(), func.coalesce(func.sum(SmsMessage.parts), 0)).where(
            SmsMessage.member_id == member.id, SmsMessage.created_at >= since
        )
    ).one()
    return ChannelHealth(
        member_id=member.id,
        channel=get_preferences(session, member.id).channel,
        active_devices=devices,
        last_app_start=last_start,
        last_ack=last_ack,
        notices=notices,
        pushed=pushed,
        acknowledged=acknowledged,
        ack_share=round(acknowledged / pushed, 3) if pushed else None,
        sms=sms,
        sms_parts=int(parts),
    )


@dataclass(frozen=True)
class SmsReport:
    parts: int
    encoding: str
    sent_at: datetime | None
    report_status: str | None
    report_error: str | None
    reported_at: datetime | None


@dataclass(frozen=True)
class NoticeDelivery:
    notification_id: int
    member_id: int
    category: str
    template: str
    critical: bool
    created_at: datetime
    pushes: dict[str, int]  # device pushes by outcome (sent, failed, unregistered, retry, sending)
    acked_at: datetime | None
    sms_due_at: datetime | None
    sms_outcome: str | None
    sms: SmsReport | None


def _sms_report(message: SmsMessage | None) -> SmsReport | None:
    if message is None:
        return None
    return SmsReport(
        message.parts,
        message.encoding,
        message.sent_at,
        message.report_status,
        message.report_error,
        message.reported_at,
    )


def notice_delivery(session: Session, staff: Principal, notification_id: int) -> NoticeDelivery:
    notice = session.get(Notification, notification_id)
    if notice is None:
        raise NotFound("No such notification.", error="notification_not_found")
    try:
        _member_in_reach(session, staff, notice.member_id)
    except NotFound:
        raise NotFound("No such notification.", error="notification_not_found") from None
    pushes = {
        str(status): count
        for status, count in session.execute(
            select(Delivery.status, func.count()).where(Delivery.notification_id == notice.id).group_by(Delivery.status)
        )
    }
    message = session.scalars(select(SmsMessage).where(SmsMessage.notification_id == notice.id)).first()
    return NoticeDelivery(
        notice.id,
        notice.member_id,
        notice.category,
        notice.template,
        notice.critical,
        notice.created_at,
        pushes,
        notice.acked_at,
        notice.sms_due_at,
        notice.sms_outcome,
        _sms_report(message),
    )


@dataclass(frozen=True)
class BroadcastDelivery:
    broadcast_id: int
    sms_fallback: bool
    audience_members: int | None
    pushed: int  # pushes FCM accepted (slices' counts)
    acknowledged: int  # members whose app acknowledged it
    sms: int
    sms_parts: int
    sms_reports: dict[str, int] = field(default_factory=dict)  # SMS by the gateway's latest report ("none": none yet)


def broadcast_delivery(session: Session, broadcast_id: int) -> BroadcastDelivery:
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise NotFound("No such broadcast.", error="broadcast_not_found")
    pushed = 0
    for stats in session.scalars(select(BroadcastSlice.stats).where(BroadcastSlice.broadcast_id == broadcast_id)):
        pushed += sum(int(counts.get("sent", 0)) for counts in (stats or {}).values())
    acknowledged = (
        session.scalar(select(func.count()).select_from(BroadcastAck).where(BroadcastAck.broadcast_id == broadcast_id))
        or 0
    )
    reports: dict[str, int] = {}
    sms = parts = 0
    for status, count, part_sum in session.execute(
        select(SmsMessage.report_status, func.count(), func.coalesce(func.sum(SmsMessage.parts), 0))
        .where(SmsMessage.broadcast_id == broadcast_id)
        .group_by(SmsMessage.report_status)
    ):
        reports[status or "none"] = count
        sms += count
        parts += int(part_sum)
    return BroadcastDelivery(
        broadcast.id, broadcast.sms_fallback, broadcast.audience_members, pushed, acknowledged, sms, parts, reports
    )


@dataclass(frozen=True)
class CostRow:
    day: date
    office_code: str | None
    category: str
    messages: int
    parts: int
    cost: int  # kip: parts x LSSO_SMS_COST_PER_PART


def _local_day(session: Session) -> Any:
    """The SMS's day in Vientiane (UTC+7 all year: Laos keeps no summer time)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("Asia/Vientiane", SmsMessage.created_at), Date)
    return func.date(SmsMessage.created_at, "+7 hours")


def sms_costs(session: Session, first: date, last: date, cost_per_part: int, office_id: int | None) -> list[CostRow]:
    """SMS sent (handed to the gateway) per Vientiane day, office and category, from ``first`` to ``last``."""
    if last < first or (last - first).days >= MAX_COST_DAYS:
        raise InvalidInput(
            "Give a range of at most 92 days, from first to last.",
            error="cost_range_invalid",
            errors={"to": ["Give a range of at most 92 days, from first to last."]},
        )
    start_utc = datetime(first.year, first.month, first.day, tzinfo=UTC) - timedelta(hours=7)
    end_utc = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1, hours=-7)
    day = _local_day(session).label("day")
    query = (
        select(
            day,
            Office.code,
            func.coalesce(SmsMessage.category, SmsMessage.purpose),
            func.count(),
            func.coalesce(func.sum(SmsMessage.parts), 0),
        )
        .select_from(SmsMessage)
        .outerjoin(Office, Office.id == SmsMessage.office_id)
        .where(
            SmsMessage.created_at >= start_utc,
            SmsMessage.created_at < end_utc,
            SmsMessage.sent_at.is_not(None),
        )
        .group_by(day, Office.code, func.coalesce(SmsMessage.category, SmsMessage.purpose))
        .order_by(day, Office.code, func.coalesce(SmsMessage.category, SmsMessage.purpose))
    )
    if office_id is not None:
        query = query.where(SmsMessage.office_id == office_id)
    rows = []
    for raw_day, office_code, category, messages, parts in session.execute(query):
        the_day = raw_day if isinstance(raw_day, date) else date.fromisoformat(str(raw_day))
        rows.append(CostRow(the_day, office_code, category, messages, int(parts), int(parts) * cost_per_part))
    return rows
