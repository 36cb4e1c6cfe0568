"""Reference data the app's forms need: provinces, districts, villages and offices."""

from __future__ import annotations

from typing import Any

from marshmallow import fields
from sqlalchemy import select

from lsso_mobile.api.access import PUBLIC, Blueprint
from lsso_mobile.api.context import db_session
from lsso_mobile.api.schemas import StrictSchema
from lsso_mobile.errors import NotFound
from lsso_mobile.models import District, Office, OfficeLevel, Province, Village

blp = Blueprint("reference", __name__, url_prefix="/api/v1", description="Areas and offices")


class AreaSchema(StrictSchema):
    code = fields.String(required=True)
    name_lo = fields.String(required=True)
    name_en = fields.String(required=True)


class OfficeSchema(StrictSchema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    level = fields.Enum(OfficeLevel, by_value=True, required=True)
    province_code = fields.String(required=True)
    district_code = fields.String(allow_none=True, required=True)
    name_lo = fields.String(required=True)
    name_en = fields.String(required=True)


@blp.route("/provinces", methods=["GET"])
@blp.access(PUBLIC)
@blp.response(200, AreaSchema(many=True))
def list_provinces() -> Any:
    """The 18 provinces."""
    return db_session().scalars(select(Province).order_by(Province.code)).all()


@blp.route("/provinces/<string(length=2):province_code>/districts", methods=["GET"])
@blp.access(PUBLIC)
@blp.response(200, AreaSchema(many=True))
@blp.alt_response(404, response="DEFAULT_ERROR", description="Unknown province")
def list_districts(province_code: str) -> Any:
    """Districts of one province."""
    session = db_session()
    if session.get(Province, province_code[:2]) is None or len(province_code) != 2:
        raise NotFound("Unknown province.")
    return session.scalars(
        select(District).where(District.province_code == province_code).order_by(District.code)
    ).all()


@blp.route("/districts/<string(length=4):district_code>/villages", methods=["GET"])
@blp.access(PUBLIC)
@blp.response(200, AreaSchema(many=True))
@blp.alt_response(404, response="DEFAULT_ERROR", description="Unknown district")
def list_villages(district_code: str) -> Any:
    """Villages of one district."""
    session = db_session()
    if len(district_code) != 4 or session.get(District, district_code) is None:
        raise NotFound("Unknown district.")
    return session.scalars(select(Village).where(Village.district_code == district_code).order_by(Village.code)).all()


@blp.route("/offices", methods=["GET"])
@blp.access(PUBLIC)
@blp.response(200, OfficeSchema(many=True))
def list_offices() -> Any:
    """Every provincial and district social security office."""
    return db_session().scalars(select(Office).order_by(Office.code)).all()
