"""The member card's token: a CWT signed with COSE_Sign1 (EdDSA, Ed25519), zlib-compressed (when that saves bytes),
with the prefix ``LC1:``, as the EU's digital COVID certificates, WHO SMART Trust and MOSIP Claim 169 do.

Why CWT/COSE and not a compact JWS: CBOR keeps the claims binary (a JSON JWS is base64url of JSON, about a
third larger before any QR encoding), Base45 uses exactly the QR alphanumeric alphabet (5.5 bits a character
instead of 8 in byte mode), and verifier libraries for this format exist on every platform. The same code
verifies offline (the published keys and the revocation list are all a verifier needs) and online.

Nothing here touches the database: a clinic's verifier can run this module alone.

Claims (integer keys keep the CBOR small): 1 ``iss``, 4 ``exp``, 6 ``iat``, 7 ``cti`` (the card id, 8 random
bytes) and one private claim ``CARD_CLAIM`` holding a map: 1 member number, 2 name (Lao script), 3 date of
birth (YYYYMMDD), 4 scheme (C/V), 5 status (A active, R in arrears), 6 paid-to month (YYYYMM, absent if none).
The COSE protected header holds ``alg`` (EdDSA) and ``kid`` (8 bytes), so both are signed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import cbor2
import cwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cwt import COSE, COSEKey
from cwt.cose_key_interface import COSEKeyInterface

PREFIX = "LC1:"
ISSUER = "LSSO"
CARD_CLAIM = -65537  # the first private-use CWT claim key
MAX_TOKEN_CHARS = 2000  # far above a real card (~300); bounds the work a pasted token can cause

_B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_B45_INDEX = {c: i for i, c in enumerate(_B45)}


def b45encode(data: bytes) -> str:
    """RFC 9285 Base45."""
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        e, rest = divmod(n, 45 * 45)
        d, c = divmod(rest, 45)
        out.append(_B45[c] + _B45[d] + _B45[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out.append(_B45[c] + _B45[d])
    return "".join(out)


def b45decode(text: str) -> bytes:
    """RFC 9285 Base45; ValueError on anything that is not Base45."""
    try:
        values = [_B45_INDEX[c] for c in text]
    except KeyError:
        raise ValueError("not Base45") from None
    out = bytearray()
    for i in range(0, len(values), 3):
        chunk = values[i : i + 3]
        if len(chunk) == 3:
            n = chunk[0] + chunk[1] * 45 + chunk[2] * 45 * 45
            if n > 0xFFFF:
                raise ValueError("not Base45")
            out += n.to_bytes(2, "big")
        elif len(chunk) == 2:
            n = chunk[0] + chunk[1] * 45
            if n > 0xFF:
                raise ValueError("not Base45")
            out.append(n)
        else:
            raise ValueError("not Base45")
    return bytes(out)


def card_key_id(public_key: Ed25519PublicKey) -> str:
    """8 bytes of the SHA-256 of the raw public key, hex: short in every card, never the wrong key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The key as a JWK (``kid`` hex, as it stands in the cards' protected header)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
        "kid": card_key_id(public_key),
        "x": _b64url(raw),
    }


# One letter each in the token (every byte counts in a QR); full words everywhere else.
SCHEME_CODES = {"compulsory": "C", "voluntary": "V"}
STATUS_CODES = {"active": "A", "in_arrears": "R"}
_SCHEMES = {v: k for k, v in SCHEME_CODES.items()}
_STATUSES = {v: k for k, v in STATUS_CODES.items()}
COSE_ALG_EDDSA = -8
ZLIB_FIRST_BYTE = b"\x78"  # a zlib stream (deflate, 32 KB window); a COSE_Sign1 starts with 0xD2 (tag 18)
_COSE = COSE.new()


@dataclass(frozen=True)
class CardClaims:
    card_id: str  # hex of the cti
    member_number: str
    name_lo: str
    date_of_birth: date
    scheme: str
    status: str
    paid_to: str | None
    issued_at: datetime
    expires_at: datetime
    kid: str


def _month_number(period: str) -> int:
    return int(period[:4]) * 100 + int(period[5:7])


def _period(number: int) -> str:
    year, month = divmod(number, 100)
    if not 1 <= month <= 12:
        raise ValueError("not a month")
    return f"{year:04d}-{month:02d}"


