"""Admins change contribution rates, earnings limits, due days and eligibility rules: data, not code.

Other processes pick a change up within a minute (each caches the rules for that long)."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from lsso_mobile.api.access import ADMIN, Blueprint, client_ip, current_principal, now
from lsso_mobile.api.context import commit, db_session
from lsso_mobile.api.schemas import StrictSchema
from lsso_mobile.models import BenefitType, Scheme
from lsso_mobile.services import rules
from lsso_mobile.services.contributions import forget_cached_rules

blp = Blueprint(
    "rules", __name__, url_prefix="/api/v1/admin", description="Contribution and eligibility rules (admins)"
)

MAX_KIP = 1_000_000_000


class SchemeRuleSchema(StrictSchema):
    scheme = fields.Enum(Scheme, by_value=True, dump_only=True, metadata={"description": "The scheme"})
    employee_rate_bp = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0, max=10_000),
        metadata={"description": "basis points of insurable earnings (550 = 5.5%)"},
    )
    employer_rate_bp = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0, max=10_000),
        metadata={"description": "The employer's rate in basis points (1/100 of a percent)"},
    )
    earnings_floor = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0, max=MAX_KIP),
        metadata={"description": "Lowest insurable earnings, in kip a month"},
    )
    earnings_ceiling = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0, max=MAX_KIP),
        metadata={"description": "Highest insurable earnings, in kip a month"},
    )
    due_day = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=28),
        metadata={"description": "Day of the following month a contribution is due"},
    )
    updated_at = fields.DateTime(dump_only=True, metadata={"description": "When it last changed (UTC, ISO 8601)"})

    @validates_schema
    def _floor_below_ceiling(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["earnings_floor"] > data["earnings_ceiling"]:
            raise ValidationError("must not exceed earnings_ceiling", "earnings_floor")


class EligibilityRuleSchema(StrictSchema):
    benefit_type = fields.Enum(
        BenefitType, by_value=True, dump_only=True, metadata={"description": "The benefit it applies to"}
    )
    scheme = fields.Enum(Scheme, by_value=True, dump_only=True, metadata={"description": "The scheme it applies to"})
    min_total_months = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0, max=1200),
        metadata={"description": "Contribution months needed in total"},
    )
    min_recent_months = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0, max=600),
        metadata={"description": "Contribution months needed within the last recent_window_months"},
    )
    recent_window_months = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0, max=600),
        metadata={"description": "The window, in months, that min_recent_months counts in"},
    )
    min_age = fields.Integer(
        required=True,
        allow_none=True,
        strict=True,
        validate=validate.Range(min=0, max=120),
        metadata={"description": "Minimum age in years; null: none"},
    )
    updated_at = fields.DateTime(dump_only=True, metadata={"description": "When it last changed (UTC, ISO 8601)"})

    @validates_schema
    def _window_holds_the_months(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["min_recent_months"] > data["recent_window_months"]:
            raise ValidationError("must not exceed recent_window_months", "min_recent_months")


@blp.route("/scheme-rules", methods=["GET"])
@blp.access(ADMIN)
@blp.response(200, SchemeRuleSchema(many=True))
@blp.doc(operationId="listSchemeRules")
def list_scheme_rules() -> Any:
    """Rates, earnings floor and ceiling and due day of each scheme.

    The rules in force; changes are recorded in the audit log.
    """
    return rules.list_scheme_rules(db_session())


@blp.route("/scheme-rules/<string(maxlength=32):scheme>", methods=["PUT"])
@blp.access(ADMIN)
@blp.arguments(SchemeRuleSchema)
@blp.response(200, SchemeRuleSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="Unknown scheme")
@blp.doc(operationId="putSchemeRule")
def put_scheme_rule(body: dict[str, Any], scheme: str) -> Any:
    """Replace one scheme's rates, limits and due day.

    Replaces the scheme's rule; summaries and bills computed afterwards use it.
    """
    rule = rules.put_scheme_rule(db_session(), scheme, body, now(), actor=current_principal(), address=client_ip())
    commit()
    forget_cached_rules()
    return rule


@blp.route("/eligibility-rules", methods=["GET"])
@blp.access(ADMIN)
@blp.response(200, EligibilityRuleSchema(many=True))
@blp.doc(operationId="listEligibilityRules")
def list_eligibility_rules() -> Any:
    """Every benefit's eligibility rule per scheme.

    The rules each member's eligibility (contribution summary) is computed from.
    """
    return rules.list_eligibility_rules(db_session())


@blp.route("/eligibility-rules/<string(maxlength=32):scheme>/<string(maxlength=32):benefit_type>", methods=["PUT"])
@blp.access(ADMIN)
@blp.arguments(EligibilityRuleSchema)
@blp.response(200, EligibilityRuleSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="Unknown scheme or benefit")
@blp.doc(operationId="putEligibilityRule")
def put_eligibility_rule(body: dict[str, Any], scheme: str, benefit_type: str) -> Any:
    """Create or replace the rule for one benefit in one scheme.

    Replaces one benefit's rule for one scheme; eligibility computed afterwards uses it.
    """
    rule = rules.put_eligibility_rule(
        db_session(), scheme, benefit_type, body, now(), actor=current_principal(), address=client_ip()
    )
    commit()
    forget_cached_rules()
    return rule
