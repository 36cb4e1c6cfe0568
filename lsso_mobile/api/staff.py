"""The signed-in staff user: their profile, their password and their second factor (TOTP)."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from lsso_mobile.api.access import STAFF_ROLES, Blueprint, client_ip, current_principal, now
from lsso_mobile.api.context import commit, db_session, settings
from lsso_mobile.api.schemas import StrictSchema
from lsso_mobile.services import staff_accounts
from lsso_mobile.services.accounts import RESTRICT_PASSWORD, RESTRICT_SECOND_FACTOR, staff_restriction
from lsso_mobile.services.staff import staff_user

blp = Blueprint("staff", __name__, url_prefix="/api/v1/staff", description="Staff accounts")


class StaffProfileSchema(StrictSchema):
    username = fields.String(required=True, metadata={"description": "Sign-in name", "example": "officer.vte"})
    display_name = fields.String(required=True, metadata={"description": "Name colleagues see", "example": "Noy"})
    role = fields.String(
        required=True,
        validate=validate.OneOf(STAFF_ROLES),
        metadata={"description": "officer, ops or admin", "example": "officer"},
    )
    office_id = fields.Integer(allow_none=True, required=True, metadata={"description": "Office", "example": 3})
    second_factor = fields.Boolean(
        required=True, metadata={"description": "Whether sign-ins need a TOTP code", "example": False}
    )
    action_required = fields.String(
        required=True,
        allow_none=True,
        validate=validate.OneOf([RESTRICT_PASSWORD, RESTRICT_SECOND_FACTOR]),
        metadata={
            "description": "What must be done before anything else works: password_change (after a reset) or "
            "second_factor_enrolment; null when nothing",
            "example": None,
        },
    )


def _actor() -> staff_accounts.Actor:
    return staff_accounts.Actor(current_principal(), client_ip(), now())


@blp.route("/me", methods=["GET"])
@blp.access(*STAFF_ROLES, restricted_ok=True)
@blp.doc(operationId="getStaffProfile")
@blp.response(200, StaffProfileSchema)
def staff_profile() -> Any:
    """The staff user's name, role and office, and what they must do first (if anything).

    Call it after signing in to know the role and office, and whether a password change or a second factor is
    required before anything else works. For officers, ops and admin users.
    """
    staff = staff_user(db_session(), current_principal().id)
    return {
        "username": staff.username,
        "display_name": staff.display_name,
        "role": staff.role.value,
        "office_id": staff.office_id,
        "second_factor": staff.totp_confirmed_at is not None,
        "action_required": staff_restriction(staff),
    }


class PasswordChangeSchema(StrictSchema):
    current_password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=1, max=256),
        metadata={"description": "The password in use (the temporary one after a reset)", "example": "temporary-1"},
    )
    new_password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=1, max=256),
        metadata={"description": "At least 10 characters, not the current one", "example": "a-new-password-2"},
    )


@blp.route("/me/password", methods=["POST"])
@blp.access(*STAFF_ROLES, restricted_ok=True)
@blp.doc(operationId="changeStaffPassword")
@blp.arguments(PasswordChangeSchema)
@blp.response(204)
@blp.alt_response(422, response="DEFAULT_ERROR", description="Too short, or the same as the current one")
@blp.alt_response(429, response="DEFAULT_ERROR", description="Too many wrong current passwords: wait Retry-After")
def change_password(body: dict[str, Any]) -> None:
    """Change one's own password.

    Any staff user (officer, ops, admin). The current password is checked (wrong ones count like failed
    sign-ins); the account's other sign-ins end, this one goes on.
    """
    staff_accounts.change_own_password(
        db_session(), settings(), _actor(), body["current_password"], body["new_password"]
    )
    commit()


class EnrolmentSchema(StrictSchema):
    secret = fields.String(
        required=True,
        metadata={
            "description": "The shared secret (base32), to type in if the QR cannot be read",
            "example": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
        },
    )
    otpauth_uri = fields.String(
        required=True,
        metadata={
            "description": "otpauth:// URI to show as a QR code",
            "example": "otpauth://totp/LSSO%20console:noy?secret=JBSW&issuer=LSSO%20console",
        },
    )


class ConfirmEnrolmentSchema(StrictSchema):
    code = fields.String(
        required=True,
        validate=validate.Length(min=1, max=10),
        metadata={"description": "The 6-digit code the authenticator app shows now", "example": "492039"},
    )


@blp.route("/me/second-factor", methods=["POST"])
@blp.access(*STAFF_ROLES, restricted_ok=True)
@blp.doc(operationId="beginSecondFactorEnrolment")
@blp.response(201, EnrolmentSchema)
@blp.alt_response(409, response="DEFAULT_ERROR", description="A second factor is already set up")
def begin_enrolment() -> Any:
    """Start setting up a TOTP second factor: a new secret to scan into an authenticator app.

    Any staff user. Nothing changes for sign-in until a code from it is confirmed.
    """
    enrolment = staff_accounts.begin_totp_enrolment(db_session(), settings(), _actor())
    commit()
    return {"secret": enrolment.secret, "otpauth_uri": enrolment.uri}


@blp.route("/me/second-factor/confirm", methods=["POST"])
@blp.access(*STAFF_ROLES, restricted_ok=True)
@blp.doc(operationId="confirmSecondFactorEnrolment")
@blp.arguments(ConfirmEnrolmentSchema)
@blp.response(204)
@blp.alt_response(409, response="DEFAULT_ERROR", description="A second factor is already set up")
@blp.alt_response(422, response="DEFAULT_ERROR", description="Wrong code, or no set-up begun")
def confirm_enrolment(body: dict[str, Any]) -> None:
    """Turn the second factor on with a code from the app: from now on every sign-in needs a code.

    Any staff user. The account's other sign-ins end.
    """
    staff_accounts.confirm_totp_enrolment(db_session(), settings(), _actor(), body["code"])
    commit()
