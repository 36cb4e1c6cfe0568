"""``GET /``: where a newcomer (or a browser) finds the documentation, the document and the console."""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from lsso_mobile.api.access import PUBLIC, Blueprint
from lsso_mobile.api.schemas import StrictSchema

blp = Blueprint("index", __name__, url_prefix="", description="Where to start")


class IndexSchema(StrictSchema):
    service = fields.String(required=True, metadata={"description": "What this service is"})
    docs = fields.String(required=True, metadata={"description": "The API documentation (Swagger UI), in a browser"})
    openapi = fields.String(required=True, metadata={"description": "The OpenAPI document, to generate a client from"})
    console = fields.String(required=True, metadata={"description": "The staff console, in a browser"})
    health = fields.String(required=True, metadata={"description": "The health check (getHealth)"})


INDEX = {
    "service": "LSSO Mobile API: the backend of the Lao Social Security Office member app",
    "docs": "/api/docs",
    "openapi": "/api/openapi.json",
    "console": "/console/",
    "health": "/api/v1/health",
}


@blp.route("/", methods=["GET"])
@blp.access(PUBLIC)
@blp.response(200, IndexSchema, example=INDEX)
@blp.doc(operationId="getIndex")
def index() -> Any:
    """Where the documentation, the OpenAPI document and the console are.

    Paths are relative to this service's address. Nothing here needs signing in.
    """
    return INDEX
