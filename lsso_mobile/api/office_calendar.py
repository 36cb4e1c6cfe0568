"""Admins set office working hours and public holidays: the calendar answer due times are counted in."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from lsso_mobile.api.access import ADMIN, Blueprint, client_ip, current_principal
from lsso_mobile.api.context import commit, db_session
from lsso_mobile.api.schemas import (
    LocalTime,
    PageArgsSchema,
    PageMetaSchema,
    StrictSchema,
    decode_cursor,
    page,
)
from lsso_mobile.models import Office
from lsso_mobile.services import calendars

blp = Blueprint(
    "office_calendar",
    __name__,
    url_prefix="/api/v1/admin",
    description="Office working hours and public holidays (admins)",
)
ERROR = "DEFAULT_ERROR"


class DayHoursSchema(StrictSchema):
    weekday = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0, max=6),
        metadata={"description": "0 = Monday ... 6 = Sunday"},
    )
    opens = LocalTime(required=True, metadata={"description": "Local time, Asia/Vientiane"})
    closes = LocalTime(
        required=True, metadata={"description": "Closing time (HH:MM, Asia/Vientiane); null on a closed day"}
    )


class WeekSchema(StrictSchema):
    days = fields.List(
        fields.Nested(DayHoursSchema),
        required=True,
        validate=validate.Length(max=7),
        metadata={"description": "Open days; a weekday not listed is closed"},
    )
    uses_national_default = fields.Boolean(
        dump_only=True,
        metadata={"description": "True when the office has no week of its own and follows the national one"},
    )


class HolidayInSchema(StrictSchema):
    day = fields.Date(required=True, metadata={"description": "The date (YYYY-MM-DD)"})
    name_lo = fields.String(
        required=True, validate=validate.Length(min=1, max=200), metadata={"description": "The holiday's name in Lao"}
    )
    name_en = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "The holiday's name in English"},
    )
    office_code = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=16),
        metadata={"description": "One office only; default: national"},
    )


class HolidaySchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The record's id (stable; use it in URLs)"})
    day = fields.Date(required=True, metadata={"description": "The date (YYYY-MM-DD)"})
    name_lo = fields.String(required=True, metadata={"description": "The holiday's name in Lao"})
    name_en = fields.String(required=True, metadata={"description": "The holiday's name in English"})
    office_id = fields.Integer(
        allow_none=True, required=True, metadata={"description": "The office it applies to; null: national"}
    )


class HolidayPageSchema(PageMetaSchema):
    items = fields.List(fields.Nested(HolidaySchema), required=True, metadata={"description": "This page's items"})


class HolidayArgsSchema(PageArgsSchema):
    year = fields.Integer(
        load_default=None,
        validate=validate.Range(min=2000, max=2200),
        metadata={"description": "Only holidays of this year"},
    )


def _week(office_id: int | None) -> dict[str, Any]:
    rows = calendars.working_hours(db_session(), office_id)
    return {
        "days": [{"weekday": r.weekday, "opens": r.opens, "closes": r.closes} for r in rows],
        "uses_national_default": office_id is not None and not rows,
    }


def _days(body: dict[str, Any]) -> list[Any]:
    return [(d["weekday"], d["opens"], d["closes"]) for d in body["days"]]


@blp.route("/working-hours", methods=["GET"])
@blp.access(ADMIN)
@blp.response(200, WeekSchema)
@blp.doc(operationId="getNationalWorkingHours")
def get_national_hours() -> Any:
    """The national default week (offices without hours of their own use it).

    Local time in Asia/Vientiane. Conversation due times count working time only.
    """
    return _week(None)


@blp.route("/working-hours", methods=["PUT"])
@blp.access(ADMIN)
@blp.arguments(WeekSchema)
@blp.response(200, WeekSchema)
@blp.alt_response(422, response=ERROR, description="Invalid hours")
@blp.doc(operationId="putNationalWorkingHours")
def put_national_hours(body: dict[str, Any]) -> Any:
    """Replace the national default week. Applies to conversations opened from now on.

    Seven days, each open or closed with opening and closing times.
    """
    calendars.replace_working_hours(db_session(), None, _days(body), actor=current_principal(), address=client_ip())
    commit()
    return _week(None)


@blp.route("/offices/<string(maxlength=16):office_code>/working-hours", methods=["GET"])
@blp.access(ADMIN)
@blp.response(200, WeekSchema)
@blp.alt_response(404, response=ERROR, description="No such office")
@blp.doc(operationId="getOfficeWorkingHours")
def get_office_hours(office_code: str) -> Any:
    """One office's own week (empty: it uses the national default).

    `uses_national_default` is true when the office has no week of its own.
    """
    return _week(calendars.office_by_code(db_session(), office_code).id)


@blp.route("/offices/<string(maxlength=16):office_code>/working-hours", methods=["PUT"])
@blp.access(ADMIN)
@blp.arguments(WeekSchema)
@blp.response(200, WeekSchema)
@blp.alt_response(404, response=ERROR, description="No such office")
@blp.alt_response(422, response=ERROR, description="Invalid hours")
@blp.doc(operationId="putOfficeWorkingHours")
def put_office_hours(body: dict[str, Any], office_code: str) -> Any:
    """Replace one office's week; an empty list returns it to the national default.

    Seven days, each open or closed with opening and closing times.
    """
    office: Office = calendars.office_by_code(db_session(), office_code)
    calendars.replace_working_hours(
        db_session(), office.id, _days(body), actor=current_principal(), address=client_ip()
    )
    commit()
    return _week(office.id)


@blp.route("/holidays", methods=["GET"])
@blp.access(ADMIN)
@blp.arguments(HolidayArgsSchema, location="query")
@blp.response(200, HolidayPageSchema)
@blp.doc(operationId="listHolidays")
def list_holidays(args: dict[str, Any]) -> Any:
    """National and office holidays, optionally of one year.

    Holidays stop the clock of conversation due times.
    """
    return page(
        calendars.list_holidays(db_session(), args["year"], decode_cursor(args["cursor"]), args["limit"] + 1),
        args["limit"],
    )


@blp.route("/holidays", methods=["POST"])
@blp.access(ADMIN)
@blp.arguments(HolidayInSchema)
@blp.response(201, HolidaySchema)
@blp.alt_response(404, response=ERROR, description="No such office")
@blp.alt_response(409, response=ERROR, description="Already a holiday")
@blp.doc(operationId="addHoliday")
def add_holiday(body: dict[str, Any]) -> Any:
    """Add a national holiday, or one for one office (``office_code``).

    Without `office_code`: a national holiday.
    """
    session = db_session()
    office_id = calendars.office_by_code(session, body["office_code"]).id if body["office_code"] else None
    holiday = calendars.add_holiday(
        session,
        office_id,
        body["day"],
        body["name_lo"],
        body["name_en"],
        actor=current_principal(),
        address=client_ip(),
    )
    commit()
    return holiday


@blp.route("/holidays/<int:holiday_id>", methods=["DELETE"])
@blp.access(ADMIN)
@blp.response(204)
@blp.alt_response(404, response=ERROR, description="No such holiday")
@blp.doc(operationId="deleteHoliday")
def delete_holiday(holiday_id: int) -> None:
    """Remove a holiday.

    Due times already computed do not change.
    """
    calendars.delete_holiday(db_session(), holiday_id, actor=current_principal(), address=client_ip())
    commit()
