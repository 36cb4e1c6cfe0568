"""Lao mobile numbers: validated and normalised to E.164 (+856 20 followed by 8 digits)."""

from __future__ import annotations

import phonenumbers

from lsso_mobile.errors import InvalidInput

LAO_MOBILE_PREFIX = "+85620"


def normalise_lao_mobile(raw: str) -> str:
    """``020 5555 1234``, ``+856 20 5555 1234`` or ``8562055551234`` -> ``+8562055551234``."""
    text = (raw or "").strip()
    if text.startswith("856"):
        text = "+" + text
    try:
        number = phonenumbers.parse(text, "LA")
    except phonenumbers.NumberParseException:
        raise InvalidInput(
            "Not a phone number.", error="not_a_phone", errors={"phone": ["Not a phone number."]}
        ) from None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not (e164.startswith(LAO_MOBILE_PREFIX) and len(e164) == len(LAO_MOBILE_PREFIX) + 8 and e164[1:].isdigit()):
        raise InvalidInput(
            "Not a Lao mobile number (+856 20 followed by 8 digits).",
            error="not_lao_mobile",
            errors={"phone": ["Not a Lao mobile number (+856 20 followed by 8 digits)."]},
        )
    return e164


def mask_phone(e164: str) -> str:
    """For logs: ``+8562055551234`` -> ``+85620****1234``."""
    if len(e164) <= 8:
        return "****"
    return e164[:6] + "****" + e164[-4:]
