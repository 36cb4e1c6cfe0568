"""Argon2id for PINs and passwords; a keyed hash (HMAC-SHA256) for one-time codes; sealing (AES-GCM) for
texts that must wait in the database until a job sends them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Argon2id with the library's RFC 9106 "low memory" defaults in production; a cheap profile
# that the settings allow only outside production, so the suite stays fast.
_HASHERS = {
    "strong": PasswordHasher(),
    "fast": PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
}
_DUMMY_HASHES: dict[str, str] = {}


def hash_secret(secret: str, profile: str) -> str:
    return _HASHERS[profile].hash(secret)


def verify_secret(stored_hash: str | None, secret: str, profile: str) -> bool:
    """Constant work whether or not there is a stored hash, so timing tells nothing."""
    hasher = _HASHERS[profile]
    if stored_hash is None:
        if profile not in _DUMMY_HASHES:
            _DUMMY_HASHES[profile] = hasher.hash("not-a-real-secret")
        stored_hash = _DUMMY_HASHES[profile]
        secret = secret + "-never-matches"
    try:
        return hasher.verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str, profile: str) -> bool:
    return _HASHERS[profile].check_needs_rehash(stored_hash)


def keyed_hash(secret_key: str, value: str) -> str:
    return hmac.new(secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()


def same_keyed_hash(secret_key: str, value: str, expected: str) -> bool:
    return hmac.compare_digest(keyed_hash(secret_key, value), expected)


def _sealing_key(secret_key: str, purpose: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret_key.encode())
    return AESGCM(derived)


def seal(secret_key: str, purpose: bytes, context: str, plaintext: str) -> str:
    """``plaintext`` encrypted under a key derived from the secret key for ``purpose``, bound to ``context``
    (a row's identity: a sealed value moved to another row does not open)."""
    nonce = secrets.token_bytes(12)
    sealed = _sealing_key(secret_key, purpose).encrypt(nonce, plaintext.encode(), context.encode())
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(secret_key: str, purpose: bytes, context: str, sealed: str) -> str:
    """The plaintext; raises cryptography's InvalidTag (or ValueError) if the key, purpose or context differ."""
    raw = base64.urlsafe_b64decode(sealed.encode())
    return _sealing_key(secret_key, purpose).decrypt(raw[:12], raw[12:], context.encode()).decode()
