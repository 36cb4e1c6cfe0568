"""Daily clean-up of rows that only matter for a short while: codes, sign-in and link failures, link codes, and
the text of SMS that will never be sent."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from lsso_mobile.extensions import affected_rows
from lsso_mobile.models import LinkChallenge, LinkFailure, OtpCode, SignInFailure, SmsMessage
from lsso_mobile.services.sms import SMS_GIVE_UP

KEEP_FOR = timedelta(days=2)  # longer than any window that counts them (windows are at most a day or two)


def prune_expired_auth_rows(session: Session, now: datetime) -> int:
    """Delete what no window counts any more; wipe the sealed text of SMS past the relay's last try (they
    may hold a link code). The SMS rows stay, as the record of what was (not) sent."""
    cutoff = now - KEEP_FOR
    removed = 0
    for model in (OtpCode, SignInFailure, LinkChallenge, LinkFailure):
        removed += affected_rows(session.execute(delete(model).where(model.created_at < cutoff)))
    removed += affected_rows(
        session.execute(
            update(SmsMessage)
            .where(SmsMessage.sent_at.is_(None), SmsMessage.sealed_text.is_not(None))
            .where(SmsMessage.created_at < now - SMS_GIVE_UP)
            .values(sealed_text=None)
        )
    )
    return removed
