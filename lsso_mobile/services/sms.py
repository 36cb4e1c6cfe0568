"""SMS: the senders behind one small interface, and the SMS outbox.

Senders: ``log`` (development: the text goes to the log) or ``http`` (POSTs JSON to the configured gateway
with a bearer token); errors never contain the message text, because a text may hold a code.

Outbox: ``queue_sms`` writes the SMS in the caller's transaction, sealed, and after commit a job on the
``sms`` queue that holds only the row's id sends it (``tasks/sms.py``), so Redis never holds a phone
number or a text. Sign-in codes take their own path (``services/otp.py``): their row holds the code.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import requests
from cryptography.exceptions import InvalidTag
from sqlalchemy import insert, or_, select, text, update
from sqlalchemy.orm import Session

from lsso_mobile.config import Settings
from lsso_mobile.extensions import affected_rows
from lsso_mobile.jobs import SEND_SMS, enqueue_after_commit
from lsso_mobile.models import SmsMessage, utcnow
from lsso_mobile.notify.sms_text import measure
from lsso_mobile.services.phones import mask_phone
from lsso_mobile.services.secrets_hashing import seal, unseal

log = logging.getLogger(__name__)


class SmsDeliveryError(RuntimeError):
    """The gateway refused or could not be reached; the message says which, never the text."""


class SmsSender(Protocol):
    def send(self, phone: str, text: str) -> str | None:
        """Hand the SMS to the gateway; answers the gateway's message id (delivery reports name it), if any."""
        ...


class LogSmsSender:
    def send(self, phone: str, text: str) -> str | None:
        # The development backend: the code is read from the log. Production uses ``http``.
        log.info("SMS (log backend) to %s: %s", mask_phone(phone), text)
        return f"log-{uuid.uuid4().hex}"


