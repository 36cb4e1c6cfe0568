"""Member cards: a card refreshes when what it says changes (a payment moves the paid-to month; arrears change the
status, and then the old card is revoked), keys rotate by kid, and the token format refuses what it should."""

from __future__ import annotations

import zlib
from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lsso_mobile import runtime as runtime_module
from lsso_mobile.models import ContributionStatus, InsuredPerson, Office, Scheme, Sex
from lsso_mobile.services.card_tokens import (
    CardInvalid,
    CardSigner,
    CardVerifier,
    b45decode,
    b45encode,
)
from lsso_mobile.services.cards import refresh_card, revocation_list
from tests.services.test_contributions import add

NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)


@pytest.fixture
def person(db):
    office = db.query(Office).filter(Office.code == "P01").one()
    person = InsuredPerson(
        member_number="0100000777",
        name_lo="ນາງ ບົວໄລ ສີສຸວັນ",
        name_latin="Bualai Sisouvan",
        sex=Sex.FEMALE,
        date_of_birth=date(1988, 4, 12),
        national_id="ID-CARD-1",
        scheme=Scheme.VOLUNTARY,
        office_id=office.id,
        province_code="01",
    )
    db.add(person)
    db.commit()
    return person


def test_base45_matches_rfc_9285():
    assert b45encode(b"AB") == "BB8"
    assert b45encode(b"Hello!!") == "%69 VD92EX0"
    assert b45encode(b"base-45") == "UJCLQE7W581"
    assert b45decode("QED8WEX0") == b"ietf!"
    for bad in ("GGW", "a", "ZZZ"):
        with pytest.raises(ValueError):
            b45decode(bad)


def test_the_card_refreshes_with_payments_and_status(db, person):
    settings = runtime_module.current().settings
    signer = CardSigner(Ed25519PrivateKey.generate(), [])
    first = refresh_card(db, settings, signer, person, NOW)
    assert (first.status, first.paid_to) == ("active", None)
    assert refresh_card(db, settings, signer, person, NOW).id == first.id  # nothing changed
    add(db, person, "2026-10")  # a payment: the paid-to month moves, the card is re-issued, the old one stays valid
    second = refresh_card(db, settings, signer, person, NOW)
    assert second.id != first.id and second.paid_to == "2026-10" and first.replaced_at is not None
    assert first.revoked_at is None
    add(db, person, "2026-08", status=ContributionStatus.UNPAID)  # an overdue unpaid month: in arrears
    third = refresh_card(db, settings, signer, person, NOW)
    assert third.status == "in_arrears" and second.revoked_reason == "status_changed"
    db.commit()
    assert revocation_list(db, NOW) == [second.card_id]
    claims = signer.verifier.verify(third.token, NOW, set(revocation_list(db, NOW)))
    assert (claims.status, claims.paid_to, claims.name_lo) == ("in_arrears", "2026-10", person.name_lo)
    with pytest.raises(CardInvalid, match="revoked"):
        signer.verifier.verify(second.token, NOW, set(revocation_list(db, NOW)))
    # Near expiry, the next fetch gets a new card.
    later = third.expires_at - timedelta(days=10)
    assert refresh_card(db, settings, signer, person, later).id != third.id


def test_keys_rotate_by_kid(db, person):
    settings = runtime_module.current().settings
    old_key, new_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    old_signer = CardSigner(old_key, [])
    old_card = refresh_card(db, settings, old_signer, person, NOW)
    rotated = CardSigner(new_key, [old_key.public_key()])
    assert [k["kid"] for k in rotated.jwks["keys"]] == [rotated.active_kid, old_signer.active_kid]
    assert rotated.verifier.verify(old_card.token, NOW).kid == old_signer.active_kid  # old cards still verify
    new_card = refresh_card(db, settings, rotated, person, NOW)  # and are re-issued with the active key
    assert new_card.id != old_card.id and new_card.kid == rotated.active_kid
    dropped = CardVerifier({"keys": [k for k in rotated.jwks["keys"] if k["kid"] == rotated.active_kid]})
    with pytest.raises(CardInvalid, match="unknown_key"):
        dropped.verify(old_card.token, NOW)


def test_what_the_verifier_refuses(db, person):
    settings = runtime_module.current().settings
    signer = CardSigner(Ed25519PrivateKey.generate(), [])
    token = refresh_card(db, settings, signer, person, NOW).token
    stranger = CardSigner(Ed25519PrivateKey.generate(), [])
    with pytest.raises(CardInvalid, match="unknown_key"):
        stranger.verifier.verify(token, NOW)
    with pytest.raises(CardInvalid, match="expired"):
        signer.verifier.verify(token, NOW + timedelta(days=400))
    for bad in (
        "",
        "LC1:",
        "LC2:" + token[4:],
        "LC1:abc",
        token[:-3],
        "LC1:" + b45encode(zlib.compress(b"\x00" * 9000)),
    ):
        with pytest.raises(CardInvalid, match="malformed"):
            signer.verifier.verify(bad, NOW)
