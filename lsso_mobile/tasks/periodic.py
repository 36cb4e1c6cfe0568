"""Periodic work, declared in one place: what runs, how often, and the job behind it.

``lsso-mobile worker`` runs ``run_due`` every ``LSSO_RELAY_INTERVAL_SECONDS``; a Redis lock per task
makes each run once per interval across all worker processes. ``lsso-mobile relay`` runs the relays
by hand.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from lsso_mobile import runtime
from lsso_mobile.jobs import CONFIRM_PAYMENT, SEND_SMS
from lsso_mobile.models import utcnow
from lsso_mobile.notify.delivery import prune_stale_devices, relay_undelivered
from lsso_mobile.services.attachments import UPLOAD_PURGE_INTERVAL, purge_unsent_uploads, remove_unused_files
from lsso_mobile.services.broadcast_delivery import relay_broadcasts
from lsso_mobile.services.housekeeping import prune_expired_auth_rows
from lsso_mobile.services.payment_providers import build_provider
from lsso_mobile.services.payments import (
    Reconciliation,
    expire_overdue_bills,
    reconcile,
    unconfirmed_payments,
    yesterday,
)
from lsso_mobile.services.reminders import remind_batch, reminder_round
from lsso_mobile.services.sms import unsent_sms
from lsso_mobile.services.sms_fallback import scan_once

log = logging.getLogger(__name__)


def relay_notices() -> int:
    """Undelivered notices whose job was lost (Redis down, a worker killed) go to the queue again."""
    return relay_undelivered()


def relay_broadcast_work() -> dict[str, int]:
    """Broadcasts to start, slices whose job or worker was lost, deferrals that are due."""
    return relay_broadcasts()


def relay_sms() -> int:
    """SMS whose job was lost go to the queue again (their rows say they are unsent)."""
    rt = runtime.current()
    with rt.db.unit_of_work() as session:
        ids = unsent_sms(session, utcnow())
    rt.job_queue.submit_many([SEND_SMS.request(sms_id) for sms_id in ids])
    return len(ids)


FALLBACK_BATCHES_PER_RUN = 40


def send_due_sms_fallbacks() -> dict[str, int]:
    """Notices not acknowledged in time go by SMS: 500 a commit, at most 20,000 a run (the next run goes on).
    Reads only the due rows of a partial index, however many notices were ever sent."""
    rt = runtime.current()
    totals: Counter[str] = Counter()
    for _ in range(FALLBACK_BATCHES_PER_RUN):
        with rt.db.unit_of_work() as session:
            outcomes = scan_once(session, rt.settings, utcnow())
        totals.update(outcomes)
        if not outcomes:
            break
    if totals:
        log.info("SMS fallback: %s", dict(totals))
    return dict(totals)


def send_due_reminders() -> int:
    """Today's contribution reminders, committed 1,000 at a time, so a long run keeps its progress and a
    second worker's overlapping run only loses its own batch to the unique key."""
    rt = runtime.current()
    now = utcnow()
    with rt.db.unit_of_work() as session:
        round_ = reminder_round(session, now, rt.settings.reminder_days_before_due)
    sent, after = 0, 0
    while round_ is not None:
        with rt.db.unit_of_work() as session:
            count, last = remind_batch(session, round_, now, after)
        sent += count
        if last is None:
            break
        after = last
    return sent


def prune_devices() -> int:
    return prune_stale_devices()


def prune_auth_rows() -> None:
    with runtime.current().db.unit_of_work() as session:
        prune_expired_auth_rows(session, utcnow())


def purge_uploads() -> None:
    """Uploads never sent: rows in one commit, then their files (only after the commit)."""
    rt = runtime.current()
    with rt.db.unit_of_work() as session:
        unused_files = purge_unsent_uploads(session, rt.settings, utcnow())
    remove_unused_files(rt.settings, unused_files, utcnow())


PAYMENT_RELAY_AFTER = timedelta(minutes=15)  # after RQ's own retries (5 s .. 10 min) are over


def relay_payments() -> int:
    """Payments still unconfirmed long after their callback (job lost, provider down for long) are asked again."""
    rt = runtime.current()
    with rt.db.unit_of_work() as session:
        ids = unconfirmed_payments(session, utcnow(), PAYMENT_RELAY_AFTER)
    rt.job_queue.submit_many([CONFIRM_PAYMENT.request(payment_id) for payment_id in ids])
    return len(ids)


def expire_bills() -> int:
    """Open bills past their expiry let go of their months."""
    with runtime.current().db.unit_of_work() as session:
        return expire_overdue_bills(session, utcnow())


def reconcile_payments(day: date | None = None) -> Reconciliation:
    """Yesterday's (Vientiane) transactions at the provider against our credits; mismatches go to review."""
    rt = runtime.current()
    now = utcnow()
    day = day or yesterday(now)
    provider = build_provider(rt.settings)
    listed = provider.transactions(day)  # outside any transaction: the provider may be slow
    with rt.db.unit_of_work() as session:
        return reconcile(session, provider.name, day, listed, now)


@dataclass(frozen=True)
class PeriodicTask:
    name: str  # also the Redis lock's name
    every_seconds: int | None  # None: every relay interval
    run: Callable[[], object]


DAY = 24 * 3600
PERIODIC_TASKS: tuple[PeriodicTask, ...] = (
    PeriodicTask("relay", None, relay_notices),
    PeriodicTask("relay-broadcasts", None, relay_broadcast_work),
    PeriodicTask("relay-sms", 60, relay_sms),
    PeriodicTask("relay-payments", 60, relay_payments),
    PeriodicTask("expire-bills", 600, expire_bills),
    PeriodicTask("reconcile-payments", DAY, reconcile_payments),
    PeriodicTask("sms-fallback", None, send_due_sms_fallbacks),
    PeriodicTask("reminders", 3600, send_due_reminders),  # idempotent: each member and period once
    PeriodicTask("prune-devices", DAY, prune_devices),
    PeriodicTask("prune-auth", DAY, prune_auth_rows),
    PeriodicTask("purge-uploads", int(UPLOAD_PURGE_INTERVAL.total_seconds()), purge_uploads),
)


def run_due(redis: object, prefix: str, interval: int) -> None:
    """Run each periodic task whose lock is free; one failing task does not stop the others."""
    for task in PERIODIC_TASKS:
        every = task.every_seconds or max(1, interval - 1)
        try:
            if redis.set(f"{prefix}:lock:{task.name}", "1", nx=True, ex=every):  # type: ignore[attr-defined]
                task.run()
        except Exception:  # noqa: BLE001 - Redis or the database may be down for a while; try again
            log.exception("periodic task %s failed; retrying in %ss", task.name, interval)