class HttpSmsSender:
    def __init__(self, url: str, token: str, timeout: float = 10.0) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self._session = requests.Session()

    def send(self, phone: str, text: str) -> str | None:
        try:
            response = self._session.post(
                self.url,
                json={"to": phone, "text": text},
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise SmsDeliveryError(f"SMS gateway unreachable ({type(exc).__name__})") from None
        if response.status_code >= 300:
            raise SmsDeliveryError(f"SMS gateway answered HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            return None
        message_id = answer.get("id") or answer.get("message_id") if isinstance(answer, dict) else None
        return str(message_id)[:64] if message_id else None


def build_sms_sender(settings: Settings) -> SmsSender:
    if settings.sms_backend == "http":
        return HttpSmsSender(settings.sms_gateway_url, settings.sms_gateway_token)
    return LogSmsSender()


# -- the SMS outbox ------------------------------------------------------------------------------------

_SEALING_PURPOSE = b"lsso-mobile sms outbox v1"
# An SMS whose job was lost (Redis down at commit and in-process sending failed too) is handed to the queue
# again by the relay after this long; one older than SMS_GIVE_UP is no longer worth sending.
# (RQ's own retries of a failed send are over by then.) An SMS is tried at most SMS_MAX_ATTEMPTS times.
SMS_RELAY_AFTER = timedelta(minutes=5)
SMS_GIVE_UP = timedelta(hours=6)
SMS_MAX_ATTEMPTS = 10


def queue_sms(
    session: Session,
    settings: Settings,
    phone: str,
    text: str,
    purpose: str,
    *,
    expires_at: datetime | None = None,
    member_id: int | None = None,
    notification_id: int | None = None,
    broadcast_id: int | None = None,
    office_id: int | None = None,
    category: str | None = None,
) -> SmsMessage:
    """Write the SMS (sealed) in this transaction; after commit, a job holding only its id sends it. An SMS with
    ``expires_at`` (a code's) is not sent after that time. Its encoding and parts are recorded (what it costs);
    the ids say what it was for (one SMS per notice, and per broadcast and member, at most)."""
    size = measure(text)
    message = SmsMessage(
        phone=phone,
        purpose=purpose,
        created_at=utcnow(),
        expires_at=expires_at,
        member_id=member_id,
        notification_id=notification_id,
        broadcast_id=broadcast_id,
        office_id=office_id,
        category=category or purpose,
        encoding=size.encoding,
        parts=size.parts,
    )
    session.add(message)
    session.flush()
    message.sealed_text = seal(settings.secret_key, _SEALING_PURPOSE, f"sms:{message.id}", text)
    enqueue_after_commit(session, SEND_SMS.request(message.id, description=f"send_sms({purpose}, {message.id})"))
    return message


@dataclass(frozen=True)
class OutgoingSms:
    """One SMS for ``queue_many_sms``: what ``queue_sms`` takes, as a value."""

    phone: str
    text: str
    purpose: str
    member_id: int | None = None
    notification_id: int | None = None
    broadcast_id: int | None = None
    office_id: int | None = None
    category: str | None = None


_SEAL_MANY_POSTGRESQL = text("""
    UPDATE sms_messages AS s SET sealed_text = v.sealed_text
    FROM unnest(CAST(:ids AS integer[]), CAST(:texts AS text[])) AS v(id, sealed_text)
    WHERE s.id = v.id
""")


def queue_many_sms(session: Session, settings: Settings, messages: list[OutgoingSms]) -> list[int]:
    """``queue_sms`` for many at once (the fallback scan): one INSERT and one UPDATE for the whole batch, not two
    statements an SMS. Answers the new rows' ids in the order given."""
    if not messages:
        return []
    now = utcnow()
    sizes = [measure(m.text) for m in messages]
    ids = list(
        session.scalars(
            insert(SmsMessage).returning(SmsMessage.id, sort_by_parameter_order=True),
            [
                {
                    "phone": m.phone,
                    "purpose": m.purpose,
                    "created_at": now,
                    "attempts": 0,
                    "member_id": m.member_id,
                    "notification_id": m.notification_id,
                    "broadcast_id": m.broadcast_id,
                    "office_id": m.office_id,
                    "category": m.category or m.purpose,
                    "encoding": size.encoding,
                    "parts": size.parts,
                }
                for m, size in zip(messages, sizes, strict=True)
            ],
        )
    )
    sealed = [
        seal(settings.secret_key, _SEALING_PURPOSE, f"sms:{sms_id}", m.text)
        for sms_id, m in zip(ids, messages, strict=True)
    ]
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_SEAL_MANY_POSTGRESQL, {"ids": ids, "texts": sealed})  # one statement, arrays unnested
    else:
        session.execute(
            update(SmsMessage), [{"id": sms_id, "sealed_text": text} for sms_id, text in zip(ids, sealed, strict=True)]
        )
    for sms_id, m in zip(ids, messages, strict=True):
        enqueue_after_commit(session, SEND_SMS.request(sms_id, description=f"send_sms({m.purpose}, {sms_id})"))
    return ids


# A job sending an SMS holds it this long; a relayed copy of the job meanwhile sends nothing.
SMS_CLAIM = timedelta(minutes=2)


def sms_to_send(session: Session, settings: Settings, sms_id: int, now: datetime) -> tuple[str, str] | None:
    """Claim an SMS not sent yet and answer (phone, text); None if it went already, another job holds it, or it
    expired (then its text is wiped). The caller commits the claim before calling the gateway."""
    claimed = affected_rows(
        session.execute(
            update(SmsMessage)
            .where(
                SmsMessage.id == sms_id,
                SmsMessage.sent_at.is_(None),
                SmsMessage.sealed_text.is_not(None),
                or_(SmsMessage.claimed_at.is_(None), SmsMessage.claimed_at < now - SMS_CLAIM),
            )
            .values(claimed_at=now, attempts=SmsMessage.attempts + 1)
        )
    )
    message = session.get(SmsMessage, sms_id, populate_existing=True)
    if not claimed or message is None or message.sealed_text is None:
        return None
    if message.expires_at is not None and message.expires_at <= now:
        message.sealed_text = None
        return None
    try:
        text = unseal(settings.secret_key, _SEALING_PURPOSE, f"sms:{message.id}", message.sealed_text)
    except (InvalidTag, ValueError):
        log.error("SMS %d cannot be unsealed (was LSSO_SECRET_KEY changed?); not sent", message.id)
        message.sealed_text = None
        return None
    return message.phone, text


def release_sms(session: Session, sms_id: int) -> None:
    """The gateway failed: let the retry (or the relay) claim it again at once."""
    session.execute(update(SmsMessage).where(SmsMessage.id == sms_id).values(claimed_at=None))


def mark_sms_sent(session: Session, sms_id: int, now: datetime, gateway_message_id: str | None = None) -> None:
    """The gateway took it: the text is wiped; the row stays as the record that it went (and what the gateway
    calls it, for its delivery reports)."""
    session.execute(
        update(SmsMessage)
        .where(SmsMessage.id == sms_id)
        .values(sent_at=now, sealed_text=None, gateway_message_id=gateway_message_id)
    )


def unsent_sms(session: Session, now: datetime, limit: int = 1000) -> list[int]:
    """SMS whose job seems lost: unsent for longer than SMS_RELAY_AFTER but not older than SMS_GIVE_UP."""
    return list(
        session.scalars(
            select(SmsMessage.id)
            .where(
                SmsMessage.sent_at.is_(None),
                SmsMessage.sealed_text.is_not(None),
                SmsMessage.attempts < SMS_MAX_ATTEMPTS,
                SmsMessage.created_at < now - SMS_RELAY_AFTER,
                SmsMessage.created_at > now - SMS_GIVE_UP,
            )
            .order_by(SmsMessage.id)
            .limit(limit)
        )
    )


# -- what the gateway tells us: delivery reports and inbound SMS (webhooks) ----------------------------------

WEBHOOK_MAX_SKEW = timedelta(minutes=5)
FINAL_REPORTS = ("delivered", "failed", "expired", "rejected")
REPORT_STATUSES = (*FINAL_REPORTS, "accepted", "buffered")


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 under ``LSSO_SMS_WEBHOOK_SECRET`` of ``<timestamp>.<raw body>``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_is_authentic(settings: Settings, timestamp: str, signature: str, body: bytes, now: datetime) -> bool:
    """The gateway signed this body within the last five minutes (a replay of an old call is refused too)."""
    if not settings.sms_webhook_secret or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    if abs(now.timestamp() - int(timestamp)) > WEBHOOK_MAX_SKEW.total_seconds():
        return False
    expected = webhook_signature(settings.sms_webhook_secret, timestamp, body)
    return hmac.compare_digest(expected, signature)


def record_delivery_report(
    session: Session, gateway_message_id: str, status: str, error_code: str | None, now: datetime
) -> bool:
    """The gateway's word on one SMS; a final report is never overwritten (reports may come twice or out of
    order). Answers whether an SMS of ours has that id."""
    message = session.scalars(
        select(SmsMessage).where(SmsMessage.gateway_message_id == gateway_message_id).limit(1)
    ).first()
    if message is None:
        return False
    if message.report_status in FINAL_REPORTS:
        return True
    message.report_status = status
    message.report_error = error_code
    message.reported_at = now
    return True
