"""Broadcast notices from ops staff to all members or a segment.

A broadcast is one row, not one row per member: members' inboxes match it against their own
attributes when they read. Its pushes go out in slices over ranges of device ids; each slice
records how far it got, so a run that dies resumes where it stopped.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lsso_mobile.models.base import Base, str_enum, utcnow


class BroadcastStatus(enum.StrEnum):
    DRAFT = "draft"
    AWAITING_APPROVAL = "awaiting_approval"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"
    WITHDRAWN = "withdrawn"


class Broadcast(Base):
    __tablename__ = "broadcasts"
    __table_args__ = (
        Index("ix_broadcasts_status_send_at", "status", "send_at"),
        Index("ix_broadcasts_published_at", "published_at"),  # reports: reach
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title_lo: Mapped[str] = mapped_column(String(200))
    body_lo: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str] = mapped_column(String(200))
    body_en: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(32))
    critical: Mapped[bool] = mapped_column(default=False)
    # {"provinces": [...], "districts": [...], "schemes": [...], "in_arrears": bool, "pending_application": bool}
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[BroadcastStatus] = mapped_column(str_enum(BroadcastStatus, 24), default=BroadcastStatus.DRAFT)
    send_at: Mapped[datetime | None]  # None: as soon as it is approved
    expires_at: Mapped[datetime]
    created_by: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]  # sending started: from here on it is in members' inboxes
    finished_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    # Snapshot when sending starts (the preview's figures at that moment).
    audience_members: Mapped[int | None]
    audience_devices: Mapped[int | None]
    # Ops chose to reach members without the app by SMS too (those with no active device, or SMS only).
    sms_fallback: Mapped[bool] = mapped_column(default=False, server_default="0")


class BroadcastEvent(Base):
    """Every transition, with who and when: the four-eyes trail."""

    __tablename__ = "broadcast_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    status: Mapped[BroadcastStatus] = mapped_column(str_enum(BroadcastStatus, 24))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))  # None: the system
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BroadcastRead(Base):
    """A member has read a broadcast: the only per-member row, written by the member's own action."""

    __tablename__ = "broadcast_reads"

    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True, index=True)
    read_at: Mapped[datetime] = mapped_column(default=utcnow)


class BroadcastAck(Base):
    """The member's app received and showed this broadcast (one row, written by the app's own call)."""

    __tablename__ = "broadcast_acks"

    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True, index=True)
    acked_at: Mapped[datetime] = mapped_column(default=utcnow)


class SliceStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    STOPPED = "stopped"  # the broadcast was withdrawn before this slice finished


class BroadcastSlice(Base):
    """The pushes of one broadcast to the devices with ids in [first_device_id, last_device_id].

    ``position`` is the last device id whose outcome is committed: a run resumes after it. Counters
    are per province (``stats``: {province: {outcome: count}}), so nothing is counted twice either.
    """

    __tablename__ = "broadcast_slices"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "first_device_id", name="uq_broadcast_slices_range"),
        Index("ix_broadcast_slices_status", "status", "claimed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"))
    first_device_id: Mapped[int]
    last_device_id: Mapped[int]
    position: Mapped[int]
    status: Mapped[SliceStatus] = mapped_column(str_enum(SliceStatus, 16), default=SliceStatus.PENDING)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claimed_at: Mapped[datetime | None]
    runs: Mapped[int] = mapped_column(default=0)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeferralStatus(enum.StrEnum):
    WAITING = "waiting"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNREGISTERED = "unregistered"
    DROPPED = "dropped"  # withdrawn or expired before its time came


class BroadcastDeferral(Base):
    """A device whose push waits: its member is in quiet hours, or FCM asked us to come back later."""

    __tablename__ = "broadcast_deferrals"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "device_id", name="uq_broadcast_deferrals_device"),
        Index("ix_broadcast_deferrals_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    province_code: Mapped[str] = mapped_column(String(2))
    reason: Mapped[str] = mapped_column(String(16))  # quiet_hours | retry
    status: Mapped[DeferralStatus] = mapped_column(str_enum(DeferralStatus, 16), default=DeferralStatus.WAITING)
    due_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claimed_at: Mapped[datetime | None]
    error_code: Mapped[str | None] = mapped_column(String(32))
