"""Devices, the notification outbox/inbox, per-device deliveries and members' push preferences."""

from __future__ import annotations

import enum
from datetime import datetime, time
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from lsso_mobile.models.base import Base, str_enum, utcnow


class Platform(enum.StrEnum):
    ANDROID = "android"
    IOS = "ios"
    WEB = "web"


class Device(Base):
    __tablename__ = "devices"
    __table_args__ = (Index("ix_devices_member_active", "member_id", "active"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    # The sign-in that registered it: ending that sign-in (logout, PIN change) stops its pushes.
    auth_session_id: Mapped[str | None] = mapped_column(ForeignKey("auth_sessions.id"), index=True)
    token: Mapped[str] = mapped_column(String(1024), unique=True)
    platform: Mapped[Platform] = mapped_column(str_enum(Platform, 8))
    app_version: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    deactivated_at: Mapped[datetime | None]
    deactivated_reason: Mapped[str | None] = mapped_column(String(32))


class DispatchStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for (or in) a delivery job
    DONE = "done"  # every device has a final delivery outcome
    SKIPPED = "skipped"  # muted, or the member has no active device


class Notification(Base):
    """A member-facing notice: the inbox entry and the outbox row of its push, in one."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_member_id_id", "member_id", "id"),
        Index("ix_notifications_member_updated", "member_id", "updated_at"),
        Index("ix_notifications_dispatch", "dispatch_status", "deliver_after"),
        # Only notices still waiting to learn whether they need an SMS are in this index: the fallback scan
        # reads the due ones and never the millions already settled (acknowledged, sent by SMS, not needed).
        Index(
            "ix_notifications_sms_due",
            "sms_due_at",
            postgresql_where=text("sms_due_at IS NOT NULL"),
            sqlite_where=text("sms_due_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    category: Mapped[str] = mapped_column(String(32))
    template: Mapped[str] = mapped_column(String(64))
    critical: Mapped[bool] = mapped_column(default=False)
    title_lo: Mapped[str] = mapped_column(String(200))
    body_lo: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str] = mapped_column(String(200))
    body_en: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    collapse_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    read_at: Mapped[datetime | None]
    deliver_after: Mapped[datetime] = mapped_column(default=utcnow)
    dispatch_status: Mapped[DispatchStatus] = mapped_column(
        str_enum(DispatchStatus, 16), default=DispatchStatus.PENDING
    )
    dispatch_attempts: Mapped[int] = mapped_column(default=0)
    dispatched_at: Mapped[datetime | None]
    # Delivery on cheap phones: the app acknowledges what it showed; a notice that matters and is not
    # acknowledged by ``sms_due_at`` goes by SMS (its short texts wait in sms_lo/sms_en until then).
    acked_at: Mapped[datetime | None]
    sms_due_at: Mapped[datetime | None]
    sms_outcome: Mapped[str | None] = mapped_column(String(16))  # queued | capped | muted | no_phone
    sms_lo: Mapped[str | None] = mapped_column(Text)
    sms_en: Mapped[str | None] = mapped_column(Text)


class DeliveryStatus(enum.StrEnum):
    SENDING = "sending"  # claimed by a job, not yet answered by FCM
    SENT = "sent"
    RETRY = "retry"  # transient FCM error: will be sent again
    FAILED = "failed"  # permanent FCM error, recorded
    UNREGISTERED = "unregistered"  # the token is dead; the device was deactivated


class Delivery(Base):
    """The push of one notification to one device: at most one row, so never two pushes."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "device_id", name="uq_deliveries_notification_device"),
        # Reports: outcomes per day. With the status in the index, counting a range reads the index alone.
        Index("ix_deliveries_updated_at_status", "updated_at", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus, 16))
    attempts: Mapped[int] = mapped_column(default=0)
    claim_token: Mapped[str | None] = mapped_column(String(36), index=True)
    fcm_message_id: Mapped[str | None] = mapped_column(String(200))
    error_code: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class NotificationPreference(Base):
    """Muted categories and quiet hours (local time in Asia/Vientiane) of one member."""

    __tablename__ = "notification_preferences"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    muted_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    quiet_start: Mapped[time | None]
    quiet_end: Mapped[time | None]
    # push: push, with SMS when a notice that matters is not acknowledged in time; sms: SMS only, no push.
    channel: Mapped[str] = mapped_column(String(8), default="push", server_default="push")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
