"""The member's notification inbox: personal notices and the broadcasts the member matches, merged.

Broadcasts have no per-member rows: the inbox reads the current broadcasts (few at a time: each
lives at most 90 days) and keeps those whose audience includes this member now, so a member who
joins after a broadcast went out still finds it while it is current. Only reading one writes a row.

Items are ordered newest first by (time, kind, id): a notice's time is when it was created, a
broadcast's when it was published. Cursors carry that key, so pages never skip or repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from lsso_mobile.errors import InvalidInput, NotFound
from lsso_mobile.extensions import affected_rows
from lsso_mobile.models import Broadcast, BroadcastRead, BroadcastStatus, Language, Member, Notification
from lsso_mobile.services.audience import Audience, member_facts

NOTICE, BROADCAST = "notice", "broadcast"
RANK = {NOTICE: 0, BROADCAST: 1}  # at equal times notices sort below broadcasts
MAX_CURRENT_BROADCASTS = 5000  # a safety bound: broadcasts live at most 90 days


@dataclass(frozen=True)
class InboxPosition:
    """Where a page ended: items strictly older than this come next."""

    time: datetime
    kind: str
    id: int

    def key(self) -> tuple[datetime, int, int]:
        return self.time, RANK[self.kind], self.id

    @classmethod
    def from_key(cls, time: datetime, rank: int, item_id: int) -> InboxPosition:
        if rank not in (0, 1):
            raise InvalidInput(
                "The cursor is not valid; start again without one.",
                error="cursor_invalid",
                errors={"cursor": ["invalid"]},
            )
        return cls(time, NOTICE if rank == 0 else BROADCAST, item_id)


@dataclass(frozen=True)
class InboxItem:
    kind: str
    id: int
    category: str
    critical: bool
    title_lo: str
    body_lo: str
    title_en: str
    body_en: str
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    read_at: datetime | None
    expires_at: datetime | None = None
    removed: bool = False

    @property
    def position(self) -> InboxPosition:
        return InboxPosition(self.created_at, self.kind, self.id)

    @classmethod
    def of_notice(cls, n: Notification) -> InboxItem:
        return cls(
            NOTICE,
            n.id,
            n.category,
            n.critical,
            n.title_lo,
            n.body_lo,
            n.title_en,
            n.body_en,
            dict(n.data or {}),
            n.created_at,
            n.updated_at,
            n.read_at,
        )

    @classmethod
    def of_broadcast(cls, b: Broadcast, read_at: datetime | None, now: datetime) -> InboxItem:
        assert b.published_at is not None, "only published broadcasts reach an inbox"
        expired = b.expires_at <= now
        removed = b.status is BroadcastStatus.WITHDRAWN or expired
        changed = max(
            t for t in (b.published_at, read_at, b.withdrawn_at, b.expires_at if expired else None) if t is not None
        )
        return cls(
            BROADCAST,
            b.id,
            b.category,
            b.critical,
            "" if removed else b.title_lo,
            "" if removed else b.body_lo,
            "" if removed else b.title_en,
            "" if removed else b.body_en,
            {"deep_link": f"lsso://inbox/broadcasts/{b.id}"},
            b.published_at,
            changed,
            read_at,
            b.expires_at,
            removed,
        )


def member_broadcasts(
    session: Session, member_id: int, now: datetime, removed_since: datetime | None = None
) -> list[tuple[Broadcast, datetime | None]]:
    """Current broadcasts this member is in the audience of, with when the member read each.

    With ``removed_since``, also those withdrawn or expired after that time (for delta sync to remove
    them). The member's facts are read once and every broadcast is checked against them."""
    sent = Broadcast.status.in_([BroadcastStatus.SENDING, BroadcastStatus.SENT])
    shown = and_(sent, Broadcast.expires_at > now)
    if removed_since is not None:
        shown = or_(
            shown,
            and_(Broadcast.status == BroadcastStatus.WITHDRAWN, Broadcast.withdrawn_at > removed_since),
            and_(sent, Broadcast.expires_at > removed_since, Broadcast.expires_at <= now),
        )
    candidates = list(
        session.scalars(
            select(Broadcast)
            .where(shown, Broadcast.published_at.is_not(None), Broadcast.published_at <= now)
            .order_by(Broadcast.published_at.desc())
            .limit(MAX_CURRENT_BROADCASTS)
        )
    )
    if not candidates:
        return []
    facts = member_facts(session, member_id, now)
    broadcasts = [b for b in candidates if Audience.from_json(b.audience).matches(facts)]
    if not broadcasts:
        return []
    reads = dict(
        session.execute(
            select(BroadcastRead.broadcast_id, BroadcastRead.read_at).where(
                BroadcastRead.member_id == member_id, BroadcastRead.broadcast_id.in_([b.id for b in broadcasts])
            )
        ).all()
    )
    return [(b, reads.get(b.id)) for b in broadcasts]


