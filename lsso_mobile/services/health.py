"""The health probe: can we query the database, how long has the oldest undelivered notice waited,
and is Redis (the job queue, when jobs run on RQ) answering?"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from lsso_mobile.jobs import JobQueue, RQJobQueue
from lsso_mobile.models import DispatchStatus, Notification

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    database: str  # ok | down
    redis: str  # ok | down | not_configured (jobs run in-process)
    oldest_undelivered_seconds: float | None  # None when nothing waits, or the database is down

    @property
    def healthy(self) -> bool:
        return self.database == "ok" and self.redis != "down"


def probe(session: Session, job_queue: JobQueue, now: datetime) -> Health:
    """Check the database and Redis. Any database failure means "down": it is logged, and the session
    rolled back so the request can still answer."""
    oldest_undelivered_seconds = None
    try:
        session.execute(text("SELECT 1"))
        oldest = session.scalar(
            select(func.min(Notification.deliver_after)).where(Notification.dispatch_status == DispatchStatus.PENDING)
        )
        if oldest is not None:
            oldest_undelivered_seconds = max(0.0, round((now - oldest).total_seconds(), 1))
        database = "ok"
    except Exception:  # noqa: BLE001 - any failure means "down"; details go to the log only
        log.exception("health: database check failed")
        session.rollback()
        oldest_undelivered_seconds = None
        database = "down"
    redis = "not_configured"
    if isinstance(job_queue, RQJobQueue):
        try:
            job_queue.connection().ping()
            redis = "ok"
        except Exception:  # noqa: BLE001
            redis = "down"
    return Health(database, redis, oldest_undelivered_seconds)
