"""The drain job: ids that joined a ready list, handed to their batch task 500 at a time."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from lsso_mobile import logs, runtime
from lsso_mobile.jobs import (
    BATCH_SIZE,
    BATCH_TASKS,
    DRAIN_BATCHES_PER_JOB,
    RQJobQueue,
    database_unavailable,
    parse_ready_entry,
    resolve,
)

log = logging.getLogger(__name__)


def drain_ready(key: str, queue_name: str) -> int:
    """Take ids from the ready list 500 at a time and hand the batches to their task.

    Ids popped by a worker that then dies are not lost: their rows are still undelivered in the
    database, and the relay hands them out again. When the database is out of reach, every id this run
    popped goes back to the front of the list before the job fails, and the job runs again a moment later
    (jobs.DATABASE_RETRY_SECONDS): the batch tasks claim their rows, so ids already done are skipped then.
    """
    queue = runtime.current().job_queue
    assert isinstance(queue, RQJobQueue)
    redis = queue.connection()
    redis.delete(f"{queue.prefix}:drain:{key}")  # arrivals from now on schedule another drain
    popped = 0
    taken: list[bytes | str] = []  # as popped (with their request ids), to hand back on a database outage
    origins: dict[int, str] = {}  # notification id -> the request that caused it, for the push's log line

    def batches() -> Iterator[list[int]]:
        nonlocal popped
        for _ in range(DRAIN_BATCHES_PER_JOB):
            raw = redis.lpop(queue.ready_key(key), BATCH_SIZE)
            if not raw:
                return
            if redis.llen(queue.ready_key(key)):
                queue.ensure_drain(key, queue_name)  # another worker may help with the rest
            popped += len(raw)
            taken.extend(raw)
            ids: dict[int, None] = {}
            for entry in raw:
                item, request_id = parse_ready_entry(entry)
                ids[item] = None
                if request_id:
                    origins[item] = request_id
            yield list(ids)
        if redis.llen(queue.ready_key(key)):
            queue.ensure_drain(key, queue_name)

    with logs.push_origins(origins):
        try:
            resolve(BATCH_TASKS[key])(batches())
        except Exception as exc:
            if taken and database_unavailable(exc):
                redis.lpush(queue.ready_key(key), *reversed(taken))  # first in line again, in their order
                log.warning("database unavailable: %d %s id(s) handed back to the ready list", len(taken), key)
            raise
    return popped
