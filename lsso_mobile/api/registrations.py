"""Registration applications: members apply and correct; officers of the member's office decide."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from lsso_mobile.api.access import ADMIN, MEMBER, OFFICER, Blueprint, client_ip, current_principal, now
from lsso_mobile.api.context import commit, db_session
from lsso_mobile.api.schemas import (
    JsonBoolean,
    MultiLineText,
    PageArgsSchema,
    PageMetaSchema,
    StrictSchema,
    decode_cursor,
    page,
)
from lsso_mobile.models import ApplicationStatus, IdType, Scheme, Sex
from lsso_mobile.services import registrations
from lsso_mobile.services.registrations import DECISIONS, ApplicationForm, application_problems
from lsso_mobile.validation import FullMatch

member_blp = Blueprint(
    "registration",
    __name__,
    url_prefix="/api/v1/me/registration",
    description="The member's registration for social security",
)
staff_blp = Blueprint(
    "staff_registrations",
    __name__,
    url_prefix="/api/v1/staff/registrations",
    description="Officers review registration applications of their office",
)

MAX_INCOME_KIP = 1_000_000_000


class ApplicationFormSchema(StrictSchema):
    name_lo = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Full name in Lao script", "example": "ສົມໃຈ ພົມມະວົງ"},
    )
    name_latin = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "Name in Latin letters (as on the passport or ID card)",
            "example": "Somchai Phommavong",
        },
    )
    date_of_birth = fields.Date(required=True, metadata={"description": "Date of birth (YYYY-MM-DD)"})
    sex = fields.Enum(Sex, by_value=True, required=True, metadata={"description": "As on the ID card"})
    national_id = fields.String(
        required=True,
        validate=FullMatch(r"^[A-Za-z0-9 -]{4,40}$"),
        metadata={
            "description": "National ID card or family-book number (see id_type); spaces and dashes are ignored "
            "and letters compared in upper case"
        },
    )
    id_type = fields.Enum(
        IdType,
        by_value=True,
        load_default=IdType.NATIONAL_ID,
        metadata={"description": "national_id (one person's card) or family_book (a household's book)"},
    )
    province_code = fields.String(
        required=True,
        validate=FullMatch(r"^[0-9]{2}$"),
        metadata={"description": "Province code (2 digits, see listProvinces)"},
    )
    district_code = fields.String(
        required=True,
        validate=FullMatch(r"^[0-9]{4}$"),
        metadata={"description": "District code (4 digits, see listDistricts)"},
    )
    village_code = fields.String(
        load_default=None,
        allow_none=True,
        validate=FullMatch(r"^[0-9]{8}$"),
        metadata={"description": "Village code (8 digits, see listVillages)"},
    )
    occupation = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "What the person does for a living"},
    )
    scheme = fields.Enum(
        Scheme,
        by_value=True,
        load_default=Scheme.VOLUNTARY,
        metadata={"description": "voluntary for the self-employed and informal workers"},
    )
    declared_monthly_income = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0, max=MAX_INCOME_KIP),
        metadata={"description": "Whole kip (LAK)"},
    )
    consent = JsonBoolean(
        required=True,
        metadata={"description": "The applicant agrees that the office keeps and checks these details (must be true)"},
    )

    @validates_schema(skip_on_field_errors=False)
    def _domain_checks(self, data: dict[str, Any], **kwargs: Any) -> None:
        """The service's checks (places exist, age, consent) on the fields that parsed, so that one answer lists
        every problem of the form; the service checks again for its other callers."""
        problems = application_problems(db_session(), data, now().date())
        if problems:
            raise ValidationError(problems)


class ApplicationEventSchema(StrictSchema):
    status = fields.Enum(
        ApplicationStatus, by_value=True, required=True, metadata={"description": "The status it moved to"}
    )
    reason = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "The officer's reason, for a rejection or a request for information"},
    )
    decided_by_staff = fields.Boolean(
        required=True, attribute="staff_id", metadata={"description": "true for an office decision"}
    )
    decided_by_name = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "The name of the officer who decided (null for the member's own steps)"},
    )
    created_at = fields.DateTime(required=True, metadata={"description": "When it was created (UTC, ISO 8601)"})

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr == "staff_id":
            return obj.staff_id is not None
        return super().get_attribute(obj, attr, default)


class ApplicationSchema(ApplicationFormSchema):
    id = fields.Integer(required=True, metadata={"description": "The record's id (stable; use it in URLs)"})
    status = fields.Enum(
        ApplicationStatus,
        by_value=True,
        required=True,
        metadata={"description": "Where the application stands (more_info_needed: correct it and resubmit)"},
    )
    office_id = fields.Integer(required=True, metadata={"description": "The id of the social security office"})
    member_number = fields.Function(
        lambda application: application.insured_person.member_number if application.insured_person else None,
        metadata={"description": "Assigned on approval; null before"},
    )
    created_at = fields.DateTime(required=True, metadata={"description": "When it was created (UTC, ISO 8601)"})
    updated_at = fields.DateTime(required=True, metadata={"description": "When it last changed (UTC, ISO 8601)"})
    history = fields.List(
        fields.Nested(ApplicationEventSchema),
        attribute="events",
        required=True,
        metadata={"description": "Status changes, oldest first"},
    )


class StaffApplicationSchema(ApplicationSchema):
    registered_by_name = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "Who registered the person in the field (a promoter or an officer); null for the "
            "member's own application",
            "example": "Promoter A",
        },
    )
    registered_by_role = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "promoter or officer (null: the member's own)", "enum": ["promoter", "officer", None]},
    )
    confirmation = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "How a field registration was confirmed: code (sent to the person's phone) or officer "
            "(attested in person); null until confirmed, and for the member's own application",
            "enum": ["code", "officer", None],
        },
    )
    id_matches = fields.List(
        fields.Integer(),
        required=True,
        metadata={
            "description": "Other pending applications with the same ID number (for a family book: and the same "
            "date of birth); check them before approving"
        },
    )


class ApplicationPageSchema(PageMetaSchema):
    items = fields.List(
        fields.Nested(StaffApplicationSchema), required=True, metadata={"description": "This page's items"}
    )


class ApplicationListArgsSchema(PageArgsSchema):
    status = fields.Enum(
        ApplicationStatus, by_value=True, load_default=None, metadata={"description": "Only those in this status"}
    )


class DecisionSchema(StrictSchema):
    decision = fields.String(
        required=True, validate=validate.OneOf(sorted(DECISIONS)), metadata={"description": "What the officer decides"}
    )
    reason = MultiLineText(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=2000),
        metadata={"description": "Required to reject or to ask for more information; shown to the member"},
    )


def _form(body: dict[str, Any]) -> ApplicationForm:
    return ApplicationForm(**body)


def _for_staff(applications: list[Any]) -> list[Any]:
    """Each application with ``id_matches``: the other pending applications with the same ID."""
    matches = registrations.id_matches(db_session(), applications)
    for application in applications:
        application.id_matches = matches[application.id]
    return applications


@member_blp.route("", methods=["GET"])
@member_blp.access(MEMBER)
@member_blp.response(200, ApplicationSchema)
@member_blp.alt_response(404, response="DEFAULT_ERROR", description="No application yet")
@member_blp.doc(operationId="getMyRegistration")
def get_my_application() -> Any:
    """The member's latest application, with its history.

    404 before the member has applied. `status` says what to do next: `more_information_needed` means correct and
    resubmit (`resubmitRegistration`).
    """
    return registrations.current_application(db_session(), current_principal().id)


@member_blp.route("", methods=["POST"])
@member_blp.access(MEMBER)
@member_blp.arguments(ApplicationFormSchema)
@member_blp.response(201, ApplicationSchema)
@member_blp.alt_response(
    409, response="DEFAULT_ERROR", description="Already registered or applying; or the ID is already insured"
)
@member_blp.doc(operationId="applyForRegistration")
def apply(body: dict[str, Any]) -> Any:
    """Apply for registration; the office serving the chosen district reviews it.

    For someone not yet insured. The application goes to the office serving the chosen district; the member is told by
    push when it is received and when it is decided.
    """
    application = registrations.submit_application(db_session(), current_principal().id, _form(body), now())
    commit()
    return application


@member_blp.route("", methods=["PUT"])
@member_blp.access(MEMBER)
@member_blp.arguments(ApplicationFormSchema)
@member_blp.response(200, ApplicationSchema)
@member_blp.alt_response(404, response="DEFAULT_ERROR", description="No application yet")
@member_blp.alt_response(
    409, response="DEFAULT_ERROR", description="Not sent back for more information, or the ID is already insured"
)
@member_blp.doc(operationId="resubmitRegistration")
def correct_and_resubmit(body: dict[str, Any]) -> Any:
    """Correct an application the office sent back, and submit it again.

    Only while the status is `more_information_needed`; the whole form is sent again.
    """
    application = registrations.resubmit_application(db_session(), current_principal().id, _form(body), now())
    commit()
    return application


@staff_blp.route("", methods=["GET"])
@staff_blp.access(OFFICER, ADMIN)
@staff_blp.arguments(ApplicationListArgsSchema, location="query")
@staff_blp.response(200, ApplicationPageSchema)
@staff_blp.doc(operationId="listApplications")
def list_applications(args: dict[str, Any]) -> dict[str, Any]:
    """Applications of the officer's office, oldest first; filter by status.

    An admin sees every office's. `id_matches` flags an ID number that another record already holds.
    """
    items = registrations.list_applications(
        db_session(), current_principal(), args["status"], decode_cursor(args["cursor"]), args["limit"] + 1
    )
    result = page(items, args["limit"])
    _for_staff(result["items"])
    return result


@staff_blp.route("/<int:application_id>", methods=["GET"])
@staff_blp.access(OFFICER, ADMIN)
@staff_blp.response(200, StaffApplicationSchema)
@staff_blp.alt_response(404, response="DEFAULT_ERROR", description="Not in your office")
@staff_blp.doc(operationId="getApplication")
def get_application(application_id: int) -> Any:
    """One application of the officer's office, with its history and ``id_matches``.

    Another office's application answers 404 to an officer.
    """
    return _for_staff([registrations.get_application_for_staff(db_session(), current_principal(), application_id)])[0]


@staff_blp.route("/<int:application_id>/decision", methods=["POST"])
@staff_blp.access(OFFICER, ADMIN)
@staff_blp.arguments(DecisionSchema)
@staff_blp.response(200, StaffApplicationSchema)
@staff_blp.alt_response(404, response="DEFAULT_ERROR", description="Not in your office")
@staff_blp.alt_response(409, response="DEFAULT_ERROR", description="Already decided, or the ID is already insured")
@staff_blp.doc(operationId="decideApplication")
def decide(body: dict[str, Any], application_id: int) -> Any:
    """Approve (assigns a member number), reject, or send back for more information, with a reason.

    The member is told by push (and SMS where configured). A reason is required to reject or to ask for more
    information.
    """
    application = registrations.decide_application(
        db_session(),
        current_principal(),
        application_id,
        body["decision"],
        body["reason"],
        now(),
        address=client_ip(),
    )
    commit()
    return _for_staff([application])[0]
