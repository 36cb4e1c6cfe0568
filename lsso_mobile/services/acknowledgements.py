"""The app's acknowledgements: which notices and broadcasts it received and showed.

FCM's "sent" is not "delivered"; an acknowledgement is the only proof. One batched call records many; a
notice acknowledged before its SMS fell due gets no SMS. Acknowledging again, or after the SMS went, changes
nothing but the first acknowledgement's time (kept for channel health).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from lsso_mobile.extensions import affected_rows
from lsso_mobile.models import BroadcastAck, Notification
from lsso_mobile.services.inbox import member_broadcasts

MAX_ACKS_PER_CALL = 500


@dataclass(frozen=True)
class AckResult:
    recorded: int  # acknowledged for the first time by this call
    already: int  # acknowledged before (a repeat changes nothing)
    unknown: int  # not this member's, or no such notice or broadcast (ignored)


def acknowledge(
    session: Session, member_id: int, notification_ids: list[int], broadcast_ids: list[int], now: datetime
) -> AckResult:
    notification_ids = sorted(set(notification_ids))
    broadcast_ids = sorted(set(broadcast_ids))
    recorded = already = 0
    known = 0
    if notification_ids:
        mine = select(Notification.id).where(Notification.member_id == member_id, Notification.id.in_(notification_ids))
        known += len(session.scalars(mine).all())
        # One statement: the first acknowledgement clears a pending SMS (an SMS already queued has no
        # sms_due_at any more, so a late acknowledgement leaves it alone).
        recorded += affected_rows(
            session.execute(
                update(Notification)
                .where(
                    Notification.member_id == member_id,
                    Notification.id.in_(notification_ids),
                    Notification.acked_at.is_(None),
                )
                .values(acked_at=now, sms_due_at=None, sms_lo=None, sms_en=None)
                .execution_options(synchronize_session=False)
            )
        )
    if broadcast_ids:
        wanted = set(broadcast_ids)
        visible = [b.id for b, _read in member_broadcasts(session, member_id, now) if b.id in wanted]
        known += len(visible)
        if visible:
            before = set(
                session.scalars(
                    select(BroadcastAck.broadcast_id).where(
                        BroadcastAck.member_id == member_id, BroadcastAck.broadcast_id.in_(visible)
                    )
                )
            )
            new = [b for b in visible if b not in before]
            if new:
                insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
                recorded += affected_rows(
                    session.execute(
                        insert(BroadcastAck)
                        .values([{"broadcast_id": b, "member_id": member_id, "acked_at": now} for b in new])
                        .on_conflict_do_nothing(index_elements=["broadcast_id", "member_id"])
                    )
                )
    already = known - recorded
    unknown = len(notification_ids) + len(broadcast_ids) - known
    return AckResult(recorded=recorded, already=already, unknown=unknown)
