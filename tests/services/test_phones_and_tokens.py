from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lsso_mobile.errors import InvalidInput, NotAuthenticated
from lsso_mobile.services.phones import mask_phone, normalise_lao_mobile
from lsso_mobile.services.tokens import KeyRing


@pytest.mark.parametrize(
    "raw", ["020 5555 1234", "+856 20 5555 1234", "8562055551234", "+8562055551234", "20-5555-1234"]
)
def test_lao_mobiles_normalise_to_e164(raw):
    assert normalise_lao_mobile(raw) == "+8562055551234"


@pytest.mark.parametrize("raw", ["021 212345", "+66 81 234 5678", "020 5555 123", "020 5555 12345", "hello"])
def test_other_numbers_are_refused(raw):
    with pytest.raises(InvalidInput):
        normalise_lao_mobile(raw)


def test_mask_phone():
    assert mask_phone("+8562055551234") == "+85620****1234"


def test_key_rotation_keeps_old_tokens_valid():
    now = datetime.now(UTC)
    old_key, new_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    old_ring = KeyRing(old_key, [], "iss", "aud")
    token, _ = old_ring.encode("member:1", "access", timedelta(minutes=5), now, sid="s")
    rotated = KeyRing(new_key, [old_key.public_key()], "iss", "aud")
    assert rotated.decode(token, "access").subject == "member:1"
    new_token, _ = rotated.encode("member:1", "access", timedelta(minutes=5), now, sid="s")
    with pytest.raises(NotAuthenticated):
        old_ring.decode(new_token, "access")  # a ring without the new key does not accept it
    retired = KeyRing(new_key, [], "iss", "aud")
    with pytest.raises(NotAuthenticated, match="unknown key"):
        retired.decode(token, "access")


def test_wrong_issuer_is_refused():
    key = Ed25519PrivateKey.generate()
    token, _ = KeyRing(key, [], "someone-else", "aud").encode(
        "member:1", "access", timedelta(minutes=5), datetime.now(UTC)
    )
    with pytest.raises(NotAuthenticated):
        KeyRing(key, [], "iss", "aud").decode(token, "access")


def test_a_token_from_a_machine_whose_clock_is_a_little_ahead_is_accepted():
    """Issued 2 s "in the future" by another machine: refused before (iat checked with no leeway)."""
    key = Ed25519PrivateKey.generate()
    ring = KeyRing(key, [], "iss", "aud")
    now = datetime.now(UTC)
    ahead, _ = ring.encode("member:1", "access", timedelta(minutes=5), now + timedelta(seconds=2))
    assert ring.decode(ahead, "access").subject == "member:1"
    far_ahead, _ = ring.encode("member:1", "access", timedelta(minutes=15), now + timedelta(minutes=5))
    with pytest.raises(NotAuthenticated):
        ring.decode(far_ahead, "access")
    strict = KeyRing(key, [], "iss", "aud", leeway_seconds=0)
    with pytest.raises(NotAuthenticated):
        strict.decode(ahead, "access")


def test_the_leeway_is_a_setting(tmp_path):
    from lsso_mobile.config import ConfigError, load_settings

    settings = load_settings(environ={"LSSO_INSTANCE_DIR": str(tmp_path), "LSSO_JWT_LEEWAY_SECONDS": "5"})
    assert KeyRing.from_settings(settings).leeway_seconds == 5
    assert load_settings(environ={"LSSO_INSTANCE_DIR": str(tmp_path)}).jwt_leeway_seconds == 30
    with pytest.raises(ConfigError, match="LSSO_JWT_LEEWAY_SECONDS"):
        load_settings(environ={"LSSO_INSTANCE_DIR": str(tmp_path), "LSSO_JWT_LEEWAY_SECONDS": "3600"})
