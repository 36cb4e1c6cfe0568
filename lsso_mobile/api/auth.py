"""Sign-up, sign-in and tokens for members (phone + code + PIN) and staff (username + password)."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from lsso_mobile.api.access import ALL_ROLES, MEMBER, PUBLIC, STAFF_ROLES, Blueprint, client_ip, current_principal, now
from lsso_mobile.api.context import commit, db_session, keyring, settings
from lsso_mobile.api.schemas import LaoPhone, StrictSchema, code_field, pin_field
from lsso_mobile.models import Language
from lsso_mobile.services import accounts, otp
from lsso_mobile.validation import FullMatch

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Sign-up, sign-in and tokens")


class CodeRequestSchema(StrictSchema):
    phone = LaoPhone(
        required=True,
        metadata={"description": "The Lao mobile number to send the code to", "example": "+8562055551234"},
    )
    purpose = fields.String(
        load_default=otp.DEFAULT_PURPOSE,
        validate=validate.OneOf(otp.REQUESTABLE_PURPOSES),
        metadata={
            "description": "What the code is for; it works for that only, and the SMS says which. "
            "Without it: signup (what apps released before purposes existed ask for). "
            "Step-up codes are sent by the sign-in itself."
        },
    )


class CodeSentSchema(StrictSchema):
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds the code stays valid"})
    message = fields.String(
        required=True,
        metadata={"description": "Says a code is on its way (the same whether or not the number has an account)"},
    )


class SignUpSchema(StrictSchema):
    phone = LaoPhone(required=True, metadata={"description": "The Lao mobile number the code was sent to"})
    code = code_field()
    pin = pin_field()
    language = fields.Enum(
        Language, by_value=True, load_default=Language.LAO, metadata={"description": "lo (default) or en"}
    )


class MemberSignInSchema(StrictSchema):
    phone = LaoPhone(
        required=True,
        metadata={"description": "Lao mobile number (E.164, +856 20 ...); any common spelling is accepted on input"},
    )
    pin = pin_field()
    code = fields.String(
        load_default=None,
        validate=FullMatch(r"^[0-9]{6}$", error="A code is exactly 6 digits."),
        metadata={"description": "After an answer with step_up_required: the code then sent by SMS to the phone"},
    )


class StaffSignInSchema(StrictSchema):
    username = fields.String(
        required=True, validate=validate.Length(min=1, max=64), metadata={"description": "The sign-in name"}
    )
    password = fields.String(
        required=True,
        validate=validate.Length(min=1, max=256),
        load_only=True,
        metadata={"description": "The staff password"},
    )
    totp_code = fields.String(
        load_default=None,
        allow_none=True,
        load_only=True,
        validate=validate.Length(min=1, max=10),
        metadata={
            "description": "The 6-digit code from the authenticator app, once the account has a second factor "
            "(without it such an account gets 401 with error second_factor_required)",
            "example": "492039",
        },
    )


class RefreshSchema(StrictSchema):
    refresh_token = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2048),
        metadata={"description": "Trade it for a new pair with refreshTokens (works once)"},
    )


class TokenPairSchema(StrictSchema):
    access_token = fields.String(
        required=True, metadata={"description": "Send as `Authorization: Bearer <access token>`"}
    )
    refresh_token = fields.String(
        required=True, metadata={"description": "Trade it for a new pair with refreshTokens (works once)"}
    )
    token_type = fields.String(required=True, dump_default="Bearer", metadata={"description": "Always Bearer"})
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds until the access token expires"})
    role = fields.String(
        required=True,
        metadata={
            "enum": [role for role in ALL_ROLES if role != "public"],
            "description": "The role the token acts as",
        },
    )


class ChangePinSchema(StrictSchema):
    current_pin = pin_field("The PIN now")
    new_pin = pin_field("The new 6-digit PIN (not the current one)")


class ResetPinSchema(StrictSchema):
    phone = LaoPhone(required=True, metadata={"description": "The account's phone"})
    code = code_field()
    new_pin = pin_field("The new 6-digit PIN")


def tokens_body(pair: accounts.TokenPair) -> dict[str, Any]:
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "role": pair.role,
    }


@blp.route("/otp", methods=["POST"])
@blp.access(PUBLIC)
@blp.arguments(CodeRequestSchema)
@blp.response(202, CodeSentSchema)
@blp.alt_response(429, response="DEFAULT_ERROR", description="Too many codes requested")
@blp.doc(operationId="requestCode")
def send_code(body: dict[str, Any]) -> dict[str, Any]:
    """Send a one-time code by SMS (the same answer whether or not the number has an account).

    Step 1 of sign-up and of a PIN reset. The code is 6 digits and works once, for the purpose asked only. The answer
    never says whether the number has an account. Codes a number and a network may ask for are limited (429 with
    Retry-After).
    """
    sent = otp.request_code(db_session(), settings(), body["phone"], client_ip(), now(), purpose=body["purpose"])
    commit()
    return {"expires_in": sent.expires_in_seconds, "message": "If the number can receive SMS, a code is on its way."}


@blp.route("/signup", methods=["POST"])
@blp.access(PUBLIC)
@blp.arguments(SignUpSchema)
@blp.response(201, TokenPairSchema)
@blp.alt_response(400, response="DEFAULT_ERROR", description="Wrong or expired code")
@blp.alt_response(409, response="DEFAULT_ERROR", description="The number already has an account")
@blp.doc(operationId="signUp")
def sign_up(body: dict[str, Any]) -> dict[str, Any]:
    """Create a member account: phone, the code sent to it, and a 6-digit PIN.

    Step 2 of sign-up, after `requestCode`. Answers with an access token and a refresh token: the member is signed in.
    `language` sets the language of notices, SMS and error messages (Lao by default).
    """
    pair = accounts.sign_up_member(
        db_session(), settings(), keyring(), body["phone"], body["code"], body["pin"], body["language"], now()
    )
    commit()
    return tokens_body(pair)


@blp.route("/login", methods=["POST"])
@blp.access(PUBLIC)
@blp.arguments(MemberSignInSchema)
@blp.response(200, TokenPairSchema)
@blp.alt_response(
    401,
    response="DEFAULT_ERROR",
    description="Wrong phone or PIN; or errors.code = [step_up_required]: send the PIN again with the code sent "
    "by SMS to the phone (the same answer whether the PIN, the code or the phone was wrong)",
)
@blp.alt_response(
    429, response="DEFAULT_ERROR", description="Repeated failures on this phone: wait Retry-After seconds"
)
@blp.doc(operationId="signInMember")
def member_sign_in(body: dict[str, Any]) -> dict[str, Any]:
    """Sign a member in with phone + PIN (and, after repeated failures, the code sent by SMS).

    Answers with a token pair. After repeated wrong PINs the answer is a 401 with `errors.code = [step_up_required]` and
    a code is sent by SMS: send the phone, the PIN and that code.
    """
    pair = accounts.sign_in_member(
        db_session(), settings(), keyring(), body["phone"], body["pin"], now(), client_ip(), body["code"]
    )
    commit()
    return tokens_body(pair)


@blp.route("/staff/login", methods=["POST"])
@blp.access(PUBLIC)
@blp.arguments(StaffSignInSchema)
@blp.response(200, TokenPairSchema)
@blp.alt_response(
    401,
    response="DEFAULT_ERROR",
    description="Wrong username or password; or error second_factor_required: send totp_code as well",
)
@blp.alt_response(
    429,
    response="DEFAULT_ERROR",
    description="Repeated failures on this account: wait Retry-After seconds (a delay, not a lock); or "
    "wrong details from a network with many failures",
)
@blp.doc(operationId="signInStaff")
def staff_sign_in(body: dict[str, Any]) -> dict[str, Any]:
    """Sign office or ops staff in with username + password (+ TOTP code when the account has a second factor).

    For officers, ops and admin users (the console uses its own session). Answers with a token pair whose `role` is the
    staff role. A user whose password was reset, or who must set up a second factor and has none, gets tokens that
    only open GET /staff/me, POST /staff/me/password, the second-factor set-up routes and logout until that is done.
    """
    pair = accounts.sign_in_staff(
        db_session(), settings(), keyring(), body["username"], body["password"], now(), client_ip(), body["totp_code"]
    )
    commit()
    return tokens_body(pair)


@blp.route("/refresh", methods=["POST"])
@blp.access(PUBLIC)
@blp.arguments(RefreshSchema)
@blp.response(200, TokenPairSchema)
@blp.alt_response(401, response="DEFAULT_ERROR", description="Unknown, expired, reused or revoked token")
@blp.doc(operationId="refreshTokens")
def refresh(body: dict[str, Any]) -> dict[str, Any]:
    """Trade a refresh token for a new pair; each refresh token works once.

    Call it when the access token has expired (401). A refresh token used twice ends the whole sign-in (a stolen token
    is then useless); sign in again.
    """
    pair = accounts.refresh_tokens(db_session(), settings(), keyring(), body["refresh_token"], now())
    commit()
    return tokens_body(pair)


@blp.route("/logout", methods=["POST"])
@blp.access(MEMBER, *STAFF_ROLES, restricted_ok=True)
@blp.response(204)
@blp.doc(operationId="signOut")
def logout() -> None:
    """End this sign-in: its access and refresh tokens stop working.

    Ends this sign-in only; other phones stay signed in. The app should also remove its device (`removeDevice`) so that
    this phone gets no more pushes.
    """
    accounts.revoke_session(db_session(), current_principal().session_id, "logout", now())
    commit()


@blp.route("/pin", methods=["POST"])
@blp.access(MEMBER)
@blp.arguments(ChangePinSchema)
@blp.response(204)
@blp.alt_response(422, response="DEFAULT_ERROR", description="New PIN same as the current one")
@blp.alt_response(429, response="DEFAULT_ERROR", description="Repeated wrong PINs: wait Retry-After seconds")
@blp.doc(operationId="changePin")
def change_pin(body: dict[str, Any]) -> None:
    """Change the PIN; every sign-in of this member ends.

    Needs the current PIN. Every sign-in of the member ends, this one too: sign in again with the new PIN.
    """
    accounts.change_pin(
        db_session(), settings(), current_principal().id, body["current_pin"], body["new_pin"], now(), client_ip()
    )
    commit()


@blp.route("/pin/reset", methods=["POST"])
@blp.access(PUBLIC)
@blp.arguments(ResetPinSchema)
@blp.response(204)
@blp.alt_response(400, response="DEFAULT_ERROR", description="Wrong or expired code")
@blp.alt_response(404, response="DEFAULT_ERROR", description="No account for this number")
@blp.doc(operationId="resetPin")
def reset_pin(body: dict[str, Any]) -> None:
    """Set a new PIN with a code sent to the phone; every sign-in of this member ends.

    For a forgotten PIN: ask a code with purpose `pin_reset` first (`requestCode`), then send it here with the new PIN.
    """
    accounts.reset_pin(db_session(), settings(), body["phone"], body["code"], body["new_pin"], now())
    commit()
