"""Payment jobs (the ``payments`` queue): confirm a callback with the provider, then credit.

The provider is asked outside any transaction, so no row stays locked while a slow bank answers; raising
lets RQ try again with the task's backoff (provider down, or the payment still pending).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from lsso_mobile import runtime
from lsso_mobile.jobs import CONFIRM_PAYMENT, PAYMENT_RETRY_INTERVALS, RQJobQueue
from lsso_mobile.models import utcnow
from lsso_mobile.services.payment_providers import ProviderTransaction, ProviderUnavailable, build_provider
from lsso_mobile.services.payments import payment_to_confirm, payments_to_confirm, settle_payment, settle_payments

log = logging.getLogger(__name__)


class PaymentNotSettled(RuntimeError):
    """The provider does not say paid or failed yet: ask again later."""


def confirm_payment(payment_id: int) -> str:
    rt = runtime.current()
    with rt.db.unit_of_work() as session:
        pending = payment_to_confirm(session, payment_id)
    if pending is None:
        return "done"
    provider_name, transaction_id = pending
    answer = build_provider(rt.settings).query(transaction_id)
    with rt.db.unit_of_work() as session:
        state = settle_payment(session, rt.settings, payment_id, answer, utcnow())
    if state == "pending":
        raise PaymentNotSettled(f"payment {payment_id} at {provider_name} is not settled yet")
    return state


SETTLE_CHUNK = 50  # payments per commit: fewer commits, and a failure costs little
QUERY_THREADS = 8  # provider queries in flight at once (each waits on the network, not the CPU)
# A drain job stops taking work after this long and hands the rest back to the ready list, well inside its RQ
# timeout (900 s): a job killed mid-transaction loses its popped ids until the relay finds them.
TIME_BUDGET_SECONDS = 240.0


def _ask(transaction_id: str) -> ProviderTransaction | None | Exception:
    try:
        return build_provider(runtime.current().settings).query(transaction_id)
    except ProviderUnavailable as exc:
        return exc


def confirm_payment_batches(batches: Iterable[Sequence[int]]) -> dict[str, int]:
    """Batches of callbacks from the ``payments`` ready list: the provider is asked about each (several at
    once), then the answers are settled 50 to a commit. A payment the provider cannot settle now (down,
    slow, pending) gets its own job later, which RQ retries."""
    rt = runtime.current()
    outcome: dict[str, int] = {}
    later: list[int] = []
    handed_back: list[int] = []
    started = time.monotonic()
    # In-process (no Redis) there is no job timeout, and handing back would only call this again.
    budget = TIME_BUDGET_SECONDS if isinstance(rt.job_queue, RQJobQueue) else float("inf")
    with ThreadPoolExecutor(QUERY_THREADS, thread_name_prefix="provider") as pool:
        for batch in batches:
            if time.monotonic() - started > budget:
                handed_back += list(batch)
                break  # the batches not yet taken stay in the ready list (a drain for them is already asked)
            with rt.db.unit_of_work() as session:
                pending = payments_to_confirm(session, list(batch))
            ids = sorted(pending)
            replies = dict(zip(ids, pool.map(_ask, [pending[i] for i in ids]), strict=True))
            answers: dict[int, ProviderTransaction | None] = {}
            for payment_id, reply in replies.items():
                if isinstance(reply, Exception):
                    log.warning("payment %d not confirmed: %s; asked again later", payment_id, type(reply).__name__)
                    later.append(payment_id)
                else:
                    answers[payment_id] = reply
            chunk_ids = sorted(answers)
            for start in range(0, len(chunk_ids), SETTLE_CHUNK):
                if time.monotonic() - started > budget:
                    handed_back += chunk_ids[start:]
                    break
                chunk = {i: answers[i] for i in chunk_ids[start : start + SETTLE_CHUNK]}
                with rt.db.unit_of_work() as session:
                    states = settle_payments(session, rt.settings, chunk, utcnow())
                for payment_id, state in states.items():
                    outcome[state] = outcome.get(state, 0) + 1
                    if state == "pending":
                        later.append(payment_id)
            if handed_back:
                break
    at = utcnow() + timedelta(seconds=PAYMENT_RETRY_INTERVALS[0])
    rt.job_queue.submit_many(
        [CONFIRM_PAYMENT.request(payment_id, at=at) for payment_id in later]
        + [CONFIRM_PAYMENT.request(payment_id) for payment_id in handed_back]
    )
    if handed_back:
        outcome["handed_back"] = len(handed_back)
    return outcome
