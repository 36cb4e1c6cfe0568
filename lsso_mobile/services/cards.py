"""Member cards: issue, refresh, revoke and verify online (the token format is in ``card_tokens``).

Every insured person gets a card once they have a member number; the app fetches it while online and shows
it offline. A card says what the register says when it is issued: ``current_card`` issues a new one whenever
that changes (a status change, a payment moving the paid-to month, a corrected name), so the card refreshes
by itself; ``refresh_card`` is the hook for services that change those facts (registration approval now,
the payments flow later). A lost card is revoked by an officer and a new one issued at once; revoked card
ids are published for offline verifiers (``revocation_list``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from lsso_mobile.config import ConfigError, Settings
from lsso_mobile.errors import InvalidInput, NotFound
from lsso_mobile.models import Attachment, FieldPhoto, InsuredPerson, MemberCard, RegistrationApplication
from lsso_mobile.services.accounts import Principal
from lsso_mobile.services.audit import record_audit
from lsso_mobile.services.card_tokens import CardClaims, CardInvalid, CardSigner
from lsso_mobile.services.contributions import insured_person_of, summarise
from lsso_mobile.services.tokens import _load_private, _load_public, generate_private_key_pem

STATUS_ACTIVE = "active"
STATUS_IN_ARREARS = "in_arrears"
CARD_STATUSES = (STATUS_ACTIVE, STATUS_IN_ARREARS)


def card_signer_from_settings(settings: Settings) -> CardSigner:
    """LSSO_CARD_SIGNING_KEY_FILE signs; LSSO_CARD_PUBLIC_KEY_FILES are older keys still published (rotation).
    Development and test: a key generated once in the instance directory (production refuses to start
    without the setting)."""
    if settings.card_signing_key_file:
        private_path = Path(settings.card_signing_key_file)
        if not private_path.is_file():
            raise ConfigError(f"LSSO_CARD_SIGNING_KEY_FILE={private_path} does not exist")
    else:
        private_path = Path(settings.instance_dir) / "card-dev-key.pem"
        if not private_path.exists():
            private_path.parent.mkdir(parents=True, exist_ok=True)
            private_path.write_bytes(generate_private_key_pem())
            private_path.chmod(0o600)
    older: list[Ed25519PublicKey] = [_load_public(Path(p)) for p in settings.card_public_key_files]
    return CardSigner(_load_private(private_path), older)


@dataclass(frozen=True)
class CardFacts:
    member_number: str
    name_lo: str
    date_of_birth: str
    scheme: str
    status: str
    paid_to: str | None

    @property
    def fingerprint(self) -> str:
        text = "\x1f".join(
            [self.member_number, self.name_lo, self.date_of_birth, self.scheme, self.status, self.paid_to or ""]
        )
        return hashlib.sha256(text.encode()).hexdigest()


def card_facts(session: Session, person: InsuredPerson, now: datetime) -> CardFacts:
    """What the card says today: in arrears when an overdue month is unpaid; paid to the last paid month."""
    summary = summarise(session, person, now)
    return CardFacts(
        member_number=person.member_number,
        name_lo=person.name_lo,
        date_of_birth=person.date_of_birth.isoformat(),
        scheme=person.scheme.value,
        status=STATUS_IN_ARREARS if summary.arrears else STATUS_ACTIVE,
        paid_to=summary.last_paid_period,
    )


def _latest_card(session: Session, person_id: int) -> MemberCard | None:
    return session.scalars(
        select(MemberCard)
        .where(
            MemberCard.insured_person_id == person_id,
            MemberCard.replaced_at.is_(None),
            MemberCard.revoked_at.is_(None),
        )
        .order_by(MemberCard.id.desc())
        .limit(1)
    ).first()


def _issue(
    session: Session, settings: Settings, signer: CardSigner, person: InsuredPerson, facts: CardFacts, now: datetime
) -> MemberCard:
    card_id = secrets.token_hex(8)
    expires_at = now + timedelta(days=settings.card_valid_days)
    token = signer.sign(
        card_id,
        facts.member_number,
        facts.name_lo,
        person.date_of_birth,
        facts.scheme,
        facts.status,
        facts.paid_to,
        now,
        expires_at,
    )
    card = MemberCard(
        card_id=card_id,
        insured_person_id=person.id,
        kid=signer.active_kid,
        token=token,
        status=facts.status,
        paid_to=facts.paid_to,
        fingerprint=facts.fingerprint,
        issued_at=now,
        expires_at=expires_at,
    )
    session.add(card)
    session.flush()
    return card


# A card is re-issued this long before it expires, so the app always holds one with time left.
RENEW_BEFORE = timedelta(days=30)


def refresh_card(
    session: Session, settings: Settings, signer: CardSigner, person: InsuredPerson, now: datetime
) -> MemberCard:
    """The person's current card, issuing a new one when what it says has changed, it was signed with a key
    no longer active, or it is close to expiry. A replaced card whose status differs from the new one is
    revoked (it would keep claiming the old status offline); one that only lags a payment behind is not."""
    # Two fetches at once (the app, an officer) take turns, so only one issues the new card.
    session.execute(select(InsuredPerson.id).where(InsuredPerson.id == person.id).with_for_update())
    facts = card_facts(session, person, now)
    card = _latest_card(session, person.id)
    if (
        card is not None
        and card.fingerprint == facts.fingerprint
        and card.kid == signer.active_kid
        and card.expires_at - now > RENEW_BEFORE
    ):
        return card
    if card is not None:
        card.replaced_at = now
        if card.status != facts.status:
            card.revoked_at = now
            card.revoked_reason = "status_changed"
    return _issue(session, settings, signer, person, facts, now)


def member_card(session: Session, settings: Settings, signer: CardSigner, member_id: int, now: datetime) -> MemberCard:
    """The signed-in member's card (404 until their account holds a member number)."""
    return refresh_card(session, settings, signer, insured_person_of(session, member_id), now)


