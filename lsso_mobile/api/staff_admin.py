"""Admins manage staff accounts, read the audit trail and the history of rule changes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import Response, stream_with_context
from marshmallow import fields, validate

from lsso_mobile.api.access import ADMIN, Blueprint, client_ip, current_principal, now
from lsso_mobile.api.context import commit, db_session, settings
from lsso_mobile.api.schemas import (
    SANE_TIMES,
    JsonBoolean,
    PageArgsSchema,
    PageMetaSchema,
    StrictSchema,
    decode_cursor,
    page,
)
from lsso_mobile.models import ActorKind, AuditEvent, BenefitType, RuleChange, Scheme, StaffRole, StaffUser
from lsso_mobile.services import rules, staff_accounts
from lsso_mobile.services.audit_log import AuditFilter, audit_csv, audit_names, search_audit
from lsso_mobile.services.staff import staff_names

blp = Blueprint("staff_admin", __name__, url_prefix="/api/v1/admin", description="Staff accounts and audit (admins)")

ROLE = fields.Enum(StaffRole, by_value=True, metadata={"description": "officer, ops or admin", "example": "officer"})
OFFICE_CODE = {"description": "Office code (D0101, P01, ...); required for officers", "example": "D0101"}


class StaffAccountSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "Staff user id", "example": 12})
    username = fields.String(required=True, metadata={"description": "Sign-in name", "example": "officer.vte"})
    display_name = fields.String(required=True, metadata={"description": "Name colleagues see", "example": "Noy"})
    role = fields.Enum(
        StaffRole, by_value=True, required=True, metadata={"description": "officer, ops or admin", "example": "ops"}
    )
    office_code = fields.String(required=True, allow_none=True, metadata=OFFICE_CODE)
    active = fields.Boolean(required=True, metadata={"description": "False once disabled", "example": True})
    must_change_password = fields.Boolean(
        required=True, metadata={"description": "A reset password not changed yet", "example": False}
    )
    second_factor_required = fields.Boolean(
        required=True, metadata={"description": "Sign-in must use a second factor", "example": True}
    )
    second_factor_enrolled = fields.Boolean(
        required=True, metadata={"description": "A TOTP authenticator is set up", "example": True}
    )
    created_at = fields.DateTime(
        required=True, metadata={"description": "When created", "example": "2026-01-05T08:00:00Z"}
    )
    disabled_at = fields.DateTime(
        required=True, allow_none=True, metadata={"description": "When disabled", "example": None}
    )


class StaffAccountPageSchema(PageMetaSchema):
    items = fields.List(
        fields.Nested(StaffAccountSchema),
        required=True,
        metadata={"description": "Staff accounts matching the search, in username order"},
    )


class StaffListArgsSchema(PageArgsSchema):
    q = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "Text in the username or name", "example": "noy"},
    )
    role = fields.Enum(StaffRole, by_value=True, load_default=None, metadata={"description": "Only this role"})
    office_code = fields.String(load_default=None, validate=validate.Length(min=1, max=16), metadata=OFFICE_CODE)
    active = fields.Boolean(load_default=None, metadata={"description": "Only active (true) or disabled (false)"})


class StaffCreateSchema(StrictSchema):
    username = fields.String(
        required=True,
        validate=[validate.Length(min=3, max=64), validate.Regexp(r"^[A-Za-z0-9._-]+$")],
        metadata={"description": "Letters, digits, dot, dash, underscore", "example": "officer.pakse2"},
    )
    display_name = fields.String(
        required=True, validate=validate.Length(min=1, max=200), metadata={"description": "Name", "example": "Noy"}
    )
    role = fields.Enum(
        StaffRole, by_value=True, required=True, metadata={"description": "officer, ops or admin", "example": "officer"}
    )
    office_code = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=16), metadata=OFFICE_CODE
    )


class StaffUpdateSchema(StaffCreateSchema):
    class Meta:
        exclude = ("username",)


class StaffWithPasswordSchema(StrictSchema):
    account = fields.Nested(StaffAccountSchema, required=True, metadata={"description": "The account as stored"})
    temporary_password = fields.String(
        required=True,
        metadata={
            "description": "Shown once: pass it to the user, who must change it at the next sign-in",
            "example": "k7mq2xr9vbnp",
        },
    )


class SecondFactorRequirementSchema(StrictSchema):
    required = JsonBoolean(
        required=True, metadata={"description": "Whether sign-in must use a second factor", "example": True}
    )


def account_view(staff: StaffUser, codes: dict[int, str]) -> dict[str, Any]:
    return {
        "id": staff.id,
        "username": staff.username,
        "display_name": staff.display_name,
        "role": staff.role,
        "office_code": codes.get(staff.office_id) if staff.office_id is not None else None,
        "active": staff.active,
        "must_change_password": staff.must_change_password,
        "second_factor_required": staff.second_factor_required,
        "second_factor_enrolled": staff.totp_confirmed_at is not None,
        "created_at": staff.created_at,
        "disabled_at": staff.disabled_at,
    }


def _view(staff: StaffUser) -> dict[str, Any]:
    return account_view(staff, staff_accounts.office_codes(db_session(), {staff.office_id}))


def _actor() -> staff_accounts.Actor:
    return staff_accounts.Actor(current_principal(), client_ip(), now())


STAFF = "/staff/<int:staff_id>"
NOT_FOUND = "No such staff user"


@blp.route("/staff", methods=["GET"])
@blp.access(ADMIN)
@blp.doc(operationId="listStaffAccounts")
@blp.arguments(StaffListArgsSchema, location="query")
@blp.response(200, StaffAccountPageSchema)
@blp.alt_response(422, response="DEFAULT_ERROR", description="Unknown office code or bad cursor")
def list_staff(args: dict[str, Any]) -> Any:
    """Staff accounts by id, filtered by text, role, office and whether active. Admins only."""
    session = db_session()
    office_id = staff_accounts.office_by_code(session, args["office_code"])
    items = staff_accounts.list_staff(
        session, args["q"], args["role"], office_id, args["active"], decode_cursor(args["cursor"]), args["limit"] + 1
    )
    result = page(items, args["limit"])
    codes = staff_accounts.office_codes(session, {s.office_id for s in result["items"]})
    return {"items": [account_view(s, codes) for s in result["items"]], "next_cursor": result["next_cursor"]}


@blp.route("/staff", methods=["POST"])
@blp.access(ADMIN)
@blp.doc(operationId="createStaffAccount")
@blp.arguments(StaffCreateSchema)
@blp.response(201, StaffWithPasswordSchema)
@blp.alt_response(409, response="DEFAULT_ERROR", description="The username is taken")
@blp.alt_response(422, response="DEFAULT_ERROR", description="An officer without an office, or an unknown office")
def create_staff(body: dict[str, Any]) -> Any:
    """Create a staff account with a temporary password (shown once; changed at the first sign-in). Admins only."""
    session = db_session()
    office_id = staff_accounts.office_by_code(session, body["office_code"])
    staff, temporary = staff_accounts.create_account(
        session, settings(), _actor(), body["username"], body["role"], body["display_name"], office_id
    )
    view = _view(staff)
    commit()
    return {"account": view, "temporary_password": temporary}


@blp.route(STAFF, methods=["GET"])
@blp.access(ADMIN)
@blp.doc(operationId="getStaffAccount")
@blp.response(200, StaffAccountSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description=NOT_FOUND)
def get_staff(staff_id: int) -> Any:
    """One staff account. Admins only."""
    return _view(staff_accounts.staff_account(db_session(), staff_id))


@blp.route(STAFF, methods=["PUT"])
@blp.access(ADMIN)
@blp.doc(operationId="updateStaffAccount")
@blp.arguments(StaffUpdateSchema)
@blp.response(200, StaffAccountSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description=NOT_FOUND)
@blp.alt_response(422, response="DEFAULT_ERROR", description="An officer without an office; one's own role")
def update_staff(body: dict[str, Any], staff_id: int) -> Any:
    """Change a staff user's role, office and name; it applies to their next request. Admins only."""
    session = db_session()
    office_id = staff_accounts.office_by_code(session, body["office_code"])
    staff = staff_accounts.update_account(session, _actor(), staff_id, body["role"], office_id, body["display_name"])
    view = _view(staff)
    commit()
    return view


