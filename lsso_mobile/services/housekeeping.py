"""Daily clean-up of rows that only matter for a short while (codes, sign-in failures)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from lsso_mobile.extensions import affected_rows
from lsso_mobile.models import OtpCode, SignInFailure

KEEP_FOR = timedelta(days=2)  # longer than any window that counts them


def prune_expired_auth_rows(session: Session, now: datetime) -> int:
    cutoff = now - KEEP_FOR
    removed = affected_rows(session.execute(delete(OtpCode).where(OtpCode.created_at < cutoff)))
    removed += affected_rows(session.execute(delete(SignInFailure).where(SignInFailure.created_at < cutoff)))
    return removed
