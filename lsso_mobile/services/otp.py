"""One-time codes sent by SMS: 6 digits from ``secrets``, stored only as a keyed hash.

A code is valid for ``otp_ttl_minutes``, used once, and allows ``otp_max_attempts`` wrong tries.
Sends are limited per phone and per client IP within ``otp_window_minutes``. The answer to
"send me a code" is the same whether or not the phone has an account.
"""

from __future__ import annotations

import secrets
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from lsso_mobile.config import Settings
from lsso_mobile.errors import DomainError
from lsso_mobile.jobs import SEND_SMS, enqueue_after_commit
from lsso_mobile.models import OtpCode
from lsso_mobile.services.limits import check_window_limit
from lsso_mobile.services.phones import mask_phone
from lsso_mobile.services.secrets_hashing import keyed_hash, same_keyed_hash


class InvalidCode(DomainError):
    status = 400


@dataclass(frozen=True)
class CodeSent:
    expires_in_seconds: int


def request_code(session: Session, settings: Settings, phone: str, client_ip: str, now: datetime) -> CodeSent:
    if session.get_bind().dialect.name == "postgresql":
        # Serialise sends per phone until commit, so parallel requests cannot all pass the count.
        session.execute(sql_text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(phone.encode())})
    window = timedelta(minutes=settings.otp_window_minutes)
    check_window_limit(
        session,
        OtpCode.created_at,
        OtpCode.phone == phone,
        settings.otp_sends_per_phone,
        window,
        now,
        "Too many codes sent to this phone number; try again later.",
    )
    check_window_limit(
        session,
        OtpCode.created_at,
        OtpCode.requester_ip == client_ip,
        settings.otp_sends_per_ip,
        window,
        now,
        "Too many codes requested from this network; try again later.",
    )
    code = f"{secrets.randbelow(1_000_000):06d}"
    ttl = timedelta(minutes=settings.otp_ttl_minutes)
    session.add(
        OtpCode(
            phone=phone,
            code_hash=keyed_hash(settings.secret_key, code),
            requester_ip=client_ip,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    session.flush()
    text = f"ລະຫັດຢືນຢັນ ປກສ ຂອງທ່ານແມ່ນ {code}. LSSO code: {code}. Valid {settings.otp_ttl_minutes} min. Do not share it."
    # The text holds the code: RQ logs the description, never the arguments.
    enqueue_after_commit(
        session,
        SEND_SMS.request(phone, text, description=f"send_sms(to={mask_phone(phone)})"),
    )
    return CodeSent(expires_in_seconds=int(ttl.total_seconds()))


def consume_code(session: Session, settings: Settings, phone: str, code: str, now: datetime) -> None:
    """Accept the phone's latest live code once, or raise InvalidCode (wrong tries are kept)."""
    otp = session.scalars(
        select(OtpCode)
        .where(OtpCode.phone == phone, OtpCode.consumed_at.is_(None), OtpCode.expires_at > now)
        .order_by(OtpCode.id.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if otp is None:
        raise InvalidCode(
            "The code has expired or was not requested; ask for a new code.",
            errors={"code": ["expired or not requested"]},
        )
    if otp.attempts >= settings.otp_max_attempts:
        raise InvalidCode(
            "Too many wrong tries for this code; ask for a new code.", errors={"code": ["too many wrong tries"]}
        )
    if not same_keyed_hash(settings.secret_key, code, otp.code_hash):
        otp.attempts += 1
        remaining = settings.otp_max_attempts - otp.attempts
        raise InvalidCode(
            "The code is wrong.", errors={"code": [f"wrong code; {remaining} tries left"]}, keep_changes=True
        )
    otp.consumed_at = now
