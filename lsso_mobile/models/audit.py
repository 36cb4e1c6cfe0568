"""The audit trail: who did what to which record, when, and from where (one row per officer action)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from lsso_mobile.models.base import Base, str_enum, utcnow


class ActorKind(enum.StrEnum):
    STAFF = "staff"  # an officer (or an admin) signed in to the API or the console
    CORE = "core"  # the LSSO core system (client credentials)
    SYSTEM = "system"  # the service itself (a job, a command)


class AuditEvent(Base):
    """One action: ``action`` is short and dotted (``registration.approve``, ``claim.status``, ...), the object
    is named by type and id, ``details`` holds a little more (the new status, the reason, cut short)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_object", "object_type", "object_id", "id"),
        Index("ix_audit_events_actor", "actor_staff_id", "created_at"),
        Index("ix_audit_events_office", "office_id", "created_at"),
        Index("ix_audit_events_action_created", "action", "created_at"),
        Index("ix_audit_events_created", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    actor_kind: Mapped[ActorKind] = mapped_column(str_enum(ActorKind, 8))
    action: Mapped[str] = mapped_column(String(48))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int]
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    client_address: Mapped[str | None] = mapped_column(String(64))  # services.limits.address_key
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
