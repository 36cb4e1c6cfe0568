"""``lsso-mobile worker``: an RQ worker that outlives Redis outages, the scheduled-job mover (one worker at a
time, under a short lock), plus the periodic relay and device pruning.

Several worker processes may run; a Redis lock makes each periodic task run once per interval
across all of them.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import threading
import time
import uuid
from typing import Any

from lsso_mobile import logs, metrics
from lsso_mobile.jobs import DATABASE_RETRY_SECONDS, RQJobQueue, database_unavailable, request_id_of
from lsso_mobile.runtime import Runtime

log = logging.getLogger(__name__)


def _job_class() -> Any:
    from rq import Retry
    from rq.job import Job

    class LssoJob(Job):
        """A job that meets a database outage asks RQ to run it again shortly (DATABASE_RETRY_SECONDS) instead
        of failing at once and waiting for the relay; once those are used up it fails as any job does (and
        the task's own retries, if it has any, apply)."""

        lsso_database_retry = False

        def perform(self) -> Any:
            self.lsso_database_retry = False
            try:
                return super().perform()
            except Exception as exc:
                done = self.number_of_retries or 0
                if not database_unavailable(exc) or done >= len(DATABASE_RETRY_SECONDS):
                    raise
                delay = DATABASE_RETRY_SECONDS[done]
                log.warning(
                    "database unavailable in job %s (%s); it runs again in %ss (%d of %d)",
                    self.description or self.func_name,
                    type(exc).__name__,
                    delay,
                    done + 1,
                    len(DATABASE_RETRY_SECONDS),
                )
                self.lsso_database_retry = True
                retry = Retry(max=len(DATABASE_RETRY_SECONDS), interval=list(DATABASE_RETRY_SECONDS))
                self._result = retry
                return retry

    return LssoJob


def _worker_class() -> Any:
    from rq import SimpleWorker

    class LssoWorker(SimpleWorker):
        """SimpleWorker that runs each job under the request id it carries (its meta) and counts it."""

        _lsso_prefix = ""
        _lsso_outcome = "finished"

        def execute_job(self, job: Any, queue: Any) -> Any:
            queue_name = queue.name.removeprefix(f"{self._lsso_prefix}-")
            task = (job.func_name or "").rpartition(".")[2] or "unknown"
            started = time.perf_counter()
            self._lsso_outcome = "finished"
            with logs.request_context(request_id_of(job.meta) or f"job-{job.id}"):
                try:
                    return super().execute_job(job, queue)
                finally:
                    if getattr(job, "lsso_database_retry", False) and self._lsso_outcome == "finished":
                        self._lsso_outcome = "database_retry"
                    metrics.JOB_DURATION.labels(queue=queue_name).observe(time.perf_counter() - started)
                    metrics.JOBS.labels(queue=queue_name, task=task, outcome=self._lsso_outcome).inc()

        def handle_job_failure(self, job: Any, queue: Any, *args: Any, **kwargs: Any) -> Any:
            self._lsso_outcome = "failed"
            return super().handle_job_failure(job, queue, *args, **kwargs)

    return LssoWorker


def _periodic(rt: Runtime, queue: RQJobQueue, stop: threading.Event) -> None:
    from lsso_mobile.tasks.periodic import run_due

    interval = rt.settings.relay_interval_seconds
    while not stop.wait(interval):
        run_due(queue.connection(), rt.settings.queue_prefix, interval)


# Scheduled jobs (retries, pushes deferred past quiet hours) are moved to their queue when due by one
# worker at a time: whoever holds this lock, refreshed every second, for at most SCHEDULER_LOCK_SECONDS.
# RQ's own scheduler lock lives about a minute and other workers look for it only during maintenance
# (every 10 minutes): a killed scheduler's retries would wait for the relay. Here another worker takes
# over within SCHEDULER_LOCK_SECONDS + 1 s.
SCHEDULER_LOCK_SECONDS = 5
_ACQUIRE_OR_REFRESH = """
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 2
end
return 0
"""


def scheduler_lock_key(prefix: str) -> str:
    return f"{prefix}:lock:scheduler"


def scheduler_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def enqueue_due_jobs(queue: RQJobQueue, names: list[str]) -> int:
    """Move the scheduled jobs that are due to their queues (what RQ's scheduler does); answers how many."""
    from rq.job import Job

    moved = 0
    redis = queue.connection()
    for name in names:
        rq_queue = queue.queue(name)
        registry = rq_queue.scheduled_job_registry
        job_ids = registry.get_jobs_to_schedule(int(time.time()))
        if not job_ids:
            continue
        jobs = Job.fetch_many(job_ids, connection=redis)
        with redis.pipeline() as pipeline:
            for job_id, job in zip(job_ids, jobs, strict=True):
                if job is not None:
                    rq_queue.enqueue_job(job, pipeline=pipeline)
                    moved += 1
                registry.remove(job_id, pipeline=pipeline)
            pipeline.execute()
    return moved


def _schedule(queue: RQJobQueue, names: list[str], stop: threading.Event) -> None:
    from redis.exceptions import RedisError

    token = scheduler_token()
    key = scheduler_lock_key(queue.prefix)
    holding = False
    while not stop.wait(1.0):
        try:
            script = queue.connection().register_script(_ACQUIRE_OR_REFRESH)
            now_holding = bool(script(keys=[key], args=[token, SCHEDULER_LOCK_SECONDS]))
            if now_holding and not holding:
                log.info("this worker moves scheduled jobs to their queues now (%s)", token)
            holding = now_holding
            if holding:
                enqueue_due_jobs(queue, names)
        except RedisError as exc:
            holding = False
            log.warning("scheduler: Redis unavailable (%s); trying again", type(exc).__name__)
        except Exception:  # noqa: BLE001 - one bad round must not end scheduling for this process
            log.exception("scheduler: a round failed; trying again")


REDIS_WAIT_SECONDS = 1.0  # how often a worker whose Redis went away looks for it again


def run_worker(rt: Runtime, queue_names: list[str], *, burst: bool = False) -> None:
    """Work until stopped (SIGTERM/SIGINT) or, with ``burst``, until the queues are empty.

    Redis going away (a restart, a fail-over) does not end the process: RQ's worker gives up with a
    connection error (from a job's heartbeat, or at start), and a new one is started here once Redis
    answers again. Whatever the lost worker was doing is in the database: the relay hands it out again."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from rq.exceptions import StopRequested

    queue = rt.job_queue
    assert isinstance(queue, RQJobQueue)
    stop = threading.Event()
    if not burst:
        threading.Thread(target=_periodic, args=(rt, queue, stop), daemon=True, name="periodic").start()
        threading.Thread(target=_schedule, args=(queue, queue_names, stop), daemon=True, name="scheduler").start()
    # Everything loaded so far lives as long as the process: keep it out of the garbage collector's
    # full passes, which otherwise walk it again and again while send_each churns through objects;
    # and collect less often (measured: about 0.15 ms less CPU per push, about 5 MB more RSS).
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 50)
    started = time.monotonic()
    worker_class = _worker_class()
    job_class = _job_class()
    try:
        while True:
            # SimpleWorker runs jobs in this process: the FCM client (its HTTP pool and OAuth token) lives
            # across jobs instead of being rebuilt in a fork for every job.
            worker = None
            try:
                worker = worker_class(
                    [queue.queue(name) for name in queue_names], connection=queue.connection(), job_class=job_class
                )
                worker._lsso_prefix = queue.prefix
                worker.max_connection_wait_time = 2.0  # RQ's own reconnect backoff: at most 2 s, not 60 s
                worker.work(with_scheduler=False, burst=burst, logging_level=rt.settings.log_level)
                return
            except (RedisConnectionError, RedisTimeoutError) as exc:
                if burst or (worker is not None and worker._stop_requested):
                    raise
                log.warning("Redis unavailable (%s); this worker waits for it and starts again", type(exc).__name__)
            if not _wait_for_redis(queue):
                return
    except StopRequested:
        return
    finally:
        stop.set()
        log.info("worker stopped after %.0fs", time.monotonic() - started)


def _wait_for_redis(queue: RQJobQueue) -> bool:
    """Until Redis answers (True), or a stop signal arrives while waiting (False)."""
    from redis.exceptions import RedisError

    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stopping.wait(REDIS_WAIT_SECONDS):
            try:
                if queue.connection().ping():
                    log.info("Redis is back; the worker starts again")
                    return True
            except RedisError:
                continue
        return False
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
