"""Member cards: the member's own card (JSON, QR as PNG/SVG, printable PDF), the published keys and revocation
list for offline verifiers, online verification for staff and partners, and officers' card printing and
revocation."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from lsso_mobile.api.access import (
    ADMIN,
    CORE,
    MEMBER,
    OFFICER,
    PROMOTER,
    PUBLIC,
    Blueprint,
    client_ip,
    current_principal,
    now,
)
from lsso_mobile.api.context import card_signer, commit, db_session, settings
from lsso_mobile.api.headers import binary_response
from lsso_mobile.api.schemas import MultiLineText, StrictSchema
from lsso_mobile.models import MemberCard
from lsso_mobile.services import cards as card_service
from lsso_mobile.services.attachments import read_attachment_bytes
from lsso_mobile.services.card_documents import card_pdf, card_png, card_svg
from lsso_mobile.services.card_tokens import MAX_TOKEN_CHARS, PREFIX
from lsso_mobile.services.contributions import insured_person_of

ERROR = "DEFAULT_ERROR"
member_blp = Blueprint(
    "member_card", __name__, url_prefix="/api/v1/me/card", description="The member's signed card, shown offline"
)
cards_blp = Blueprint(
    "cards",
    __name__,
    url_prefix="/api/v1/cards",
    description="Card keys, revocation list and online verification for clinics, offices and partners",
)
staff_blp = Blueprint(
    "staff_cards",
    __name__,
    url_prefix="/api/v1/staff/insured-persons",
    description="Officers print and revoke the cards of their office's insured persons",
)
MEMBER_NUMBER = "<string(maxlength=16):member_number>"
CARD_STATUS_DESCRIPTION = "active (no overdue unpaid month) or in_arrears"


class CardSchema(StrictSchema):
    card_id = fields.String(
        required=True, metadata={"description": "The card's id (hex of the token's cti)", "example": "9f2c4e1a7b3d5c60"}
    )
    token = fields.String(
        required=True,
        metadata={
            "description": f"The signed card ({PREFIX} + Base45 of zlib of a COSE_Sign1 CWT); put it in a QR "
            "(alphanumeric mode, level M) or show the QR images below",
            "example": "LC1:NCFOXN%TSMAHO.J2 SKBB+TE7*LTAVXV8B:B",
        },
    )
    kid = fields.String(required=True, metadata={"description": "The signing key's id", "example": "d2cd00374f6affde"})
    member_number = fields.String(
        required=True, metadata={"description": "The LSSO member number (10 digits)", "example": "0112345678"}
    )
    name_lo = fields.String(required=True, metadata={"description": "The name in Lao script", "example": "ສົມໃຈ ພົມມະວົງ"})
    name_latin = fields.String(
        required=True, metadata={"description": "The name in Latin letters", "example": "Somchai Phommavong"}
    )
    date_of_birth = fields.Date(
        required=True, metadata={"description": "Date of birth (YYYY-MM-DD)", "example": "1990-02-03"}
    )
    scheme = fields.String(
        required=True,
        validate=validate.OneOf(["compulsory", "voluntary"]),
        metadata={
            "description": "compulsory or voluntary",
            "example": "voluntary",
            "enum": ["compulsory", "voluntary"],
        },
    )
    status = fields.String(
        required=True,
        metadata={
            "description": CARD_STATUS_DESCRIPTION,
            "example": "active",
            "enum": list(card_service.CARD_STATUSES),
        },
    )
    paid_to = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The last month paid (YYYY-MM), null if none", "example": "2026-10"},
    )
    issued_at = fields.DateTime(
        required=True,
        metadata={"description": "When this card was signed (UTC)", "example": "2026-11-30T10:00:00+00:00"},
    )
    expires_at = fields.DateTime(
        required=True,
        metadata={
            "description": "When the card stops being valid (UTC); the app fetches a new one before then",
            "example": "2027-11-30T10:00:00+00:00",
        },
    )


def _card_answer(person: Any, card: MemberCard) -> dict[str, Any]:
    return {
        "card_id": card.card_id,
        "token": card.token,
        "kid": card.kid,
        "member_number": person.member_number,
        "name_lo": person.name_lo,
        "name_latin": person.name_latin,
        "date_of_birth": person.date_of_birth,
        "scheme": person.scheme.value,
        "status": card.status,
        "paid_to": card.paid_to,
        "issued_at": card.issued_at,
        "expires_at": card.expires_at,
    }


def _my_card() -> tuple[Any, MemberCard]:
    session = db_session()
    member_id = current_principal().id
    card = card_service.member_card(session, settings(), card_signer(), member_id, now())
    person = insured_person_of(session, member_id)
    commit()
    return person, card


NO_NUMBER = "The account is not linked to a member number yet"


@member_blp.route("", methods=["GET"])
@member_blp.access(MEMBER)
@member_blp.doc(operationId="getMyCard")
@member_blp.response(200, CardSchema)
@member_blp.alt_response(404, response=ERROR, description=NO_NUMBER)
def get_my_card() -> Any:
    """The member's current card.

    Members only. Fetch it while online and keep it: it verifies offline. A new card is issued when what it says
    changes (status, paid-to month, name), when it nears expiry or after the signing key rotated.
    """
    person, card = _my_card()
    return _card_answer(person, card)


@member_blp.route("/qr.png", methods=["GET"])
@member_blp.access(MEMBER)
@member_blp.doc(operationId="getMyCardPng")
@member_blp.response(200, content_type="image/png", description="The card's QR (level M) as PNG")
@member_blp.alt_response(404, response=ERROR, description=NO_NUMBER)
def get_my_card_png() -> Any:
    """The member's card as a QR image (PNG).

    Members only.
    """
    _, card = _my_card()
    return binary_response(card_png(card.token), "image/png", f"card-{card.card_id}.png")


@member_blp.route("/qr.svg", methods=["GET"])
@member_blp.access(MEMBER)
@member_blp.doc(operationId="getMyCardSvg")
@member_blp.response(200, content_type="image/svg+xml", description="The card's QR (level M) as SVG")
@member_blp.alt_response(404, response=ERROR, description=NO_NUMBER)
def get_my_card_svg() -> Any:
    """The member's card as a QR image (SVG).

    Members only.
    """
    _, card = _my_card()
    return binary_response(card_svg(card.token), "image/svg+xml", f"card-{card.card_id}.svg")


@member_blp.route("/card.pdf", methods=["GET"])
@member_blp.access(MEMBER)
@member_blp.doc(operationId="getMyCardPdf")
@member_blp.response(200, content_type="application/pdf", description="A card-sized PDF (85.6 x 54 mm)")
@member_blp.alt_response(404, response=ERROR, description=NO_NUMBER)
def get_my_card_pdf() -> Any:
    """The member's card as a printable PDF, Lao text shaped.

    Members only.
    """
    person, card = _my_card()
    return binary_response(card_pdf(person, card), "application/pdf", f"card-{card.card_id}.pdf")


class PublicKeySchema(StrictSchema):
    kty = fields.String(required=True, metadata={"description": "Key type", "example": "OKP", "enum": ["OKP"]})
    crv = fields.String(required=True, metadata={"description": "Curve", "example": "Ed25519", "enum": ["Ed25519"]})
    alg = fields.String(required=True, metadata={"description": "COSE/JOSE algorithm", "example": "EdDSA"})
    use = fields.String(required=True, metadata={"description": "Signatures", "example": "sig"})
    kid = fields.String(
        required=True,
        metadata={"description": "Hex; the cards' protected header carries its bytes", "example": "d2cd00374f6affde"},
    )
    x = fields.String(required=True, metadata={"description": "The public key, base64url", "example": "11qYAYKx..."})


class KeySetSchema(StrictSchema):
    keys = fields.List(
        fields.Nested(PublicKeySchema),
        required=True,
        metadata={"description": "Every key whose cards are still valid: the active one first"},
    )


@cards_blp.route("/keys", methods=["GET"])
@cards_blp.access(PUBLIC)
@cards_blp.doc(operationId="getCardKeys")
@cards_blp.response(200, KeySetSchema)
def card_keys() -> Any:
    """The public keys that sign member cards (a JWK set).

    Anyone may call it. Verifiers download it while online and check cards offline with it: a card's `kid` (in
    its COSE protected header) names the key. Keys rotate by `kid`: an older key stays here while its cards are
    valid.
    """
    return card_signer().jwks


class RevocationListSchema(StrictSchema):
    generated_at = fields.DateTime(
        required=True,
        metadata={
            "description": "When this list was made (UTC); verifiers download it again daily",
            "example": "2026-11-30T10:00:00+00:00",
        },
    )
    revoked = fields.List(
        fields.String(metadata={"example": "9f2c4e1a7b3d5c60"}),
        required=True,
        metadata={"description": "Ids (hex cti) of revoked cards that have not expired yet"},
    )


@cards_blp.route("/revoked", methods=["GET"])
@cards_blp.access(PUBLIC)
@cards_blp.doc(operationId="getRevokedCards")
@cards_blp.response(200, RevocationListSchema)
def revoked_cards() -> Any:
    """The revocation list: ids of revoked cards not yet expired.

    Anyone may call it. Verifiers refresh it whenever they are online and refuse a card whose id is on it.
    """
    moment = now()
    return {"generated_at": moment, "revoked": card_service.revocation_list(db_session(), moment)}


class VerifyBodySchema(StrictSchema):
    token = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=MAX_TOKEN_CHARS)],
        metadata={"description": "The scanned QR's text", "example": "LC1:NCFOXN%TSMAHO.J2 SKBB+TE7*LTAVXV8B:B"},
    )


VERIFY_REASONS = ["malformed", "unknown_key", "bad_signature", "expired", "revoked", "unknown_card"]


class VerifyResultSchema(StrictSchema):
    genuine = fields.Boolean(
        required=True, metadata={"description": "Signed by LSSO, not expired, not revoked", "example": True}
    )
    reason = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "Why not genuine (null when genuine)",
            "example": None,
            "enum": [*VERIFY_REASONS, None],
        },
    )
    card_id = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "The card's id (a revoked or replaced card keeps its id)",
            "example": "9f2c4e1a7b3d5c60",
        },
    )
    member_number = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The member number the card carries", "example": "0112345678"},
    )
    name_lo = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The name in Lao script as the card says", "example": "ສົມໃຈ ພົມມະວົງ"},
    )
    date_of_birth = fields.Date(
        required=True,
        allow_none=True,
        metadata={"description": "Date of birth as the card says (YYYY-MM-DD)", "example": "1990-02-03"},
    )
    card_status = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "enum": [*card_service.CARD_STATUSES, None],
            "description": "What the card says: " + CARD_STATUS_DESCRIPTION,
            "example": "active",
        },
    )
    card_paid_to = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The month paid to as the card says (YYYY-MM)", "example": "2026-10"},
    )
    status = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "enum": [*card_service.CARD_STATUSES, None],
            "description": "What the register says now: " + CARD_STATUS_DESCRIPTION,
            "example": "active",
        },
    )
    paid_to = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The register's paid-to month now", "example": "2026-10"},
    )
    expires_at = fields.DateTime(
        required=True,
        allow_none=True,
        metadata={"description": "When the card stops being valid (UTC)", "example": "2027-11-30T10:00:00+00:00"},
    )
    superseded = fields.Boolean(
        required=True,
        metadata={"description": "A newer card has been issued (this one is still valid)", "example": False},
    )
    photo_url = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Where to fetch the ID photo on file, if any", "example": "/api/v1/cards/9f2c/photo"},
    )


@cards_blp.route("/verify", methods=["POST"])
@cards_blp.access(OFFICER, PROMOTER, ADMIN, CORE)
@cards_blp.doc(operationId="verifyCard")
@cards_blp.arguments(VerifyBodySchema)
@cards_blp.response(200, VerifyResultSchema)
def verify_card(body: dict[str, Any]) -> Any:
    """Check a scanned card online: genuine or not, and the status and paid-to month on the register now.

    Staff (officers, promoters, admins) and partners signed in with client credentials. A card that does not
    verify is still a 200, with `genuine: false` and the reason.
    """
    check = card_service.verify_online(db_session(), card_signer(), body["token"], now())
    claims = check.card
    return {
        "genuine": check.genuine,
        "reason": check.reason,
        "card_id": claims.card_id if claims else None,
        "member_number": claims.member_number if claims else None,
        "name_lo": claims.name_lo if claims else None,
        "date_of_birth": claims.date_of_birth if claims else None,
        "card_status": claims.status if claims else None,
        "card_paid_to": claims.paid_to if claims else None,
        "status": check.current_status,
        "paid_to": check.current_paid_to,
        "expires_at": claims.expires_at if claims else None,
        "superseded": check.superseded,
        "photo_url": f"/api/v1/cards/{check.photo_card_id}/photo" if check.photo_card_id else None,
    }


@cards_blp.route("/<string(length=16):card_id>/photo", methods=["GET"])
@cards_blp.access(OFFICER, ADMIN, CORE)
@cards_blp.doc(operationId="getCardPhoto")
@cards_blp.response(200, content_type="application/octet-stream", description="The ID photo (JPEG or PNG)")
@cards_blp.alt_response(404, response=ERROR, description="No such unrevoked card, or no photo on file")
def card_photo(card_id: str) -> Any:
    """The ID photo on file for a card (from its field registration), to compare with the person.

    Officers, admins and partners; the card id comes from a scanned card.
    """
    attachment = card_service.card_photo(db_session(), card_id.lower())
    return binary_response(
        read_attachment_bytes(settings(), attachment), attachment.content_type, f"photo-{attachment.id}"
    )


class RevokeBodySchema(StrictSchema):
    reason = MultiLineText(
        required=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "Why (lost, stolen, ...)", "example": "Reported lost at the office."},
    )


@staff_blp.route(f"/{MEMBER_NUMBER}/card", methods=["GET"])
@staff_blp.access(OFFICER, ADMIN)
@staff_blp.doc(operationId="getStaffCard")
@staff_blp.response(200, CardSchema)
@staff_blp.alt_response(404, response=ERROR, description="No such member number in your office")
def staff_get_card(member_number: str) -> Any:
    """The current card of an insured person of the officer's office.

    Officers (their office) and admins.
    """
    person, card = card_service.staff_card(
        db_session(), settings(), card_signer(), current_principal(), member_number, now()
    )
    commit()
    return _card_answer(person, card)


@staff_blp.route(f"/{MEMBER_NUMBER}/card.pdf", methods=["GET"])
@staff_blp.access(OFFICER, ADMIN)
@staff_blp.doc(operationId="getStaffCardPdf")
@staff_blp.response(200, content_type="application/pdf", description="A card-sized PDF (85.6 x 54 mm)")
@staff_blp.alt_response(404, response=ERROR, description="No such member number in your office")
def staff_card_pdf(member_number: str) -> Any:
    """The printable card of an insured person of the officer's office (for the card printer).

    Officers (their office) and admins.
    """
    person, card = card_service.staff_card(
        db_session(), settings(), card_signer(), current_principal(), member_number, now()
    )
    commit()
    return binary_response(card_pdf(person, card), "application/pdf", f"card-{card.card_id}.pdf")


@staff_blp.route(f"/{MEMBER_NUMBER}/card/revoke", methods=["POST"])
@staff_blp.access(OFFICER, ADMIN)
@staff_blp.doc(operationId="revokeCard")
@staff_blp.arguments(RevokeBodySchema)
@staff_blp.response(200, CardSchema)
@staff_blp.alt_response(404, response=ERROR, description="No such member number in your office")
def staff_revoke_card(body: dict[str, Any], member_number: str) -> Any:
    """Revoke every card of the person (lost, stolen) and issue a new one.

    Officers (their office) and admins. The old cards join the revocation list at once.
    """
    person, card = card_service.revoke_and_reissue(
        db_session(),
        settings(),
        card_signer(),
        current_principal(),
        member_number,
        body["reason"],
        now(),
        address=client_ip(),
    )
    commit()
    return _card_answer(person, card)
