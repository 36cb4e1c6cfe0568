"""SMS jobs (the ``sms`` queue): raising lets RQ retry them with the task's backoff."""

from __future__ import annotations

from lsso_mobile import metrics, runtime
from lsso_mobile.models import utcnow
from lsso_mobile.services.otp import code_message_to_send, forget_sealed_code
from lsso_mobile.services.sms import mark_sms_sent, release_sms, sms_to_send


def send_sms(sms_id: int) -> None:
    """One SMS from the outbox. The gateway is called outside any transaction; the text is wiped once sent."""
    rt = runtime.current()
    with rt.db.unit_of_work() as session:
        message = sms_to_send(session, rt.settings, sms_id, utcnow())
    if message is None:
        return
    try:
        rt.sms_sender.send(*message)
    except Exception:
        metrics.count_sms("message", "failed")
        with rt.db.unit_of_work() as session:
            release_sms(session, sms_id)
        raise
    metrics.count_sms("message", "sent", message[1])
    with rt.db.unit_of_work() as session:
        mark_sms_sent(session, sms_id, utcnow())


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
    with rt.db.unit_of_work() as session:
        forget_sealed_code(session, otp_id)
