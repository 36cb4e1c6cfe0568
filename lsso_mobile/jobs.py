"""Background jobs: RQ queues when ``LSSO_REDIS_URL`` is set, in-process otherwise.

Jobs are enqueued only after the transaction that caused them commits: services call
``enqueue_after_commit(session, ...)``, and a session event hands the calls to the queue once the
commit succeeded (and drops them on rollback). If Redis cannot be reached at that moment the
request still succeeds: undelivered notifications are found later by the relay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

# Purpose-named queues, so a flood of broadcast pushes never holds back a sign-in code.
QUEUE_SMS = "sms"
QUEUE_PUSH = "push"
QUEUE_BROADCAST = "broadcast"  # after personal pushes: a broadcast's slices never hold back a decision notice
QUEUE_MAINTENANCE = "maintenance"
ALL_QUEUES = (QUEUE_SMS, QUEUE_PUSH, QUEUE_BROADCAST, QUEUE_MAINTENANCE)


@dataclass(frozen=True)
class JobRequest:
    func: Callable[..., Any]
    args: tuple[Any, ...]
    queue: str
    job_id: str | None = None
    at: datetime | None = None
    retries: tuple[int, ...] = ()
    timeout: int = 300
    fallback_inline: bool = False  # run here and now if Redis is down (SMS codes)
    description: str | None = None  # what RQ logs instead of the call with its arguments (secrets)
    result_ttl: int = 600  # seconds RQ keeps a finished job (0: not at all)
    failure_ttl: int = 7 * 86400  # seconds RQ keeps a job that failed for good
    # Batch key: the request's one argument is an id that joins a ready list, drained 500 at a time
    # by BATCH_HANDLERS[coalesce] (one job per batch, not per id). Only for requests without ``at``.
    coalesce: str | None = None


# coalesce key -> the function that takes an iterable of id batches (imported lazily: it imports this module)
BATCH_HANDLERS: dict[str, str] = {"push": "lsso_mobile.notify.delivery:deliver_batches"}
BATCH_SIZE = 500
DRAIN_BATCHES_PER_JOB = 20


def batch_handler(key: str) -> Callable[[Iterable[list[int]]], Any]:
    import importlib

    module_name, _, name = BATCH_HANDLERS[key].partition(":")
    return getattr(importlib.import_module(module_name), name)


def _coalesced(requests: list[JobRequest]) -> tuple[dict[str, list[int]], list[JobRequest]]:
    batches: dict[str, list[int]] = {}
    others: list[JobRequest] = []
    for request in requests:
        if request.coalesce and request.at is None:
            batches.setdefault(request.coalesce, []).append(int(request.args[0]))
        else:
            others.append(request)
    return batches, others


class JobQueue:
    """Where after-commit jobs go. Subclasses: InlineJobQueue (no Redis) and RQJobQueue."""

    def submit(self, request: JobRequest) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def submit_many(self, requests: list[JobRequest]) -> None:
        for request in requests:
            self.submit(request)

    def waiting(self, queue_name: str) -> int:
        """Jobs waiting in a queue (not counting running ones); 0 when jobs run in-process."""
        return 0


class InlineJobQueue(JobQueue):
    """Runs each job in the calling process right away; scheduled jobs are left to the relay."""

    def submit_many(self, requests: list[JobRequest]) -> None:
        batches, others = _coalesced(requests)
        for key, ids in batches.items():
            try:
                batch_handler(key)(ids[start : start + BATCH_SIZE] for start in range(0, len(ids), BATCH_SIZE))
            except Exception:
                log.exception("inline batch %s failed; it is left for the relay", key)
        for request in others:
            self.submit(request)

    def submit(self, request: JobRequest) -> None:
        if request.at is not None:
            log.info(
                "inline queue: %s deferred until %s; the relay picks it up",
                request.func.__name__,
                request.at.isoformat(),
            )
            return
        try:
            request.func(*request.args)
        except Exception:
            log.exception("inline job %s failed; it is left for the relay", request.func.__name__)


@dataclass
class RQJobQueue(JobQueue):
    redis_url: str
    prefix: str = "lsso"
    _queues: dict[str, Any] = field(default_factory=dict)
    _connection: Any = None

    def connection(self) -> Any:
        if self._connection is None:
            from redis import Redis

            self._connection = Redis.from_url(self.redis_url, socket_connect_timeout=2, socket_timeout=5)
        return self._connection

    def queue(self, name: str) -> Any:
        if name not in self._queues:
            from rq import Queue

            self._queues[name] = Queue(f"{self.prefix}-{name}", connection=self.connection())
        return self._queues[name]

    def waiting(self, queue_name: str) -> int:
        from redis.exceptions import RedisError

        try:
            return int(self.queue(queue_name).count)
        except RedisError:
            return 1  # unknown: assume jobs wait, so nothing is re-enqueued while Redis is away

    def ready_key(self, key: str) -> str:
        return f"{self.prefix}:ready:{key}"

    def ensure_drain(self, key: str, queue_name: str) -> None:
        """One drain job waiting per batch key is enough; the flag clears when a drain starts."""
        flag = f"{self.prefix}:drain:{key}"
        if self.connection().set(flag, "1", nx=True, ex=300):
            try:
                self.queue(queue_name).enqueue_call(
                    drain_ready,
                    args=(key, queue_name),
                    timeout=900,
                    result_ttl=60,
                    failure_ttl=86400,
                    description=f"drain_ready({key})",
                )
            except Exception:
                self.connection().delete(flag)  # or the list would wait for the flag to expire
                raise

    def submit_many(self, requests: list[JobRequest]) -> None:
        from redis.exceptions import RedisError

        batches, others = _coalesced(requests)
        queue_of = {r.coalesce: r.queue for r in requests if r.coalesce}
        for key, ids in batches.items():
            try:
                self.connection().rpush(self.ready_key(key), *ids)
                self.ensure_drain(key, queue_of[key])
            except RedisError as exc:
                log.warning(
                    "Redis unavailable (%s); %d %s job(s) left for the relay", type(exc).__name__, len(ids), key
                )
        for request in others:
            self.submit(request)

    def submit(self, request: JobRequest) -> None:
        from redis.exceptions import RedisError
        from rq import Retry

        if request.coalesce and request.at is None:
            self.submit_many([request])
            return

        retry = Retry(max=len(request.retries), interval=list(request.retries)) if request.retries else None
        try:
            queue = self.queue(request.queue)
            if request.at is not None:
                queue.enqueue_at(
                    request.at,
                    request.func,
                    *request.args,
                    job_id=request.job_id,
                    retry=retry,
                    job_timeout=request.timeout,
                    description=request.description,
                )
            else:
                queue.enqueue_call(
                    request.func,
                    args=request.args,
                    job_id=request.job_id,
                    retry=retry,
                    timeout=request.timeout,
                    result_ttl=request.result_ttl,
                    failure_ttl=request.failure_ttl,
                    description=request.description,
                )
        except RedisError as exc:
            if request.fallback_inline:
                log.warning("Redis unavailable (%s); running %s in-process", type(exc).__name__, request.func.__name__)
                InlineJobQueue().submit(request)
            else:
                log.warning("Redis unavailable (%s); %s left for the relay", type(exc).__name__, request.func.__name__)


_PENDING_KEY = "lsso_jobs_after_commit"
_QUEUE_KEY = "lsso_job_queue"


def bind_job_queue(session: Session, queue: JobQueue) -> None:
    """Tell a session where its after-commit jobs go."""
    session.info[_QUEUE_KEY] = queue


def enqueue_after_commit(session: Session, request: JobRequest) -> None:
    if not session.in_transaction():
        session.begin()  # so that a rollback, even with nothing written yet, drops the job
    session.info.setdefault(_PENDING_KEY, []).append(request)


@event.listens_for(Session, "after_commit")
def _submit_pending_jobs(session: Session) -> None:
    pending: list[JobRequest] = session.info.pop(_PENDING_KEY, [])
    if not pending:
        return
    queue: JobQueue | None = session.info.get(_QUEUE_KEY)
    if queue is None:
        log.error("%d job(s) committed on a session with no job queue bound; the relay will find them", len(pending))
        return
    try:
        queue.submit_many(pending)
    except Exception:  # the transaction is committed: the request succeeded; the relay catches up
        log.exception("handing %d job(s) to the queue failed; the relay will find undelivered work", len(pending))


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending_jobs(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the outermost transaction rolled back
        session.info.pop(_PENDING_KEY, None)


def drain_ready(key: str, queue_name: str) -> int:
    """RQ job: take ids from the ready list 500 at a time and hand the batches to their handler.

    Ids popped by a worker that then dies are not lost: their rows are still undelivered in the
    database, and the relay hands them out again.
    """
    from lsso_mobile import runtime

    queue = runtime.current().job_queue
    assert isinstance(queue, RQJobQueue)
    redis = queue.connection()
    redis.delete(f"{queue.prefix}:drain:{key}")  # arrivals from now on schedule another drain
    popped = 0

    def batches() -> Iterator[list[int]]:
        nonlocal popped
        for _ in range(DRAIN_BATCHES_PER_JOB):
            raw = redis.lpop(queue.ready_key(key), BATCH_SIZE)
            if not raw:
                return
            if redis.llen(queue.ready_key(key)):
                queue.ensure_drain(key, queue_name)  # another worker may help with the rest
            popped += len(raw)
            yield list(dict.fromkeys(int(x) for x in raw))
        if redis.llen(queue.ready_key(key)):
            queue.ensure_drain(key, queue_name)

    batch_handler(key)(batches())
    return popped
