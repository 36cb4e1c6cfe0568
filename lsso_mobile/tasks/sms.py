"""SMS jobs (the ``sms`` queue): raising lets RQ retry them with the task's backoff."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from lsso_mobile import metrics, runtime
from lsso_mobile.jobs import SEND_BROADCAST_SMS
from lsso_mobile.models import utcnow
from lsso_mobile.notify.delivery import record_with_retry
from lsso_mobile.services.otp import code_message_to_send, forget_sealed_code
from lsso_mobile.services.sms import mark_sms_sent, release_sms, sms_to_send
from lsso_mobile.services.sms_fallback import broadcast_sms_batch, send_due_fallbacks


def send_sms(sms_id: int) -> None:
    """One SMS from the outbox. The gateway is called outside any transaction; the text is wiped once sent."""
    rt = runtime.current()
    with rt.db.unit_of_work() as session:
        message = sms_to_send(session, rt.settings, sms_id, utcnow())
    if message is None:
        return
    try:
        gateway_message_id = rt.sms_sender.send(*message)
    except Exception:
        metrics.count_sms("message", "failed")
        with rt.db.unit_of_work() as session:
            release_sms(session, sms_id)
        raise
    metrics.count_sms("message", "sent", message[1])
    # The gateway took it: record that through a database blip, or the relay would send it again later.
    record_with_retry("an SMS sent", lambda session: mark_sms_sent(session, sms_id, utcnow(), gateway_message_id))


def send_code(otp_id: int) -> None:
    """One code's SMS, then its sealed copy is wiped. The sealed code stays until a send succeeds; the
    gateway is called outside any transaction, so no row stays locked while it answers."""
    rt = runtime.current()
    with rt.db.unit_of_work() as session:
        message = code_message_to_send(session, rt.settings, otp_id, utcnow())
    if message is None:
        return
    try:
        rt.sms_sender.send(*message)
    except Exception:
        metrics.count_sms("code", "failed")
        raise
    metrics.count_sms("code", "sent", message[1])
    record_with_retry("a code sent", lambda session: forget_sealed_code(session, otp_id))


def send_fallback_sms(notification_id: int) -> dict[str, int]:
    """A notice whose SMS is due at once (no active device, SMS only, no device reached); the scan covers the
    rest and a lost job."""
    rt = runtime.current()
    with rt.db.unit_of_work() as session:
        return dict(send_due_fallbacks(session, rt.settings, [notification_id], utcnow()))


def send_broadcast_sms(broadcast_id: int) -> dict[str, int]:
    """A flagged broadcast's SMS, 500 members a commit; members in quiet hours get theirs when they end (the job
    asks for itself again then, and sends only to members who have no SMS of it yet)."""
    rt = runtime.current()
    totals: Counter[str] = Counter()
    after: int | None = 0
    wait_until: datetime | None = None
    while after is not None:
        with rt.db.unit_of_work() as session:
            outcomes, after, quiet_end = broadcast_sms_batch(session, rt.settings, broadcast_id, after, utcnow())
        totals.update(outcomes)
        if quiet_end is not None:
            wait_until = quiet_end if wait_until is None else min(wait_until, quiet_end)
    if wait_until is not None:
        rt.job_queue.submit(SEND_BROADCAST_SMS.request(broadcast_id, at=wait_until))
    return dict(totals)
