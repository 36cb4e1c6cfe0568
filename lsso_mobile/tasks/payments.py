"""Payment jobs (the ``payments`` queue): confirm a callback with the provider, then credit.

The provider is asked outside any transaction, so no row stays locked while a slow bank answers; raising
lets RQ try again with the task's backoff (provider down, or the payment still pending).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta

from lsso_mobile import runtime
from lsso_mobile.jobs import CONFIRM_PAYMENT, PAYMENT_RETRY_INTERVALS
from lsso_mobile.models import utcnow
from lsso_mobile.services.payment_providers import ProviderUnavailable, build_provider
from lsso_mobile.services.payments import payment_to_confirm, settle_payment

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


def confirm_payment_batches(batches: Iterable[Sequence[int]]) -> dict[str, int]:
    """Batches of callbacks from the ``payments`` ready list. Each payment is settled in its own unit of work;
    one the provider cannot settle now (down, slow, pending) gets its own job later, which RQ retries."""
    rt = runtime.current()
    outcome: dict[str, int] = {}
    later = []
    for batch in batches:
        for payment_id in batch:
            try:
                state = confirm_payment(payment_id)
            except (ProviderUnavailable, PaymentNotSettled) as exc:
                log.warning("payment %d not settled yet (%s); asked again later", payment_id, type(exc).__name__)
                later.append(payment_id)
                state = "later"
            outcome[state] = outcome.get(state, 0) + 1
    at = utcnow() + timedelta(seconds=PAYMENT_RETRY_INTERVALS[0])
    rt.job_queue.submit_many([CONFIRM_PAYMENT.request(payment_id, at=at) for payment_id in later])
    return outcome
