"""The signed-in member's own account: profile, language, linking to an existing member number."""

from __future__ import annotations

from typing import Any

from marshmallow import fields
from sqlalchemy import select

from lsso_mobile.api.access import MEMBER, Blueprint, current_principal, now
from lsso_mobile.api.context import commit, db_session, settings
from lsso_mobile.api.schemas import StrictSchema, code_field
from lsso_mobile.errors import NotFound
from lsso_mobile.models import InsuredPerson, Language, Member, Office, RegistrationApplication
from lsso_mobile.services import accounts
from lsso_mobile.validation import FullMatch

blp = Blueprint("members", __name__, url_prefix="/api/v1/me", description="The signed-in member")


class OfficeSummarySchema(StrictSchema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name_lo = fields.String(required=True)
    name_en = fields.String(required=True)


class MemberProfileSchema(StrictSchema):
    phone = fields.String(required=True)
    language = fields.Enum(Language, by_value=True, required=True)
    member_number = fields.String(allow_none=True, required=True)
    name_lo = fields.String(allow_none=True, required=True)
    name_latin = fields.String(allow_none=True, required=True)
    office = fields.Nested(OfficeSummarySchema, allow_none=True, required=True)
    registration_status = fields.String(allow_none=True, required=True)


class MemberUpdateSchema(StrictSchema):
    language = fields.Enum(Language, by_value=True, required=True)


class LinkSchema(StrictSchema):
    member_number = fields.String(
        required=True, validate=FullMatch(r"^[0-9]{10}$", error="A member number is 10 digits.")
    )
    date_of_birth = fields.Date(required=True)
    code = code_field()


def _profile(member_id: int) -> dict[str, Any]:
    session = db_session()
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound("No such member.")
    person = session.get(InsuredPerson, member.insured_person_id) if member.insured_person_id else None
    office = session.get(Office, member.office_id) if member.office_id else None
    status = session.scalar(
        select(RegistrationApplication.status)
        .where(RegistrationApplication.member_id == member_id)
        .order_by(RegistrationApplication.id.desc())
        .limit(1)
    )
    return {
        "phone": member.phone,
        "language": member.language,
        "member_number": person.member_number if person else None,
        "name_lo": person.name_lo if person else None,
        "name_latin": person.name_latin if person else None,
        "office": office,
        "registration_status": status.value if status else None,
    }


@blp.route("", methods=["GET"])
@blp.access(MEMBER)
@blp.response(200, MemberProfileSchema)
def get_profile() -> dict[str, Any]:
    """The member's phone, language, member number (once registered) and office."""
    return _profile(current_principal().id)


@blp.route("", methods=["PATCH"])
@blp.access(MEMBER)
@blp.arguments(MemberUpdateSchema)
@blp.response(200, MemberProfileSchema)
def update_profile(body: dict[str, Any]) -> dict[str, Any]:
    """Change the language of notices and texts (lo or en)."""
    member = db_session().get(Member, current_principal().id)
    if member is None:
        raise NotFound("No such member.")
    member.language = body["language"]
    commit()
    return _profile(member.id)


@blp.route("/link", methods=["POST"])
@blp.access(MEMBER)
@blp.arguments(LinkSchema)
@blp.response(200, MemberProfileSchema)
@blp.alt_response(400, response="DEFAULT_ERROR", description="Wrong or expired code")
@blp.alt_response(404, response="DEFAULT_ERROR", description="No record matches")
@blp.alt_response(409, response="DEFAULT_ERROR", description="Already linked")
def link_member_number(body: dict[str, Any]) -> dict[str, Any]:
    """Link the app to an existing LSSO member number (member number + date of birth + a code sent by SMS)."""
    member_id = current_principal().id
    accounts.link_member_number(
        db_session(), settings(), member_id, body["member_number"], body["date_of_birth"], body["code"], now()
    )
    commit()
    return _profile(member_id)
