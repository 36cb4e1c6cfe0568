"""One-time codes sent by SMS: 6 digits from ``secrets``, each bound to one purpose.

A code is valid for ``otp_ttl_minutes`` and only for its purpose (sign-up, PIN reset,
step-up at sign-in). Asking for another code does not void the earlier ones: any unexpired, unused code of
the phone and purpose works, and using one uses them all up. A wrong try counts against every live code of
the phone and purpose (each allows ``otp_max_attempts``), so the guesses a window allows stay bounded by
the sends it allows.

Sends are limited per phone, per phone from one address (smaller, so that one address cannot spend a
phone's whole budget and leave its owner without a code) and per address, within ``otp_window_minutes``;
addresses count IPv6 by their /64. Step-up codes, sent by the sign-in itself, have budgets of their own
that nobody can observe through "send me a code", so a budget spent tells nobody that a PIN was right.
The answer to "send me a code" is the same whether or not the phone has an account.

The job queue (Redis) never holds a code or a phone number: the job gets the code row's id; the row keeps
the code sealed with AES-GCM under a key derived (HKDF-SHA256) from ``LSSO_SECRET_KEY`` until the job has
sent it, and the job builds the text and wipes the sealed code. The row's keyed hash is what checks a code.
"""

from __future__ import annotations

import logging
import secrets
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy import select, update
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from lsso_mobile.config import Settings
from lsso_mobile.errors import DomainError
from lsso_mobile.jobs import SEND_CODE, enqueue_after_commit
from lsso_mobile.models import OtpCode
from lsso_mobile.notify.templates import sms_text
from lsso_mobile.services.limits import address_key, check_window_limit
from lsso_mobile.services.secrets_hashing import keyed_hash, same_keyed_hash, seal, unseal

log = logging.getLogger(__name__)


PURPOSE_SIGNUP = "signup"
PURPOSE_PIN_RESET = "pin_reset"
PURPOSE_STEP_UP = "step_up"
PURPOSES = (PURPOSE_SIGNUP, PURPOSE_PIN_RESET, PURPOSE_STEP_UP)  # linking has its own codes (services/linking.py)
# Step-up codes are sent only by a sign-in whose PIN was right: were they requestable, their budget would be
# observable, and a spent budget would tell a guesser that the PIN was right.
REQUESTABLE_PURPOSES = (PURPOSE_SIGNUP, PURPOSE_PIN_RESET)
# What "send me a code" without a purpose means: the apps released before purposes existed ask for a
# code first of all to sign up. Those apps must send ``purpose`` for a PIN reset.
DEFAULT_PURPOSE = PURPOSE_SIGNUP

# The SMS says what the code is for, in Lao and English, so that nobody reads out a PIN-reset code
# believing it is for signing in (the texts: ``notify/templates.SMS_TEXTS``).
CODE_SMS_TEXTS: dict[str, str] = {
    PURPOSE_SIGNUP: "code_signup",
    PURPOSE_PIN_RESET: "code_pin_reset",
    PURPOSE_STEP_UP: "code_step_up",
}


class InvalidCode(DomainError):
    status = 400


@dataclass(frozen=True)
class CodeSent:
    expires_in_seconds: int


def code_sms_text(purpose: str, code: str, minutes: int) -> str:
    return sms_text(CODE_SMS_TEXTS[purpose], {"code": code, "minutes": minutes})


_SEALING_PURPOSE = b"lsso-mobile otp sealing v1"


def seal_code(secret_key: str, otp_id: int, code: str) -> str:
    """The code encrypted for the SMS job, bound to its row (a sealed code moved to another row fails)."""
    return seal(secret_key, _SEALING_PURPOSE, f"otp:{otp_id}", code)


def open_sealed_code(secret_key: str, otp_id: int, sealed: str) -> str:
    return unseal(secret_key, _SEALING_PURPOSE, f"otp:{otp_id}", sealed)


def _budget_class(purpose: str) -> Any:
    """Step-up codes count apart from the others (see the module's docstring)."""
    if purpose == PURPOSE_STEP_UP:
        return OtpCode.purpose == PURPOSE_STEP_UP
    return OtpCode.purpose != PURPOSE_STEP_UP


