"""Payment jobs (the ``payments`` queue): confirm a callback with the provider, then credit.

The provider is asked outside any transaction, so no row stays locked while a slow bank answers; raising
lets RQ try again with the task's backoff (provider down, or the payment still pending).
"""

from __future__ import annotations

from functools import lru_cache

from lsso_mobile import runtime
from lsso_mobile.config import Settings
from lsso_mobile.models import utcnow
from lsso_mobile.services.payment_providers import PaymentProvider, build_provider
from lsso_mobile.services.payments import payment_to_confirm, settle_payment


class PaymentNotSettled(RuntimeError):
    """The provider does not say paid or failed yet: ask again later."""


@lru_cache(maxsize=4)
def _provider(settings: Settings) -> PaymentProvider:
    return build_provider(settings)  # one HTTP session per process and configuration


def confirm_payment(payment_id: int) -> str:
    rt = runtime.current()
    with rt.db.unit_of_work() as session:
        pending = payment_to_confirm(session, payment_id)
    if pending is None:
        return "done"
    provider_name, transaction_id = pending
    answer = _provider(rt.settings).query(transaction_id)
    with rt.db.unit_of_work() as session:
        state = settle_payment(session, rt.settings, payment_id, answer, utcnow())
    if state == "pending":
        raise PaymentNotSettled(f"payment {payment_id} at {provider_name} is not settled yet")
    return state