def _account_action(operation: Any, staff_id: int) -> Any:
    staff = operation(db_session(), _actor(), staff_id)
    view = _view(staff)
    commit()
    return view


@blp.route(f"{STAFF}/disable", methods=["POST"])
@blp.access(ADMIN)
@blp.doc(operationId="disableStaffAccount")
@blp.response(200, StaffAccountSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description=NOT_FOUND)
@blp.alt_response(422, response="DEFAULT_ERROR", description="One's own account")
def disable_staff(staff_id: int) -> Any:
    """Disable an account: its API tokens and console sessions stop working on their next request. Admins only."""
    return _account_action(staff_accounts.disable_account, staff_id)


@blp.route(f"{STAFF}/enable", methods=["POST"])
@blp.access(ADMIN)
@blp.doc(operationId="enableStaffAccount")
@blp.response(200, StaffAccountSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description=NOT_FOUND)
def enable_staff(staff_id: int) -> Any:
    """Enable a disabled account again (its old sign-ins stay ended). Admins only."""
    return _account_action(staff_accounts.enable_account, staff_id)


@blp.route(f"{STAFF}/unlock", methods=["POST"])
@blp.access(ADMIN)
@blp.doc(operationId="unlockStaffAccount")
@blp.response(200, StaffAccountSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description=NOT_FOUND)
def unlock_staff(staff_id: int) -> Any:
    """Clear the account's failed sign-ins, so no delay is left before its next try. Admins only."""
    return _account_action(staff_accounts.unlock_account, staff_id)


