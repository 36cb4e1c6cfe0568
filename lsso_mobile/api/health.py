"""Liveness and readiness: the database, Redis and the age of the oldest undelivered notice."""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from lsso_mobile.api.access import PUBLIC, Blueprint, now
from lsso_mobile.api.context import db_session, runtime
from lsso_mobile.api.schemas import StrictSchema
from lsso_mobile.services.health import probe

blp = Blueprint("health", __name__, url_prefix="/api/v1", description="Service health")


class HealthSchema(StrictSchema):
    status = fields.String(required=True, metadata={"enum": ["ok", "degraded"], "description": "ok or degraded"})
    database = fields.String(required=True, metadata={"description": "ok, or why the database cannot be used"})
    redis = fields.String(required=True, metadata={"description": "ok, down, or not_configured (in-process jobs)"})
    oldest_undelivered_seconds = fields.Float(
        allow_none=True,
        required=True,
        metadata={"description": "Age of the oldest notification not yet sent, in seconds (0: none)"},
    )
    push_backend = fields.String(
        required=True, metadata={"description": "fcm (pushes sent) or log (pushes only written to the log)"}
    )


@blp.route("/health", methods=["GET"])
@blp.access(PUBLIC)
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="A dependency is down")
@blp.doc(operationId="getHealth")
def health() -> Any:
    """Is the service able to work? 503 when the database or Redis is down.

    Checks the database and, where configured, Redis. Load balancers and monitors call it; the app may call it to tell
    "the service is down" from "my network is down".
    """
    result = probe(db_session(), runtime().job_queue, now())
    body = {
        "status": "ok" if result.healthy else "degraded",
        "database": result.database,
        "redis": result.redis,
        "oldest_undelivered_seconds": result.oldest_undelivered_seconds,
        "push_backend": runtime().settings.push_backend,
    }
    return body, 200 if result.healthy else 503
