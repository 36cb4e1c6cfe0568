"""Member cards: how big a card is, and how fast cards are signed and verified on one core.

    python bench/cards.py [--seconds S]

Measures, for a card with a long Lao-script name (and with a typical one):
- the token's size (characters of ``LC1:`` + Base45, and the bytes of the signed COSE_Sign1 before zlib) and
  the QR version it needs at error-correction level M (segno, alphanumeric mode);
- offline verifications per second in one process (one core): decode Base45, inflate, choose the key by kid,
  check the EdDSA signature, read the claims and check the revocation list;
- signings per second;
- the same verification of a JWT (PyJWT, EdDSA) carrying the same claims, the baseline.

No database or network: verification is what a clinic's verifier does offline. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jwt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from lsso_mobile.services.card_documents import card_qr  # noqa: E402
from lsso_mobile.services.card_tokens import CardSigner, b45decode  # noqa: E402

LONG_NAME = "ນາງ ສົມສະໜຸກ ພົງສະຫວັນ ວົງສະຫວັນປັນຍາ ແສງອາລຸນສະຫວ່າງ"  # 52 characters, ~150 bytes of UTF-8
TYPICAL_NAME = "ນາງ ບົວໄລ ສີສຸວັນ"
MAX_QR_VERSION = 13


def _sign(signer: CardSigner, name: str, now: datetime) -> str:
    return signer.sign(
        secrets.token_hex(8), "0112345678", name, date(1988, 4, 12), "voluntary", "active", "2026-10", now,
        now + timedelta(days=365),
    )  # fmt: skip


def size_of(token: str) -> dict[str, Any]:
    qr = card_qr(token)
    raw = b45decode(token[4:])
    return {
        "name_chars": None,
        "token_chars": len(token),
        "signed_bytes": len(zlib.decompress(raw) if raw[:1] == b"\x78" else raw),
        "encoded_bytes": len(raw),
        "zlib_used": raw[:1] == b"\x78",
        "qr_version": qr.version,
        "qr_error": qr.error,
        "qr_mode": qr.mode,
    }


def rate(work: Any, seconds: float) -> float:
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(50):
            work()
        done += 50
    return done / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measured loop")
    args = parser.parse_args()
    problems: list[str] = []
    now = datetime.now(UTC)
    key = Ed25519PrivateKey.generate()
    signer = CardSigner(key, [Ed25519PrivateKey.generate().public_key()])  # an older key published too
    verifier = signer.verifier
    revoked = {secrets.token_hex(8) for _ in range(100_000)}  # a large revocation list

    sizes = {}
    for label, name in (("long_name", LONG_NAME), ("typical_name", TYPICAL_NAME)):
        token = _sign(signer, name, now)
        sizes[label] = {**size_of(token), "name_chars": len(name), "name_utf8_bytes": len(name.encode())}
        claims = verifier.verify(token, now, revoked)
        if claims.name_lo != name or claims.member_number != "0112345678":
            problems.append(f"{label}: the card did not read back")
    if sizes["long_name"]["qr_version"] > MAX_QR_VERSION:
        problems.append(f"a long Lao name needs QR version {sizes['long_name']['qr_version']} > {MAX_QR_VERSION}")

    token = _sign(signer, LONG_NAME, now)
    verify_rate = rate(lambda: verifier.verify(token, now, revoked), args.seconds)
    sign_rate = rate(lambda: _sign(signer, LONG_NAME, now), args.seconds)
    payload = {
        "iss": "LSSO",
        "exp": int((now + timedelta(days=365)).timestamp()),
        "iat": int(now.timestamp()),
        "cti": secrets.token_hex(8),
        "card": {"n": "0112345678", "name": LONG_NAME, "dob": 19880412, "s": "V", "st": "A", "pt": 202610},
    }
    jwt_token = jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": signer.active_kid})
    public = key.public_key()
    jwt_rate = rate(lambda: jwt.decode(jwt_token, public, algorithms=["EdDSA"]), args.seconds)

    result = {
        "sizes": sizes,
        "jwt_chars_same_claims": len(jwt_token),
        "verifications_per_second_per_core": round(verify_rate),
        "signings_per_second_per_core": round(sign_rate),
        "baseline_jwt_verifications_per_second": round(jwt_rate),
        "ratio_to_jwt_verification": round(verify_rate / jwt_rate, 3),
        "revocation_list_size": len(revoked),
        "met": {"qr_version_at_most_13": sizes["long_name"]["qr_version"] <= MAX_QR_VERSION},
        "problems": problems,
        "correct": not problems,
    }
    print(json.dumps(result, ensure_ascii=False))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