def request_code(
    session: Session,
    settings: Settings,
    phone: str,
    client_ip: str,
    now: datetime,
    *,
    purpose: str = DEFAULT_PURPOSE,
) -> CodeSent:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown code purpose {purpose!r}")
    address = address_key(client_ip)
    if session.get_bind().dialect.name == "postgresql":
        # Serialise sends per phone until commit, so parallel requests cannot all pass the count.
        session.execute(sql_text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(phone.encode())})
    window = timedelta(minutes=settings.otp_window_minutes)
    same_budget = _budget_class(purpose)
    check_window_limit(
        session,
        OtpCode.created_at,
        same_budget & (OtpCode.phone == phone),
        settings.otp_sends_per_phone,
        window,
        now,
        "Too many codes sent to this phone number; try again later.",
        "too_many_codes",
    )
    check_window_limit(
        session,
        OtpCode.created_at,
        same_budget & (OtpCode.phone == phone) & (OtpCode.requester_ip == address),
        settings.otp_sends_per_phone_per_ip,
        window,
        now,
        "Too many codes sent to this phone number from this network; try again later.",
        "too_many_codes",
    )
    check_window_limit(
        session,
        OtpCode.created_at,
        same_budget & (OtpCode.requester_ip == address),
        settings.otp_sends_per_ip,
        window,
        now,
        "Too many codes requested from this network; try again later.",
        "too_many_codes",
    )
    code = f"{secrets.randbelow(1_000_000):06d}"
    ttl = timedelta(minutes=settings.otp_ttl_minutes)
    otp = OtpCode(
        phone=phone,
        purpose=purpose,
        code_hash=keyed_hash(settings.secret_key, code),
        requester_ip=address,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(otp)
    session.flush()
    otp.sealed_code = seal_code(settings.secret_key, otp.id, code)
    # Only the row's id goes to the queue; RQ keeps nothing once the job is done.
    enqueue_after_commit(
        session,
        SEND_CODE.request(otp.id, description=f"send_code(otp={otp.id})"),
    )
    return CodeSent(expires_in_seconds=int(ttl.total_seconds()))


def consume_code(
    session: Session, settings: Settings, phone: str, code: str, now: datetime, *, purpose: str = DEFAULT_PURPOSE
) -> None:
    """Accept any live code of this phone and purpose once (using up all of them), or raise InvalidCode.

    Wrong tries are kept (the error commits) and count against every live code of the phone and purpose.
    """
    live = list(
        session.scalars(
            select(OtpCode)
            .where(
                OtpCode.phone == phone,
                OtpCode.purpose == purpose,
                OtpCode.consumed_at.is_(None),
                OtpCode.expires_at > now,
            )
            .order_by(OtpCode.id)
            .with_for_update()
        )
    )
    if not live:
        raise InvalidCode(
            "The code has expired or was not requested; ask for a new code.",
            error="code_expired",
            errors={"code": ["expired or not requested"]},
        )
    usable = [otp for otp in live if otp.attempts < settings.otp_max_attempts]
    if not usable:
        raise InvalidCode(
            "Too many wrong tries for this code; ask for a new code.",
            error="code_tries_exhausted",
            errors={"code": ["too many wrong tries"]},
        )
    if not any(same_keyed_hash(settings.secret_key, code, otp.code_hash) for otp in usable):
        for otp in usable:
            otp.attempts += 1
        remaining = settings.otp_max_attempts - min(otp.attempts for otp in usable)
        raise InvalidCode(
            "The code is wrong.",
            error="code_wrong",
            errors={"code": [f"Wrong code; {remaining} tries left."]},
            params={"tries_left": remaining},
            keep_changes=True,
        )
    for otp in live:
        otp.consumed_at = now
        otp.sealed_code = None


def code_message_to_send(session: Session, settings: Settings, otp_id: int, now: datetime) -> tuple[str, str] | None:
    """(phone, text) of a code still waiting for its SMS, or None if there is nothing to send.

    A code already used or expired is not sent, and its sealed copy is wiped.
    """
    otp = session.get(OtpCode, otp_id)
    if otp is None or otp.sealed_code is None:
        return None  # sent already, or pruned
    if otp.consumed_at is not None or otp.expires_at <= now:
        otp.sealed_code = None
        return None
    try:
        code = open_sealed_code(settings.secret_key, otp.id, otp.sealed_code)
    except (InvalidTag, ValueError):
        log.error("code %d cannot be unsealed (was LSSO_SECRET_KEY changed?); not sent", otp.id)
        otp.sealed_code = None
        return None
    return otp.phone, code_sms_text(otp.purpose, code, settings.otp_ttl_minutes)


def forget_sealed_code(session: Session, otp_id: int) -> None:
    session.execute(update(OtpCode).where(OtpCode.id == otp_id).values(sealed_code=None))