class CardSigner:
    """Signs with the active key; verifies with it and every older key still published."""

    def __init__(self, signing_key: Ed25519PrivateKey, older_public_keys: list[Ed25519PublicKey]) -> None:
        self.active_kid = card_key_id(signing_key.public_key())
        pem = signing_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self._signing = COSEKey.from_pem(pem, alg="EdDSA", kid=bytes.fromhex(self.active_kid))
        publics = {card_key_id(k): k for k in [signing_key.public_key(), *older_public_keys]}
        self.jwks = {"keys": [public_jwk(k) for k in publics.values()]}
        self.verifier = CardVerifier(self.jwks)

    def sign(
        self,
        card_id: str,
        member_number: str,
        name_lo: str,
        date_of_birth: date,
        scheme: str,
        status: str,
        paid_to: str | None,
        issued_at: datetime,
        expires_at: datetime,
    ) -> str:
        card: dict[int, Any] = {
            1: member_number,
            2: name_lo,
            3: date_of_birth.year * 10000 + date_of_birth.month * 100 + date_of_birth.day,
            4: SCHEME_CODES[scheme],
            5: STATUS_CODES[status],
        }
        if paid_to:
            card[6] = _month_number(paid_to)
        claims = {
            1: ISSUER,
            4: int(expires_at.timestamp()),
            6: int(issued_at.timestamp()),
            7: bytes.fromhex(card_id),
            CARD_CLAIM: card,
        }
        # COSE_Sign1 (tag 18) with alg and kid in the protected header, so both are covered by the signature.
        signed = _COSE.encode(
            cbor2.dumps(claims),
            self._signing,
            protected={1: COSE_ALG_EDDSA, 4: bytes.fromhex(self.active_kid)},
            unprotected={},
        )
        # zlib as the EU certificates do, unless it makes the card larger (short names: ~10 bytes of header and
        # checksum for little gain); a verifier tells the two apart by the first byte (zlib 0x78, COSE tag 0xD2).
        compressed = zlib.compress(signed, 9)
        return PREFIX + b45encode(compressed if len(compressed) < len(signed) else signed)


class CardInvalid(ValueError):
    """Why a token is not a genuine, current card: ``reason`` is a short code the verifier shows."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CardVerifier:
    """What a clinic's verifier holds: the published public keys (a JWKS) and, when it has one, the list of
    revoked card ids. ``verify`` never calls the service."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self._keys: dict[str, COSEKeyInterface] = {}
        for jwk in jwks.get("keys", []):
            if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
                self._keys[str(jwk["kid"])] = COSEKey.from_jwk({**jwk, "kid": bytes.fromhex(jwk["kid"])})

    def verify(self, token: str, now: datetime, revoked: frozenset[str] | set[str] = frozenset()) -> CardClaims:
        claims = self.read(token, now)
        if claims.card_id in revoked:
            raise CardInvalid("revoked")
        return claims

    def read(self, token: str, now: datetime) -> CardClaims:
        """The signed claims if the signature is one of the published keys' and the card has not expired."""
        token = token.strip()
        if len(token) > MAX_TOKEN_CHARS or not token.startswith(PREFIX):
            raise CardInvalid("malformed")
        try:
            raw_bytes = b45decode(token[len(PREFIX) :])
            signed = _inflate(raw_bytes) if raw_bytes[:1] == ZLIB_FIRST_BYTE else raw_bytes
        except (ValueError, zlib.error):
            raise CardInvalid("malformed") from None
        kid = _protected_kid(signed)
        key = self._keys.get(kid)
        if key is None:
            raise CardInvalid("unknown_key")
        try:
            payload = _COSE.decode(signed, key)
        except cwt.VerifyError:
            raise CardInvalid("bad_signature") from None
        except Exception:  # noqa: BLE001 - whatever the COSE library refuses is a malformed card
            raise CardInvalid("malformed") from None
        try:
            raw = cbor2.loads(payload)
        except Exception:  # noqa: BLE001
            raise CardInvalid("malformed") from None
        if not isinstance(raw, dict):
            raise CardInvalid("malformed")
        return _claims(raw, kid, now)


def _inflate(data: bytes) -> bytes:
    """At most 8 KB out: a small token cannot expand into a large amount of work."""
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, 8192)
    if inflater.unconsumed_tail or not inflater.eof:
        raise ValueError("too large or cut short")
    return out


def _protected_kid(signed: bytes) -> str:
    """The ``kid`` of the COSE_Sign1's protected header (read before verifying, to choose the key)."""
    try:
        value = cbor2.loads(signed)
        if isinstance(value, cbor2.CBORTag):
            value = value.value
        protected = cbor2.loads(value[0]) if value[0] else {}
        kid = protected.get(4)
        alg = protected.get(1)
    except Exception:  # noqa: BLE001 - any malformed structure is a malformed card
        raise CardInvalid("malformed") from None
    if alg != COSE_ALG_EDDSA or not isinstance(kid, bytes):
        raise CardInvalid("malformed")
    return kid.hex()


def _claims(raw: dict[Any, Any], kid: str, now: datetime) -> CardClaims:
    card = raw.get(CARD_CLAIM)
    expires = raw.get(4)
    if raw.get(1) != ISSUER or not isinstance(card, dict) or not isinstance(expires, int):
        raise CardInvalid("malformed")
    if not isinstance(raw.get(7), bytes):
        raise CardInvalid("malformed")
    try:
        expires_at = datetime.fromtimestamp(expires, UTC)
        born = int(card[3])
        claims = CardClaims(
            card_id=raw[7].hex(),
            member_number=str(card[1]),
            name_lo=str(card[2]),
            date_of_birth=date(born // 10000, born // 100 % 100, born % 100),
            scheme=_SCHEMES[card[4]],
            status=_STATUSES[card[5]],
            paid_to=_period(int(card[6])) if 6 in card else None,
            issued_at=datetime.fromtimestamp(int(raw.get(6, 0)), UTC),
            expires_at=expires_at,
            kid=kid,
        )
    except (KeyError, ValueError, TypeError, OverflowError, OSError):
        raise CardInvalid("malformed") from None
    if expires_at <= now:
        raise CardInvalid("expired")
    return claims


def jwks_json(jwks: dict[str, Any]) -> str:
    return json.dumps(jwks, separators=(",", ":"), sort_keys=True)
