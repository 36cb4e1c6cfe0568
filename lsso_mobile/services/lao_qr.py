"""LAO QR: the EMVCo merchant-presented QR that Lao banks' apps scan, for one bill.

Tags (ID, two-digit length, value): ``00`` format ``01``; ``01`` ``12`` (dynamic: one amount, one bill);
``38`` the merchant account (sub ``00`` the LAO QR AID, ``01`` the acquiring bank's participant id, ``02`` the
account type, ``03`` the merchant id); ``52`` merchant category; ``53`` ``418`` (kip); ``54`` the amount in whole
kip; ``58`` ``LA``; ``59`` name; ``60`` city; ``62`` additional data (sub ``01`` the bill number, ``05`` the
reference); ``63`` the CRC-16/CCITT-FALSE of everything before its four hex digits (``6304`` included).
"""

from __future__ import annotations

import binascii
import io

from lsso_mobile.config import Settings

LAO_QR_AID = "A005266284662577"
CURRENCY_LAK = "418"
MERCHANT_ACCOUNT_TYPE = "002"  # a merchant (not a person-to-person) account


def _tlv(tag: str, value: str) -> str:
    if not 0 < len(value) <= 99:
        raise ValueError(f"LAO QR field {tag} must hold 1 to 99 characters")
    return f"{tag}{len(value):02d}{value}"


def crc16(data: str) -> str:
    """CRC-16/CCITT-FALSE (poly 0x1021, initial 0xFFFF) as four upper-case hex digits."""
    return f"{binascii.crc_hqx(data.encode('ascii'), 0xFFFF):04X}"


def bill_payload(settings: Settings, bill_number: str, amount: int) -> str:
    """The QR text for paying ``amount`` kip against ``bill_number``."""
    merchant = (
        _tlv("00", LAO_QR_AID)
        + _tlv("01", settings.laoqr_participant_id)
        + _tlv("02", MERCHANT_ACCOUNT_TYPE)
        + _tlv("03", settings.laoqr_merchant_id)
    )
    additional = _tlv("01", bill_number) + _tlv("05", bill_number)
    body = (
        _tlv("00", "01")
        + _tlv("01", "12")
        + _tlv("38", merchant)
        + _tlv("52", settings.laoqr_mcc)
        + _tlv("53", CURRENCY_LAK)
        + _tlv("54", str(amount))
        + _tlv("58", "LA")
        + _tlv("59", settings.laoqr_merchant_name)
        + _tlv("60", settings.laoqr_merchant_city)
        + _tlv("62", additional)
        + "6304"
    )
    return body + crc16(body)


def parse_tlv(data: str) -> dict[str, str]:
    """The top-level fields of an EMVCo payload (tag -> value); raises ValueError if it does not parse."""
    fields: dict[str, str] = {}
    position = 0
    while position < len(data):
        tag, length = data[position : position + 2], data[position + 2 : position + 4]
        if len(tag) < 2 or not length.isdigit():
            raise ValueError(f"malformed field at {position}")
        value = data[position + 4 : position + 4 + int(length)]
        if len(value) != int(length):
            raise ValueError(f"field {tag} is cut short")
        fields[tag] = value
        position += 4 + int(length)
    return fields


def crc_ok(payload: str) -> bool:
    return len(payload) > 8 and payload[-8:-4] == "6304" and crc16(payload[:-4]) == payload[-4:]


def qr_image(payload: str, kind: str) -> bytes:
    """The payload as a QR image: ``png`` or ``svg`` (error correction M, a quiet zone of 4 modules)."""
    import segno

    code = segno.make(payload, error="m", micro=False)
    buffer = io.BytesIO()
    if kind == "svg":
        code.save(buffer, kind="svg", scale=4, border=4, xmldecl=True)
    else:
        code.save(buffer, kind="png", scale=6, border=4)
    return buffer.getvalue()
