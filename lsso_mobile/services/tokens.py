"""Signed JWTs (EdDSA / Ed25519) with a key ring, so signing keys rotate without signing anyone out.

The active private key signs; it and every listed older public key verify. Each token names its
key in the ``kid`` header: the RFC 7638 thumbprint of the public key, so a kid can never point at
the wrong key. ``alg``, ``iss``, ``aud``, ``exp`` and the token type are all checked; ``iat``, ``nbf`` and
``exp`` with ``LSSO_JWT_LEEWAY_SECONDS`` of leeway for clock differences between machines.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lsso_mobile.config import ConfigError, Settings
from lsso_mobile.errors import NotAuthenticated

ALGORITHM = "EdDSA"


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}
    digest = hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()[:16]


def generate_private_key_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 private key")
    return key


def _load_public(path: Path) -> Ed25519PublicKey:
    data = path.read_bytes()
    key: Any
    if b"PRIVATE KEY" in data:
        key = serialization.load_pem_private_key(data, password=None).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path} is not an Ed25519 key")
    return key


@dataclass(frozen=True)
class VerifiedToken:
    subject: str
    token_type: str
    claims: dict[str, Any]


class KeyRing:
    def __init__(
        self,
        signing_key: Ed25519PrivateKey,
        older_public_keys: list[Ed25519PublicKey],
        issuer: str,
        audience: str,
        leeway_seconds: int = 30,
    ) -> None:
        self._signing_key = signing_key
        self.active_kid = key_id(signing_key.public_key())
        self._verify_keys = {key_id(k): k for k in older_public_keys}
        self._verify_keys[self.active_kid] = signing_key.public_key()
        self.issuer = issuer
        self.audience = audience
        # Clocks of the machines that sign and verify differ a little: without leeway a token issued a few
        # milliseconds "in the future" by another machine is refused (iat/nbf), and expiry is as exact.
        self.leeway_seconds = leeway_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        if settings.jwt_private_key_file:
            private_path = Path(settings.jwt_private_key_file)
            if not private_path.is_file():
                raise ConfigError(f"LSSO_JWT_PRIVATE_KEY_FILE={private_path} does not exist")
        else:  # development and test only: production refuses to start without a key file
            private_path = Path(settings.instance_dir) / "jwt-dev-key.pem"
            if not private_path.exists():
                private_path.parent.mkdir(parents=True, exist_ok=True)
                private_path.write_bytes(generate_private_key_pem())
                private_path.chmod(0o600)
        older = [_load_public(Path(p)) for p in settings.jwt_public_key_files]
        return cls(
            _load_private(private_path), older, settings.jwt_issuer, settings.jwt_audience, settings.jwt_leeway_seconds
        )

    def encode(
        self, subject: str, token_type: str, lifetime: timedelta, now: datetime, **claims: Any
    ) -> tuple[str, str]:
        """Returns (token, jti)."""
        jti = str(uuid.uuid4())
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "typ": token_type,
            "iat": int(now.timestamp()),
            "exp": int((now + lifetime).timestamp()),
            "jti": jti,
            **claims,
        }
        token = jwt.encode(payload, self._signing_key, algorithm=ALGORITHM, headers={"kid": self.active_kid})
        return token, jti

    def decode(self, token: str, expected_type: str) -> VerifiedToken:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise NotAuthenticated("The token is malformed.", error="token_malformed") from None
        if header.get("alg") != ALGORITHM:
            raise NotAuthenticated("The token's algorithm is not accepted.", error="token_algorithm_refused")
        key = self._verify_keys.get(str(header.get("kid")))
        if key is None:
            raise NotAuthenticated("The token was signed with an unknown key.", error="token_key_unknown")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "typ", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise NotAuthenticated("The token has expired.", error="token_expired") from None
        except jwt.PyJWTError:
            raise NotAuthenticated("The token is not valid.", error="token_invalid") from None
        if claims.get("typ") != expected_type:
            raise NotAuthenticated(
                "This kind of token is not accepted here.", error="token_type_wrong", params={"expected": expected_type}
            )
        return VerifiedToken(subject=claims["sub"], token_type=claims["typ"], claims=claims)
