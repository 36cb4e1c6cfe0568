"""Prometheus metrics: every family the service exports, declared in one place, below every other layer.

Notify, services and tasks count here (``metrics.PUSHES.labels(kind="personal", outcome="sent").inc()``);
the app factory adds the HTTP families and the ``/metrics`` endpoint, the worker serves its own on a port.
Nothing here imports Flask.

How to add a family (payments, SMS fallback, ...):

1. Declare it below, in a section for its area: ``lsso_<area>_<what>_<unit>`` (``_total`` for a counter,
   ``_seconds`` for a histogram of durations), a one-line help text, and labels that take few values
   (an outcome, a provider, a queue: never an id, a phone number, a token or any text a person wrote).
   For example::

       PAYMENT_CALLBACKS = Counter(
           "lsso_payment_callbacks_total", "Bank callbacks received, by provider and outcome", ["provider", "outcome"]
       )

2. Count where the event happens, in the service or job: ``metrics.PAYMENT_CALLBACKS.labels(provider=p,
   outcome="bad_signature").inc()``. Counting never fails the caller's work and costs about a microsecond.
   What a unit of work writes is counted when it commits: ``metrics.count_on_commit(session,
   metrics.PAYMENT_CREDITS.labels(channel="bank"))``, so a transaction rolled back (a database outage, a
   raced savepoint) and run again counts once.
3. Add it to the README's metrics table (and an alert rule if someone must act on it), and to the scrape
   scenario in ``tests/test_metrics.py``.

Counters and histograms add up across processes: under gunicorn (``PROMETHEUS_MULTIPROC_DIR`` set by
``gunicorn.conf.py``) each process writes its own file and the endpoint sums them. A value that is a
*state* (a queue's depth, the outbox's age) is not counted by anyone: it is read when Prometheus scrapes,
by ``StateCollector`` below, from Redis and the database.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# --- HTTP (the app factory counts every request) ---------------------------------------------------------
HTTP_REQUESTS = Counter(
    "lsso_http_requests_total",
    "HTTP requests answered, by route (the URL rule, not the path), method and status",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "lsso_http_request_duration_seconds",
    "Time to answer an HTTP request, by route and method",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# --- Jobs (the worker counts every job it runs) ----------------------------------------------------------
JOBS = Counter("lsso_jobs_total", "Background jobs run, by queue, task and outcome", ["queue", "task", "outcome"])
JOB_DURATION = Histogram(
    "lsso_job_duration_seconds",
    "Time a background job ran, by queue",
    ["queue"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0),
)

# --- Pushes (personal notices and broadcasts) ------------------------------------------------------------
PUSHES = Counter(
    "lsso_pushes_total",
    "Pushes answered by FCM (or the log sender), by kind (personal, broadcast) and outcome "
    "(sent, unregistered, retry, failed)",
    ["kind", "outcome"],
)
FCM_CALLS = Counter("lsso_fcm_calls_total", "send_each calls, by result (ok, error: the whole call failed)", ["result"])
FCM_CALL_SECONDS = Histogram(
    "lsso_fcm_call_duration_seconds",
    "Time of one send_each call (up to 500 messages)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0),
)
BROADCAST_SLICES = Counter(
    "lsso_broadcast_slices_total",
    "Broadcast slice job runs, by outcome (done, partial: stopped before the end, to be resumed)",
    ["outcome"],
)
BROADCAST_SLICE_SECONDS = Histogram(
    "lsso_broadcast_slice_duration_seconds",
    "Time one broadcast slice job ran",
    buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)

# --- SMS ---------------------------------------------------------------------------------------------------
SMS = Counter("lsso_sms_total", "SMS handed to the gateway, by kind (code, message) and outcome", ["kind", "outcome"])
SMS_PARTS = Counter("lsso_sms_parts_total", "SMS parts billed (GSM-7: 160/153 characters, UCS-2: 70/67)", ["kind"])

# --- Sign-in and limits ------------------------------------------------------------------------------------
SIGN_IN_FAILURES = Counter(
    "lsso_sign_in_failures_total",
    "Failed sign-ins (wrong PIN, password or code), by who (member, staff, client)",
    ["who"],
)
LIMIT_REFUSALS = Counter(
    "lsso_limit_refusals_total", "Requests refused with 429, by the error code (which limit)", ["error"]
)

# --- SMS fallback (services/sms_fallback.py) ---------------------------------------------------------------
SMS_FALLBACK_SENDS = Counter(
    "lsso_sms_fallback_sends_total",
    "SMS queued in place of a push, by reason (unacknowledged: the app did not acknowledge the notice in time; "
    "no_device: no active device; sms_only: the member chose SMS; broadcast: a broadcast ops sent by SMS too)",
    ["reason"],
)
SMS_FALLBACK_WITHHELD = Counter(
    "lsso_sms_fallback_withheld_total",
    "Fallback SMS not sent, by why (muted, capped: the member's daily cap, no_text, no_phone, acknowledged: "
    "the app answered while the scan ran)",
    ["why"],
)

# --- Payments (api/payments.py, services/payments.py) -------------------------------------------------------
PAYMENT_CALLBACKS = Counter(
    "lsso_payment_callbacks_total",
    "Bank callbacks received, by provider (the configured one, or unknown) and outcome (accepted: a new "
    "transaction; duplicate: one already known; bad_signature; replayed: a timestamp outside the window; "
    "malformed; unknown: not the configured provider)",
    ["provider", "outcome"],
)
PAYMENT_CREDITS = Counter(
    "lsso_payment_credits_total",
    "Bills credited, by channel (bank: confirmed by the payment provider, paid in a banking app or at a "
    "counter; cash: at an office, confirmed by a second officer; review: applied by staff from the review queue)",
    ["channel"],
)
PAYMENT_CREDITED_KIP = Counter(
    "lsso_payment_credited_kip_total",
    "Kip of the bills credited, by channel: each bill's amount (a payment staff apply from the review queue may "
    "have brought less or more; the bank's own figures are in the daily reconciliation)",
    ["channel"],
)
PAYMENT_REVIEWS = Counter(
    "lsso_payment_reviews_total",
    "Payments sent to the review queue, by reason (amount_mismatch, bill_expired, bill_cancelled, "
    "already_paid, unknown_bill)",
    ["reason"],
)
PAYMENT_RECONCILIATION_FLAGS = Counter(
    "lsso_payment_reconciliation_flags_total",
    "Review items the daily reconciliation raised, by reason (no_credit: the provider has a paid transaction "
    "we never credited; no_transaction: we credited one the provider does not list)",
    ["reason"],
)

# --- Database outages seen by the API ----------------------------------------------------------------------
DATABASE_UNAVAILABLE = Counter(
    "lsso_database_unavailable_total", "Requests answered 503 because the database could not be reached"
)


_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)
_GSM7_EXTENDED = set("^{}\\[~]|€")


def sms_parts(text: str) -> int:
    """Parts an SMS is billed as: GSM-7 160 characters in one part, 153 per part when split (extension
    characters count twice); anything else (Lao) is UCS-2: 70 in one part, 67 per part."""
    if all(c in _GSM7 for c in text):
        length = len(text) + sum(1 for c in text if c in _GSM7_EXTENDED)
        single, per_part = 160, 153
    else:
        length = len(text.encode("utf-16-le")) // 2
        single, per_part = 70, 67
    return 1 if length <= single else -(-length // per_part)


def count_sms(kind: str, outcome: str, text: str | None = None) -> None:
    SMS.labels(kind=kind, outcome=outcome).inc()
    if outcome == "sent" and text:
        SMS_PARTS.labels(kind=kind).inc(sms_parts(text))


_ON_COMMIT_KEY = "lsso_counts_on_commit"


def count_on_commit(session: Session, counter: Any, amount: float = 1.0) -> None:
    """Count ``amount`` on ``counter`` (a family's labelled child) once the session's transaction commits:
    a unit of work that rolls back (a database outage, a raced savepoint) and is run again counts once."""
    if not session.in_transaction():
        session.begin()
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_ON_COMMIT_KEY, []).append((transaction, counter, amount))


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: wait for the real commit (as jobs.py does)
    for _transaction, counter, amount in session.info.pop(_ON_COMMIT_KEY, []):
        counter.inc(amount)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: Any) -> None:
    pending = session.info.get(_ON_COMMIT_KEY)
    if not pending:
        return
    if previous_transaction.parent is None:
        session.info.pop(_ON_COMMIT_KEY, None)
        return

    def inside(transaction: Any) -> bool:
        while transaction is not None:
            if transaction is previous_transaction:
                return True
            transaction = transaction.parent
        return False

    session.info[_ON_COMMIT_KEY] = [entry for entry in pending if not inside(entry[0])]


def count_pushes(kind: str, outcomes: Iterator[str] | list[str]) -> None:
    """One increment per outcome value (``PushOutcome`` values), grouped so a call of 500 costs a few inc()."""
    tally: dict[str, int] = {}
    for outcome in outcomes:
        tally[outcome] = tally.get(outcome, 0) + 1
    for outcome, count in tally.items():
        PUSHES.labels(kind=kind, outcome=outcome).inc(count)


class StateCollector(Collector):
    """What is read at scrape time: RQ queue depths per queue and state, RQ workers alive, the age of the
    oldest undelivered notice and SMS, and the open payment review items. ``probe`` answers those figures
    (the composition root hands in one that uses the runtime); a failing probe costs the scrape nothing but
    these families."""

    def __init__(self, probe: Callable[[], dict[str, Any]]) -> None:
        self.probe = probe

    def collect(self) -> Iterator[Metric]:
        try:
            state = self.probe()
        except Exception:  # noqa: BLE001 - Redis or the database down: the scrape still answers
            log.warning("metrics: the state probe failed; queue and outbox figures are left out", exc_info=True)
            state = {}
        up = GaugeMetricFamily("lsso_state_probe_ok", "1 when queue and outbox figures could be read")
        up.add_metric([], 1.0 if state else 0.0)
        yield up
        if "queues" in state:
            depth = GaugeMetricFamily(
                "lsso_queue_jobs",
                "RQ jobs per queue and state (queued, started, scheduled, failed)",
                labels=["queue", "state"],
            )
            for (queue, job_state), value in sorted(state["queues"].items()):
                depth.add_metric([queue, job_state], float(value))
            yield depth
        if "ready" in state:
            ready = GaugeMetricFamily("lsso_push_ready_ids", "Notification ids waiting in the push ready list")
            ready.add_metric([], float(state["ready"]))
            yield ready
        if "workers" in state:
            workers = GaugeMetricFamily("lsso_rq_workers", "RQ workers registered in Redis")
            workers.add_metric([], float(state["workers"]))
            yield workers
        if "outbox" in state:
            age = GaugeMetricFamily(
                "lsso_outbox_oldest_seconds",
                "Age of the oldest undelivered item that is due, by outbox (notifications, sms); 0 when empty",
                labels=["outbox"],
            )
            for outbox, seconds in sorted(state["outbox"].items()):
                age.add_metric([outbox], float(seconds))
            yield age
        if "payment_reviews" in state:
            reviews = GaugeMetricFamily("lsso_payment_reviews_open", "Payment review items waiting for staff")
            reviews.add_metric([], float(state["payment_reviews"]["open"]))
            yield reviews
            oldest = GaugeMetricFamily(
                "lsso_payment_review_oldest_seconds", "Age of the oldest open payment review item; 0 when none"
            )
            oldest.add_metric([], float(state["payment_reviews"]["oldest"]))
            yield oldest


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def exposition_registry(*extra: Collector) -> CollectorRegistry:
    """The registry to expose: every process's counters summed (multiprocess mode) or this process's own,
    plus ``extra`` collectors read at scrape time."""
    directory = multiprocess_dir()
    registry: CollectorRegistry
    if directory:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
    else:
        registry = CollectorRegistry(auto_describe=True)
        registry.register(_Forward(REGISTRY))
    for collector in extra:
        registry.register(collector)
    return registry


class _Forward(Collector):
    """This process's default registry, inside another registry (so extra collectors can join it)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def mark_process_dead(pid: int) -> None:
    """Gunicorn's ``child_exit``: a dead process's live gauges are dropped (its counters stay summed)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def seconds_since(moment: datetime | None, now: datetime | None = None) -> float:
    if moment is None:
        return 0.0
    now = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (now - moment).total_seconds())


class Timer:
    """``with Timer() as t: ...; t.seconds``: a monotonic stopwatch."""

    def __enter__(self) -> Timer:
        self.started = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *_exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