def _notices_before(query: Any, position: InboxPosition) -> Any:
    if position.kind == BROADCAST:  # at equal times notices sort below broadcasts
        return query.where(Notification.created_at <= position.time)
    return query.where(
        or_(
            Notification.created_at < position.time,
            and_(Notification.created_at == position.time, Notification.id < position.id),
        )
    )


Matched = list[tuple[Broadcast, datetime | None]]


def list_inbox(
    session: Session,
    member_id: int,
    before: InboxPosition | None,
    updated_since: datetime | None,
    limit: int,
    now: datetime,
    matched: Matched | None = None,
) -> list[InboxItem]:
    """Up to ``limit`` items, newest first; with ``updated_since`` only those changed since (withdrawn
    broadcasts included, marked, so the app can remove them). ``matched``: member_broadcasts(...,
    removed_since=updated_since), if the caller has it already."""
    query = select(Notification).where(Notification.member_id == member_id)
    if before is not None:
        query = _notices_before(query, before)
    if updated_since is not None:
        query = query.where(Notification.updated_at > updated_since)
    notices = [
        InboxItem.of_notice(n)
        for n in session.scalars(query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit))
    ]
    if matched is None:
        matched = member_broadcasts(session, member_id, now, removed_since=updated_since)
    broadcasts = [InboxItem.of_broadcast(b, read_at, now) for b, read_at in matched]
    broadcasts = [
        item
        for item in broadcasts
        if (before is None or item.position.key() < before.key())
        and (updated_since is None or item.updated_at > updated_since)
    ]
    return sorted(notices + broadcasts, key=lambda item: item.position.key(), reverse=True)[:limit]


def unread_count(session: Session, member_id: int, now: datetime, matched: Matched | None = None) -> int:
    notices = (
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.member_id == member_id, Notification.read_at.is_(None))
        )
        or 0
    )
    if matched is None:
        matched = member_broadcasts(session, member_id, now)
    return notices + sum(
        1
        for b, read_at in matched
        if read_at is None and b.status is not BroadcastStatus.WITHDRAWN and b.expires_at > now
    )


def mark_read(session: Session, member_id: int, notification_id: int, now: datetime) -> InboxItem:
    notification = session.get(Notification, notification_id)
    if notification is None or notification.member_id != member_id:
        raise NotFound("No such notification.", error="notification_not_found")
    if notification.read_at is None:
        notification.read_at = now
        notification.updated_at = now
    return InboxItem.of_notice(notification)


def _record_reads(session: Session, member_id: int, broadcast_ids: list[int], now: datetime) -> None:
    if not broadcast_ids:
        return
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(BroadcastRead)
        .values([{"broadcast_id": b, "member_id": member_id, "read_at": now} for b in broadcast_ids])
        .on_conflict_do_nothing(index_elements=["broadcast_id", "member_id"])
    )


def mark_broadcast_read(session: Session, member_id: int, broadcast_id: int, now: datetime) -> InboxItem:
    for broadcast, read_at in member_broadcasts(session, member_id, now):
        if broadcast.id == broadcast_id:
            if read_at is None:
                _record_reads(session, member_id, [broadcast_id], now)
                read_at = now
            return InboxItem.of_broadcast(broadcast, read_at, now)
    raise NotFound("No such notification.", error="notification_not_found")


def mark_all_read(session: Session, member_id: int, now: datetime) -> int:
    result = session.execute(
        update(Notification)
        .where(Notification.member_id == member_id, Notification.read_at.is_(None))
        .values(read_at=now, updated_at=now)
    )
    unread_broadcasts = [b.id for b, read_at in member_broadcasts(session, member_id, now) if read_at is None]
    _record_reads(session, member_id, unread_broadcasts, now)
    return affected_rows(result) + len(unread_broadcasts)


def reading_language(session: Session, member_id: int) -> Language:
    """The language the member reads the inbox in: their chosen one, Lao if the account is gone."""
    member = session.get(Member, member_id)
    return member.language if member is not None else Language.LAO
