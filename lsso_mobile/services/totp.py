"""TOTP second factor for staff (RFC 6238: 6 digits, 30-second steps, SHA-1, as every authenticator app reads).

The shared secret is kept sealed (AES-GCM under a key derived from LSSO_SECRET_KEY, bound to the staff user's
id), so a copy of the database alone yields no codes. A code is accepted within one step either side (clocks
drift) and only once: the last accepted step is stored, and a code of that step or an earlier one is refused.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

from lsso_mobile.config import Settings
from lsso_mobile.models import StaffUser
from lsso_mobile.services.secrets_hashing import seal, unseal

ISSUER = "LSSO console"
STEP_SECONDS = 30
DRIFT_STEPS = 1
_PURPOSE = b"lsso-staff-totp"


def _context(staff: StaffUser) -> str:
    return f"staff_user:{staff.id}"


def new_secret() -> str:
    return pyotp.random_base32()  # 32 base32 characters: 160 bits


def seal_secret(settings: Settings, staff: StaffUser, secret: str) -> str:
    return seal(settings.secret_key, _PURPOSE, _context(staff), secret)


def open_secret(settings: Settings, staff: StaffUser) -> str | None:
    if not staff.totp_secret_sealed:
        return None
    return unseal(settings.secret_key, _PURPOSE, _context(staff), staff.totp_secret_sealed)


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    code = code.strip().replace(" ", "")
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def accept_totp_code(settings: Settings, staff: StaffUser, code: str, now: datetime) -> bool:
    """True, and the code used up, if ``code`` is the staff user's current code (enrolled or being enrolled)."""
    secret = open_secret(settings, staff)
    if secret is None:
        return False
    step = _matching_step(secret, code, now)
    if step is None or (staff.totp_last_step is not None and step <= staff.totp_last_step):
        return False
    staff.totp_last_step = step
    return True
