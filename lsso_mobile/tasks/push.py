"""Jobs that push personal notices (the ``push`` queue)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lsso_mobile.notify import delivery


def deliver_notification(notification_id: int) -> str:
    """One notification (a retry, or a push deferred past quiet hours). Returns what happened to it."""
    return delivery.deliver_notification(notification_id)


def deliver_notification_batches(batches: Iterable[Sequence[int]]) -> dict[str, int]:
    """Batches of up to 500 notifications taken from the ``push`` ready list by ``drain_ready``."""
    return delivery.deliver_batches(batches)
