"""Reference data the app's forms need: provinces, districts, villages and offices."""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from lsso_mobile.api.access import PUBLIC, Blueprint
from lsso_mobile.api.context import db_session
from lsso_mobile.api.schemas import StrictSchema
from lsso_mobile.models import OfficeLevel
from lsso_mobile.services import reference

blp = Blueprint("reference", __name__, url_prefix="/api/v1", description="Areas and offices")


class AreaSchema(StrictSchema):
    code = fields.String(required=True, metadata={"description": "The area's code"})
    name_lo = fields.String(required=True, metadata={"description": "Name in Lao script"})
    name_en = fields.String(required=True, metadata={"description": "Name in English"})


class OfficeSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The office's id"})
    code = fields.String(required=True, metadata={"description": "Office code (P01, D0101, ...)"})
    level = fields.Enum(
        OfficeLevel, by_value=True, required=True, metadata={"description": "Provincial or district office"}
    )
    province_code = fields.String(required=True, metadata={"description": "The province it is in"})
    district_code = fields.String(
        allow_none=True, required=True, metadata={"description": "The district it serves; null for a provincial office"}
    )
    name_lo = fields.String(required=True, metadata={"description": "Name in Lao script"})
    name_en = fields.String(required=True, metadata={"description": "Name in English"})


@blp.route("/provinces", methods=["GET"])
@blp.access(PUBLIC)
@blp.response(200, AreaSchema(many=True))
@blp.doc(operationId="listProvinces")
def list_provinces() -> Any:
    """The 18 provinces.

    Reference data for the registration form; it rarely changes, cache it.
    """
    return reference.list_provinces(db_session())


@blp.route("/provinces/<string(length=2):province_code>/districts", methods=["GET"])
@blp.access(PUBLIC)
@blp.response(200, AreaSchema(many=True))
@blp.alt_response(404, response="DEFAULT_ERROR", description="Unknown province")
@blp.doc(operationId="listDistricts")
def list_districts(province_code: str) -> Any:
    """Districts of one province.

    Reference data for the registration form; it rarely changes, cache it.
    """
    return reference.districts_of(db_session(), province_code)


@blp.route("/districts/<string(length=4):district_code>/villages", methods=["GET"])
@blp.access(PUBLIC)
@blp.response(200, AreaSchema(many=True))
@blp.alt_response(404, response="DEFAULT_ERROR", description="Unknown district")
@blp.doc(operationId="listVillages")
def list_villages(district_code: str) -> Any:
    """Villages of one district.

    Reference data for the registration form; it rarely changes, cache it.
    """
    return reference.villages_of(db_session(), district_code)


@blp.route("/offices", methods=["GET"])
@blp.access(PUBLIC)
@blp.response(200, OfficeSchema(many=True))
@blp.doc(operationId="listOffices")
def list_offices() -> Any:
    """Every provincial and district social security office.

    Reference data: where a member can write to (`office_code` of `startConversation`).
    """
    return reference.list_offices(db_session())