@blp.route(f"{STAFF}/reset-password", methods=["POST"])
@blp.access(ADMIN)
@blp.doc(operationId="resetStaffPassword")
@blp.response(200, StaffWithPasswordSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description=NOT_FOUND)
@blp.alt_response(422, response="DEFAULT_ERROR", description="One's own account (change it with the current one)")
def reset_staff_password(staff_id: int) -> Any:
    """Give the account a temporary password (shown once) and end its sign-ins; the next sign-in can only
    change it. Admins only."""
    staff, temporary = staff_accounts.reset_password(db_session(), settings(), _actor(), staff_id)
    view = _view(staff)
    commit()
    return {"account": view, "temporary_password": temporary}


@blp.route(f"{STAFF}/second-factor", methods=["PUT"])
@blp.access(ADMIN)
@blp.doc(operationId="setSecondFactorRequirement")
@blp.arguments(SecondFactorRequirementSchema)
@blp.response(200, StaffAccountSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description=NOT_FOUND)
def require_second_factor(body: dict[str, Any], staff_id: int) -> Any:
    """Require (or stop requiring) a second factor; without one set up, the next sign-in can only set one up.
    Admins only (LSSO_STAFF_SECOND_FACTOR_ROLES requires it for whole roles)."""
    staff = staff_accounts.require_second_factor(db_session(), _actor(), staff_id, body["required"])
    view = _view(staff)
    commit()
    return view


@blp.route(f"{STAFF}/second-factor", methods=["DELETE"])
@blp.access(ADMIN)
@blp.doc(operationId="removeSecondFactor")
@blp.response(200, StaffAccountSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description=NOT_FOUND)
@blp.alt_response(422, response="DEFAULT_ERROR", description="One's own account")
def remove_second_factor(staff_id: int) -> Any:
    """Forget the account's authenticator (a lost phone) and end its sign-ins. Admins only."""
    return _account_action(staff_accounts.remove_second_factor, staff_id)


# -- the audit trail -----------------------------------------------------------------------------------


class AuditFilterArgsSchema(StrictSchema):
    actor = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "A staff username", "example": "admin.central"},
    )
    action = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=48),
        metadata={
            "description": "An action, or its start ending in '.' (staff. for account changes)",
            "example": "staff.",
        },
    )
    object_type = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=32),
        metadata={"description": "Kind of object", "example": "staff_user"},
    )
    object_id = fields.Integer(
        load_default=None, validate=validate.Range(min=1, max=2**31 - 1), metadata={"description": "Object id"}
    )
    since = fields.AwareDateTime(load_default=None, validate=SANE_TIMES, metadata={"description": "From (inclusive)"})
    until = fields.AwareDateTime(load_default=None, validate=SANE_TIMES, metadata={"description": "Until (exclusive)"})


class AuditListArgsSchema(AuditFilterArgsSchema, PageArgsSchema):
    pass


class AuditEventSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "Event id", "example": 301})
    created_at = fields.DateTime(required=True, metadata={"description": "When", "example": "2026-11-30T09:00:00Z"})
    actor_kind = fields.Enum(
        ActorKind, by_value=True, required=True, metadata={"description": "staff, core or system", "example": "staff"}
    )
    actor = fields.String(
        required=True, allow_none=True, metadata={"description": "Staff username", "example": "admin.central"}
    )
    action = fields.String(required=True, metadata={"description": "What", "example": "staff.disable"})
    object_type = fields.String(required=True, metadata={"description": "Kind of object", "example": "staff_user"})
    object_id = fields.Integer(required=True, metadata={"description": "Object id", "example": 12})
    office_code = fields.String(required=True, allow_none=True, metadata=OFFICE_CODE)
    client_address = fields.String(
        required=True, allow_none=True, metadata={"description": "From where (IPv6 by its /64)", "example": "10.0.0.7"}
    )
    details = fields.Dict(required=True, metadata={"description": "A little more (new values, reasons)"})


class AuditPageSchema(PageMetaSchema):
    items = fields.List(
        fields.Nested(AuditEventSchema),
        required=True,
        metadata={"description": "The audit events of this page, newest first"},
    )


def _filter(args: dict[str, Any]) -> AuditFilter:
    return AuditFilter(
        args["actor"], args["action"], args["object_type"], args["object_id"], args["since"], args["until"]
    )


