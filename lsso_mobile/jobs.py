"""Background jobs: what they are, which queue each goes to, and the after-commit hand-off.

Every job's entry point is a thin function in ``lsso_mobile/tasks/`` (open a unit of work, call a
service, commit). Services, notify and the API never import those functions: they ask for a job by its
``Task`` below, e.g. ``enqueue_after_commit(session, DELIVER_NOTIFICATION.request(notification.id))``,
and the request is handed to the queue only once the transaction commits (dropped on rollback).
Every session made by ``Database`` knows its queue (the session factory carries it), so there is no
per-job binding to forget. RQ queues when ``LSSO_REDIS_URL`` is set, in-process otherwise; if Redis
cannot be reached at commit, the request still succeeds and the relay finds undelivered work later.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from lsso_mobile.logs import current_request_id

log = logging.getLogger(__name__)

# Purpose-named queues, so a flood of broadcast pushes never holds back a sign-in code.
QUEUE_SMS = "sms"
QUEUE_PUSH = "push"
QUEUE_BROADCAST = "broadcast"  # after personal pushes: a broadcast's slices never hold back a decision notice
QUEUE_MAINTENANCE = "maintenance"
QUEUE_PAYMENTS = "payments"  # confirming bank callbacks: short jobs, money first after codes
ALL_QUEUES = (QUEUE_SMS, QUEUE_PAYMENTS, QUEUE_PUSH, QUEUE_BROADCAST, QUEUE_MAINTENANCE)


@dataclass(frozen=True)
class Task:
    """A kind of background job: its entry point in ``lsso_mobile.tasks`` (by import path, so the layers
    below never import the layer above) and how it runs."""

    path: str  # "lsso_mobile.tasks.push:deliver_notification"
    queue: str
    timeout: int = 300
    retries: tuple[int, ...] = ()
    fallback_inline: bool = False  # run here and now if Redis is down (SMS codes)
    result_ttl: int = 600  # seconds RQ keeps a finished job (0: not at all)
    failure_ttl: int = 7 * 86400  # seconds RQ keeps a job that failed for good
    # Batch key: the request's one argument is an id that joins a ready list, drained 500 at a time by
    # the task named in BATCH_TASKS (one job per batch, not per id). Only for requests without ``at``.
    coalesce: str | None = None

    @property
    def rq_path(self) -> str:
        return self.path.replace(":", ".")

    def request(
        self,
        *args: Any,
        at: datetime | None = None,
        job_id: str | None = None,
        timeout: int | None = None,
        description: str | None = None,
    ) -> JobRequest:
        return JobRequest(self, args, at=at, job_id=job_id, timeout=timeout or self.timeout, description=description)


@dataclass(frozen=True)
class JobRequest:
    task: Task
    args: tuple[Any, ...]
    at: datetime | None = None
    job_id: str | None = None
    timeout: int = 300
    description: str | None = None  # what RQ logs instead of the call with its arguments

    @property
    def queue(self) -> str:
        return self.task.queue

    @property
    def name(self) -> str:
        return self.task.path.rpartition(":")[2]


def resolve(path: str) -> Callable[..., Any]:
    """The function a task path names (the in-process queue runs it; RQ resolves the same path itself)."""
    module_name, _, name = path.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module_name), name)
    return function


# The catalogue: every background job there is. tests/test_architecture.py checks that each path names a
# function in lsso_mobile.tasks and that every public function there is listed here or in PERIODIC_TASKS.
PUSH_JOB_TIMEOUT_SECONDS = 90
DELIVER_NOTIFICATION = Task(
    "lsso_mobile.tasks.push:deliver_notification", QUEUE_PUSH, timeout=PUSH_JOB_TIMEOUT_SECONDS, coalesce="push"
)
DRAIN_READY = Task("lsso_mobile.tasks.drain:drain_ready", QUEUE_PUSH, timeout=900)
START_BROADCAST = Task("lsso_mobile.tasks.broadcasts:start_broadcast", QUEUE_PUSH, timeout=300)
SEND_BROADCAST_SLICE = Task("lsso_mobile.tasks.broadcasts:send_broadcast_slice", QUEUE_BROADCAST)
SEND_BROADCAST_DEFERRALS = Task("lsso_mobile.tasks.broadcasts:send_broadcast_deferrals", QUEUE_PUSH)
SMS_RETRY_INTERVALS = (5, 20, 60)
# An SMS from the outbox (services/sms.py): the job holds only the row's id.
SEND_SMS = Task(
    "lsso_mobile.tasks.sms:send_sms",
    QUEUE_SMS,
    timeout=60,
    retries=SMS_RETRY_INTERVALS,
    fallback_inline=True,
    result_ttl=0,
    failure_ttl=3600,
)
# A sign-in code's SMS: the job holds only the code row's id (the code waits on the row, sealed); RQ keeps
# nothing once it is sent, and a failed one for an hour.
SEND_CODE = Task(
    "lsso_mobile.tasks.sms:send_code",
    QUEUE_SMS,
    timeout=60,
    retries=SMS_RETRY_INTERVALS,
    fallback_inline=True,
    result_ttl=0,
    failure_ttl=3600,
)
# A bank's callback is a hint: this job asks the provider and credits (queue ``payments``). A provider that is
# down or says "pending" makes the job fail, and RQ tries again after these intervals; the relay in
# tasks/periodic.py picks up whatever is still unconfirmed after that.
PAYMENT_RETRY_INTERVALS = (5, 30, 120, 600)
# Callbacks join the ``payments`` ready list and are confirmed 500 at a time (one job per batch, not per
# callback); a payment the provider cannot settle yet gets its own job later (``at``), retried by RQ.
CONFIRM_PAYMENT = Task(
    "lsso_mobile.tasks.payments:confirm_payment",
    QUEUE_PAYMENTS,
    timeout=60,
    retries=PAYMENT_RETRY_INTERVALS,
    result_ttl=0,
    failure_ttl=7 * 86400,
    coalesce="payments",
)
# A notice's SMS fallback that is due at once (no active device, SMS only); the scan sends the rest.
SEND_FALLBACK_SMS = Task(
    "lsso_mobile.tasks.sms:send_fallback_sms", QUEUE_SMS, timeout=120, retries=SMS_RETRY_INTERVALS, result_ttl=0
)
# A broadcast ops chose to send by SMS too: members with no active device or SMS only, once each.
SEND_BROADCAST_SMS = Task("lsso_mobile.tasks.sms:send_broadcast_sms", QUEUE_SMS, timeout=900, result_ttl=0)
TASKS = (
    CONFIRM_PAYMENT,
    DELIVER_NOTIFICATION,
    DRAIN_READY,
    START_BROADCAST,
    SEND_BROADCAST_SLICE,
    SEND_BROADCAST_DEFERRALS,
    SEND_SMS,
    SEND_CODE,
    SEND_FALLBACK_SMS,
    SEND_BROADCAST_SMS,
)
# coalesce key -> the task that takes an iterable of id batches
BATCH_TASKS: dict[str, str] = {
    "push": "lsso_mobile.tasks.push:deliver_notification_batches",
    "payments": "lsso_mobile.tasks.payments:confirm_payment_batches",
}
BATCH_SIZE = 500
DRAIN_BATCHES_PER_JOB = 20


# A job that meets a database outage (a restart, a fail-over) is run again by the worker after these pauses
# (RQ's Retry, returned by the job class in worker.py), before it counts as failed and before the task's own
# retries are touched: about a minute in all, then the relay takes over as for any lost job. Every task is
# safe to run again: deliveries, slices and payments are claimed in the database, so a repeat sends nothing
# twice; ids a drain job popped from a ready list go back to it first (tasks/drain.py).
DATABASE_RETRY_SECONDS = (1, 2, 4, 8, 15, 30)


# SQLSTATEs of the server out of reach: class 08 (connection exceptions), and the server shutting down or
# starting up. A statement or lock timeout, a deadlock or a serialization failure is not an outage.
OUTAGE_SQLSTATES = ("57P01", "57P02", "57P03")


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is the database out of reach: a connection refused or broken, a
    server shutting down or starting up. Other operational errors (timeouts, deadlocks, SQLite's "database is
    locked") are not: running the job again soon would only repeat them."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OperationalError | InterfaceError):
            return _is_outage(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        seen += 1
    return False


def _is_outage(exc: OperationalError | InterfaceError) -> bool:
    if exc.connection_invalidated:
        return True
    original = exc.orig
    if type(original).__module__.startswith("sqlite3"):
        return False  # a file, not a server: nothing to wait for
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if not code:  # no answer from a server at all: refused, reset, timed out connecting
        return True
    return str(code).startswith("08") or code in OUTAGE_SQLSTATES


REQUEST_ID_META = "request_id"


def job_meta() -> dict[str, str] | None:
    """What a job carries besides its ids: the request id of the request (or job) that asked for it."""
    request_id = current_request_id()
    return {REQUEST_ID_META: request_id} if request_id else None


def request_id_of(meta: dict[str, Any] | None) -> str | None:
    value = (meta or {}).get(REQUEST_ID_META)
    return value if isinstance(value, str) else None


def ready_entry(item_id: int, request_id: str | None) -> str:
    """An id in a ready list, with the request id that caused it (``123`` or ``123@<request id>``)."""
    return f"{item_id}@{request_id}" if request_id else str(item_id)


def parse_ready_entry(raw: bytes | str) -> tuple[int, str | None]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    item, _, request_id = text.partition("@")
    return int(item), request_id or None


def _coalesced(requests: list[JobRequest]) -> tuple[dict[str, list[int]], list[JobRequest]]:
    batches: dict[str, list[int]] = {}
    others: list[JobRequest] = []
    for request in requests:
        if request.task.coalesce and request.at is None:
            batches.setdefault(request.task.coalesce, []).append(int(request.args[0]))
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
                resolve(BATCH_TASKS[key])(ids[start : start + BATCH_SIZE] for start in range(0, len(ids), BATCH_SIZE))
            except Exception:
                log.exception("inline batch %s failed; it is left for the relay", key)
        for request in others:
            self.submit(request)

    def submit(self, request: JobRequest) -> None:
        if request.at is not None:
            log.info("inline queue: %s deferred until %s; the relay picks it up", request.name, request.at.isoformat())
            return
        try:
            resolve(request.task.path)(*request.args)
        except Exception:
            log.exception("inline job %s failed; it is left for the relay", request.name)


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
                    DRAIN_READY.rq_path,
                    args=(key, queue_name),
                    timeout=DRAIN_READY.timeout,
                    result_ttl=60,
                    failure_ttl=86400,
                    description=f"drain_ready({key})",
                    meta=job_meta(),
                )
            except Exception:
                self.connection().delete(flag)  # or the list would wait for the flag to expire
                raise

    def submit_many(self, requests: list[JobRequest]) -> None:
        from redis.exceptions import RedisError

        batches, others = _coalesced(requests)
        queue_of = {r.task.coalesce: r.queue for r in requests if r.task.coalesce}
        for key, ids in batches.items():
            try:
                request_id = current_request_id()
                self.connection().rpush(self.ready_key(key), *(ready_entry(i, request_id) for i in ids))
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

        task = request.task
        if task.coalesce and request.at is None:
            self.submit_many([request])
            return

        retry = Retry(max=len(task.retries), interval=list(task.retries)) if task.retries else None
        description = request.description or request.name  # never the arguments
        meta = job_meta()
        try:
            queue = self.queue(task.queue)
            if request.at is not None:
                queue.enqueue_at(
                    request.at,
                    task.rq_path,
                    *request.args,
                    job_id=request.job_id,
                    retry=retry,
                    job_timeout=request.timeout,
                    description=description,
                    meta=meta,
                )
            else:
                queue.enqueue_call(
                    task.rq_path,
                    args=request.args,
                    job_id=request.job_id,
                    retry=retry,
                    timeout=request.timeout,
                    result_ttl=task.result_ttl,
                    failure_ttl=task.failure_ttl,
                    description=description,
                    meta=meta,
                )
        except RedisError as exc:
            if task.fallback_inline:
                log.warning("Redis unavailable (%s); running %s in-process", type(exc).__name__, request.name)
                InlineJobQueue().submit(request)
            else:
                log.warning("Redis unavailable (%s); %s left for the relay", type(exc).__name__, request.name)


JOB_QUEUE_KEY = "lsso_job_queue"  # in Session.info: set by Database's session factory
_PENDING_KEY = "lsso_jobs_after_commit"


def enqueue_after_commit(session: Session, request: JobRequest) -> None:
    if not session.in_transaction():
        session.begin()  # so that a rollback, even with nothing written yet, drops the job
    session.info.setdefault(_PENDING_KEY, []).append(request)


@event.listens_for(Session, "after_commit")
def _submit_pending_jobs(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint was released (SQLAlchemy fires after_commit for it too): wait for the real commit
    pending: list[JobRequest] = session.info.pop(_PENDING_KEY, [])
    if not pending:
        return
    queue: JobQueue | None = session.info.get(JOB_QUEUE_KEY)
    if queue is None:
        log.error("%d job(s) committed on a session with no job queue; the relay will find them", len(pending))
        return
    try:
        queue.submit_many(pending)
    except Exception:  # the transaction is committed: the request succeeded; the relay catches up
        log.exception("handing %d job(s) to the queue failed; the relay will find undelivered work", len(pending))


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending_jobs(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the outermost transaction rolled back
        session.info.pop(_PENDING_KEY, None)
