"""The signed-in staff user."""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from lsso_mobile.api.access import STAFF_ROLES, Blueprint, current_principal
from lsso_mobile.api.context import db_session
from lsso_mobile.api.schemas import StrictSchema
from lsso_mobile.models import StaffRole
from lsso_mobile.services.staff import staff_user

blp = Blueprint("staff", __name__, url_prefix="/api/v1/staff", description="Staff accounts")


class StaffProfileSchema(StrictSchema):
    username = fields.String(required=True, metadata={"description": "The sign-in name"})
    display_name = fields.String(
        required=True, metadata={"description": "The staff user's name as members and colleagues see it"}
    )
    role = fields.String(
        required=True, metadata={"enum": [r.value for r in StaffRole], "description": "The staff role"}
    )
    office_id = fields.Integer(
        allow_none=True, required=True, metadata={"description": "The officer's office; null for ops and admin"}
    )


@blp.route("/me", methods=["GET"])
@blp.access(*STAFF_ROLES)
@blp.response(200, StaffProfileSchema)
@blp.doc(operationId="getStaffProfile")
def staff_profile() -> Any:
    """The staff user's name, role and office.

    Call it after signing in to know the role and office.
    """
    staff = staff_user(db_session(), current_principal().id)
    return {
        "username": staff.username,
        "display_name": staff.display_name,
        "role": staff.role.value,
        "office_id": staff.office_id,
    }