def audit_view(events: list[AuditEvent]) -> list[dict[str, Any]]:
    names = audit_names(db_session(), events)
    return [
        {
            "id": e.id,
            "created_at": e.created_at,
            "actor_kind": e.actor_kind,
            "actor": names.actors.get(e.actor_staff_id) if e.actor_staff_id is not None else None,
            "action": e.action,
            "object_type": e.object_type,
            "object_id": e.object_id,
            "office_code": names.offices.get(e.office_id) if e.office_id is not None else None,
            "client_address": e.client_address,
            "details": e.details,
        }
        for e in events
    ]


@blp.route("/audit-events", methods=["GET"])
@blp.access(ADMIN)
@blp.doc(operationId="listAuditEvents")
@blp.arguments(AuditListArgsSchema, location="query")
@blp.response(200, AuditPageSchema)
@blp.alt_response(422, response="DEFAULT_ERROR", description="Bad filter or cursor")
def list_audit_events(args: dict[str, Any]) -> Any:
    """Staff actions, newest first: who, when, what, to which object, from where. Admins only."""
    events = search_audit(db_session(), _filter(args), decode_cursor(args["cursor"]), args["limit"] + 1)
    result = page(events, args["limit"])
    return {"items": audit_view(result["items"]), "next_cursor": result["next_cursor"]}


def csv_response(chunks: Iterator[str], stamp: datetime) -> Response:
    response = Response(stream_with_context(chunks), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="audit-{stamp:%Y%m%d-%H%M}.csv"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blp.route("/audit-events.csv", methods=["GET"])
@blp.access(ADMIN)
@blp.doc(operationId="exportAuditEvents")
@blp.arguments(AuditFilterArgsSchema, location="query")
@blp.response(
    200,
    content_type="text/csv",
    description="CSV (UTF-8, newest first, up to 200,000 rows): id, time_utc, actor_kind, actor, action, "
    "object_type, object_id, office, address, details (JSON)",
)
@blp.alt_response(422, response="DEFAULT_ERROR", description="Bad filter")
def export_audit_events(args: dict[str, Any]) -> Any:
    """The audit events matching the filter, as CSV. Admins only."""
    return csv_response(audit_csv(db_session(), _filter(args)), now())


# -- rule history --------------------------------------------------------------------------------------


class RuleHistoryArgsSchema(PageArgsSchema):
    kind = fields.String(
        load_default=None,
        validate=validate.OneOf(["scheme", "eligibility"]),
        metadata={"description": "scheme or eligibility", "example": "scheme"},
    )


class RuleChangeSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "Change id", "example": 4})
    created_at = fields.DateTime(required=True, metadata={"description": "When", "example": "2026-11-30T09:00:00Z"})
    author = fields.String(
        required=True, allow_none=True, metadata={"description": "Staff name", "example": "admin.central"}
    )
    rule_kind = fields.String(
        required=True,
        validate=validate.OneOf(["scheme", "eligibility"]),
        metadata={"description": "scheme or eligibility", "example": "scheme"},
    )
    scheme = fields.String(
        required=True, metadata={"enum": [s.value for s in Scheme], "description": "Scheme", "example": "voluntary"}
    )
    benefit_type = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "enum": [b.value for b in BenefitType],
            "description": "Benefit (eligibility rules)",
            "example": None,
        },
    )
    before = fields.Dict(required=True, allow_none=True, metadata={"description": "Values before; null: new rule"})
    after = fields.Dict(required=True, metadata={"description": "Values after"})


class RuleChangePageSchema(PageMetaSchema):
    items = fields.List(
        fields.Nested(RuleChangeSchema),
        required=True,
        metadata={"description": "Rule changes, newest first, with who made them"},
    )


@blp.route("/rule-changes", methods=["GET"])
@blp.access(ADMIN)
@blp.doc(operationId="listRuleChanges")
@blp.arguments(RuleHistoryArgsSchema, location="query")
@blp.response(200, RuleChangePageSchema)
@blp.alt_response(422, response="DEFAULT_ERROR", description="Bad cursor")
def list_rule_changes(args: dict[str, Any]) -> Any:
    """Who changed which scheme or eligibility rule, when, and the values before and after. Admins only."""
    session = db_session()
    changes: list[RuleChange] = rules.rule_history(
        session, args["kind"], None, None, decode_cursor(args["cursor"]), args["limit"] + 1
    )
    result = page(changes, args["limit"])
    names = staff_names(session, {c.actor_staff_id for c in result["items"]})
    return {
        "items": [
            {
                "id": c.id,
                "created_at": c.created_at,
                "author": names.get(c.actor_staff_id) if c.actor_staff_id is not None else None,
                "rule_kind": c.rule_kind,
                "scheme": c.scheme,
                "benefit_type": c.benefit_type,
                "before": c.before,
                "after": c.after,
            }
            for c in result["items"]
        ],
        "next_cursor": result["next_cursor"],
    }
