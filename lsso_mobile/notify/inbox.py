"""The member's notification inbox: newest first, cursor pages, delta sync, read state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lsso_mobile.errors import NotFound
from lsso_mobile.models import Notification


def list_notifications(session: Session, member_id: int, before_id: int | None, updated_since: datetime | None,
                       limit: int) -> list[Notification]:
    query = select(Notification).where(Notification.member_id == member_id)
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    if updated_since is not None:
        query = query.where(Notification.updated_at > updated_since)
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def unread_count(session: Session, member_id: int) -> int:
    return session.scalar(
        select(func.count()).select_from(Notification)
        .where(Notification.member_id == member_id, Notification.read_at.is_(None))
    ) or 0


def mark_read(session: Session, member_id: int, notification_id: int, now: datetime) -> Notification:
    notification = session.get(Notification, notification_id)
    if notification is None or notification.member_id != member_id:
        raise NotFound("No such notification.")
    if notification.read_at is None:
        notification.read_at = now
        notification.updated_at = now
    return notification


def mark_all_read(session: Session, member_id: int, now: datetime) -> int:
    result = session.execute(
        update(Notification).where(Notification.member_id == member_id, Notification.read_at.is_(None))
        .values(read_at=now, updated_at=now)
    )
    return result.rowcount or 0