def _person_for_staff(session: Session, staff: Principal, member_number: str) -> InsuredPerson:
    query = select(InsuredPerson).where(InsuredPerson.member_number == member_number)
    if staff.role != "admin":
        query = query.where(InsuredPerson.office_id == staff.office_id)
    person = session.scalars(query).first()
    if person is None:
        raise NotFound("No such member number in your office.", error="member_number_not_found")
    return person


def staff_card(
    session: Session, settings: Settings, signer: CardSigner, staff: Principal, member_number: str, now: datetime
) -> tuple[InsuredPerson, MemberCard]:
    """A card of the office's insured person (to print at the office or in a mobile unit)."""
    person = _person_for_staff(session, staff, member_number)
    return person, refresh_card(session, settings, signer, person, now)


def revoke_and_reissue(
    session: Session,
    settings: Settings,
    signer: CardSigner,
    staff: Principal,
    member_number: str,
    reason: str,
    now: datetime,
    *,
    address: str | None = None,
) -> tuple[InsuredPerson, MemberCard]:
    """A card reported lost or stolen: every unexpired card of the person is revoked, a new one issued."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput(
            "Say why the card is revoked.", error="revocation_reason_required", errors={"reason": ["Required."]}
        )
    person = _person_for_staff(session, staff, member_number)
    revoked = list(
        session.scalars(
            select(MemberCard)
            .where(MemberCard.insured_person_id == person.id, MemberCard.revoked_at.is_(None))
            .with_for_update()
        )
    )
    for card in revoked:
        card.revoked_at = now
        card.revoked_reason = reason[:200]
        card.revoked_by_staff_id = staff.id
        card.replaced_at = card.replaced_at or now
    session.flush()
    new_card = _issue(session, settings, signer, person, card_facts(session, person, now), now)
    record_audit(
        session,
        staff,
        "card.revoke",
        "insured_person",
        person.id,
        office_id=person.office_id,
        details={"reason": reason, "revoked": len(revoked), "new_card_id": new_card.card_id},
        address=address,
        now=now,
    )
    return person, new_card


def revocation_list(session: Session, now: datetime) -> list[str]:
    """Ids of revoked cards not yet expired (an expired card fails offline anyway), oldest first."""
    return list(
        session.scalars(
            select(MemberCard.card_id)
            .where(MemberCard.revoked_at.is_not(None), MemberCard.expires_at > now)
            .order_by(MemberCard.revoked_at, MemberCard.id)
        )
    )


@dataclass(frozen=True)
class OnlineCheck:
    """The online verify answer: ``genuine`` only for a signed, unexpired, unrevoked card."""

    genuine: bool
    reason: str | None  # why not: malformed, unknown_key, bad_signature, expired, revoked, unknown_card
    card: CardClaims | None
    current_status: str | None  # what the register says now (may be newer than the card)
    current_paid_to: str | None
    superseded: bool
    photo_card_id: str | None  # the card id to fetch the photo with, when an ID photo is on file


def verify_online(session: Session, signer: CardSigner, token: str, now: datetime) -> OnlineCheck:
    try:
        claims = signer.verifier.read(token, now)
    except CardInvalid as exc:
        return OnlineCheck(False, exc.reason, None, None, None, False, None)
    card = session.scalars(select(MemberCard).where(MemberCard.card_id == claims.card_id)).first()
    if card is None:
        return OnlineCheck(False, "unknown_card", claims, None, None, False, None)
    person = session.get(InsuredPerson, card.insured_person_id)
    assert person is not None
    facts = card_facts(session, person, now)
    photo = _photo_of(session, person.id)
    if card.revoked_at is not None:
        return OnlineCheck(False, "revoked", claims, facts.status, facts.paid_to, True, None)
    return OnlineCheck(
        True,
        None,
        claims,
        facts.status,
        facts.paid_to,
        card.replaced_at is not None,
        claims.card_id if photo is not None else None,
    )


def _photo_of(session: Session, person_id: int) -> FieldPhoto | None:
    """The first ID photo of the registration that made this person insured, if one was taken."""
    return session.scalars(
        select(FieldPhoto)
        .join(RegistrationApplication, RegistrationApplication.id == FieldPhoto.application_id)
        .where(RegistrationApplication.insured_person_id == person_id)
        .order_by(FieldPhoto.id)
        .limit(1)
    ).first()


def card_photo(session: Session, card_id: str) -> Attachment:
    """The photo on file for an unrevoked card (a verifier who scanned it knows its id)."""
    card = session.scalars(
        select(MemberCard).where(MemberCard.card_id == card_id, MemberCard.revoked_at.is_(None))
    ).first()
    photo = _photo_of(session, card.insured_person_id) if card is not None else None
    attachment = session.get(Attachment, photo.attachment_id) if photo is not None else None
    if attachment is None:
        raise NotFound("No photo on file for this card.", error="card_photo_not_found")
    return attachment
