"""The report queries on rows with known times: weeks and days counted in Vientiane time, first answers in time,
late, overdue or not yet due, medians, overdue answers, push outcomes per day and broadcast reach."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from lsso_mobile.errors import InvalidInput
from lsso_mobile.models import (
    Broadcast,
    BroadcastRead,
    BroadcastSlice,
    BroadcastStatus,
    Conversation,
    ConversationStatus,
    Delivery,
    DeliveryStatus,
    Device,
    Notification,
    RegistrationApplication,
    SliceStatus,
    StaffUser,
)
from lsso_mobile.services import reports
from tests.console.conftest import member_applies
from tests.messaging_support import member, start
from tests.support import make_member_with_devices

NOW = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)
PERIOD = reports.DateRange(date(2026, 11, 23), date(2026, 12, 6))
T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday 09:00 in Vientiane


def test_the_range_is_checked():
    assert reports.date_range(None, None, NOW) == reports.DateRange(date(2026, 9, 11), date(2026, 12, 3))
    with pytest.raises(InvalidInput) as reversed_range:
        reports.date_range(date(2026, 12, 2), date(2026, 12, 1), NOW)
    assert reversed_range.value.error == "report_range_reversed"
    with pytest.raises(InvalidInput) as too_long:
        reports.date_range(date(2025, 1, 1), date(2026, 12, 1), NOW)
    assert too_long.value.params == {"days": 366}
    assert PERIOD.weeks() == [date(2026, 11, 23), date(2026, 11, 30)] and len(PERIOD.days()) == 14


def test_registrations_are_counted_by_vientiane_week_and_province(client, sms_gateway, db, staff):
    ids = [member_applies(client, sms_gateway, f"+85620555950{i:02d}")[1] for i in range(3)]
    # Sunday 17:30 UTC is already Monday in Vientiane: the next week. One is outside the range.
    times = [datetime(2026, 11, 29, 17, 30, tzinfo=UTC), T0, datetime(2026, 11, 1, tzinfo=UTC)]
    for application_id, created in zip(ids, times, strict=True):
        db.execute(
            update(RegistrationApplication)
            .where(RegistrationApplication.id == application_id)
            .values(created_at=created)
        )
    db.commit()
    rows = reports.registrations_by_week(db, PERIOD)
    assert [(r.week, r.province_code, r.submitted, r.approved) for r in rows] == [
        (date(2026, 11, 23), "01", 1, 0),
        (date(2026, 11, 30), "01", 1, 0),
    ]


def test_first_answers_medians_and_overdue_by_office(client, sms_gateway, db, staff):
    headers = member(client, sms_gateway, "+8562055596001")
    ids = [start(client, headers, subject=f"Question {i}").json["conversation"]["id"] for i in range(4)]
    due = T0 + timedelta(hours=8)
    shapes = [
        {"first_responded_at": T0 + timedelta(minutes=30), "status": ConversationStatus.PENDING, "reply_due_at": None},
        {"first_responded_at": T0 + timedelta(hours=10), "status": ConversationStatus.PENDING, "reply_due_at": None},
        {"first_responded_at": None, "status": ConversationStatus.OPEN, "reply_due_at": due},
        {"first_responded_at": None, "status": ConversationStatus.OPEN, "reply_due_at": NOW + timedelta(hours=2)},
    ]
    for conversation_id, shape in zip(ids, shapes, strict=True):
        first_due = shape["reply_due_at"] or due
        db.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(created_at=T0, first_response_due_at=first_due, **shape)
        )
    db.commit()
    (office,) = reports.first_responses_by_office(db, PERIOD, NOW)
    assert office.office_code == "D0101"
    assert (office.conversations, office.in_time, office.late, office.overdue, office.waiting) == (4, 1, 1, 1, 1)
    assert office.in_time_share == pytest.approx(1 / 3)
    assert office.median_minutes == pytest.approx(315)  # the median of 30 and 600 minutes
    (overdue,) = reports.overdue_by_office(db, PERIOD, NOW)
    assert (overdue.office_code, overdue.overdue, overdue.oldest_due_at) == ("D0101", 1, due)
    assert reports.first_responses_by_office(db, reports.DateRange(date(2026, 10, 1), date(2026, 10, 31)), NOW) == []


def test_push_outcomes_per_day_and_broadcast_reach(app, db, staff):
    member_id = make_member_with_devices(db, "+8562055597001", [f"tok-report-device-{i:04d}" for i in range(3)])
    devices = db.scalars(select(Device.id).where(Device.member_id == member_id).order_by(Device.id)).all()
    notice = Notification(
        member_id=member_id, category="news", template="t", title_lo="ກ", body_lo="ກ", title_en="t", body_en="b"
    )
    db.add(notice)
    db.flush()
    evening = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)  # 26 November in Vientiane
    for device_id, status in zip(
        devices, [DeliveryStatus.SENT, DeliveryStatus.SENT, DeliveryStatus.UNREGISTERED], strict=True
    ):
        db.add(
            Delivery(
                notification_id=notice.id, device_id=device_id, status=status, claimed_at=evening, updated_at=evening
            )
        )
    ops_id = db.scalar(select(StaffUser.id).where(StaffUser.username == staff["ops"]))
    broadcast = Broadcast(
        title_lo="ແຈ້ງການ", body_lo="ກ", title_en="Notice", body_en="b", category="news", critical=False, audience={},
        status=BroadcastStatus.SENT, expires_at=NOW + timedelta(days=30), created_by=ops_id,
        published_at=datetime(2026, 12, 1, 3, 0, tzinfo=UTC), audience_members=2, audience_devices=10,
    )  # fmt: skip
    db.add(broadcast)
    db.flush()
    db.add(
        BroadcastSlice(
            broadcast_id=broadcast.id, first_device_id=1, last_device_id=10, position=10, status=SliceStatus.DONE,
            stats={"01": {"sent": 6, "failed": 1, "muted": 2}, "16": {"unregistered": 1}},
        )
    )  # fmt: skip
    db.add(BroadcastRead(broadcast_id=broadcast.id, member_id=member_id))
    db.commit()

    days = {row.day: row.counts for row in reports.push_outcomes_by_day(db, PERIOD)}
    assert len(days) == 14
    assert days[date(2026, 11, 26)] == {"sent": 2, "failed": 0, "unregistered": 1, "retry": 0, "sending": 0}
    assert days[date(2026, 11, 25)]["sent"] == 0
    assert days[date(2026, 12, 1)] == {"sent": 6, "failed": 1, "unregistered": 1, "retry": 0, "sending": 0}
    (reach,) = reports.broadcast_reach(db, PERIOD)
    assert reach.outcomes == {"sent": 6, "failed": 1, "unregistered": 1, "muted": 2, "waiting": 0, "dropped": 0}
    assert (reach.read_by, reach.reach, reach.audience_members) == (1, 0.6, 2)
