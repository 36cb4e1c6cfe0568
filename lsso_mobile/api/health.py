"""Liveness and readiness: the database, Redis and the age of the oldest undelivered notice."""

from __future__ import annotations

from typing import Any

from flask import current_app
from marshmallow import fields
from sqlalchemy import func, select, text

from lsso_mobile.api.access import PUBLIC, Blueprint, now
from lsso_mobile.api.context import db_session, runtime
from lsso_mobile.api.schemas import StrictSchema
from lsso_mobile.jobs import RQJobQueue
from lsso_mobile.models import DispatchStatus, Notification

blp = Blueprint("health", __name__, url_prefix="/api/v1", description="Service health")


class HealthSchema(StrictSchema):
    status = fields.String(required=True, metadata={"description": "ok or degraded"})
    database = fields.String(required=True)
    redis = fields.String(required=True, metadata={"description": "ok, down, or not_configured (in-process jobs)"})
    oldest_undelivered_seconds = fields.Float(allow_none=True, required=True)
    push_backend = fields.String(required=True)


@blp.route("/health", methods=["GET"])
@blp.access(PUBLIC)
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="A dependency is down")
def health() -> Any:
    """Is the service able to work? 503 when the database or Redis is down."""
    session = db_session()
    body: dict[str, Any] = {"push_backend": runtime().settings.push_backend, "oldest_undelivered_seconds": None}
    try:
        session.execute(text("SELECT 1"))
        body["database"] = "ok"
        oldest = session.scalar(
            select(func.min(Notification.deliver_after)).where(Notification.dispatch_status == DispatchStatus.PENDING)
        )
        if oldest is not None:
            body["oldest_undelivered_seconds"] = max(0.0, round((now() - oldest).total_seconds(), 1))
    except Exception:  # noqa: BLE001 - any failure means "down"; details go to the log only
        current_app.logger.exception("health: database check failed")
        session.rollback()
        body["database"] = "down"
    queue = runtime().job_queue
    if isinstance(queue, RQJobQueue):
        try:
            queue.connection().ping()
            body["redis"] = "ok"
        except Exception:  # noqa: BLE001
            body["redis"] = "down"
    else:
        body["redis"] = "not_configured"
    healthy = body["database"] == "ok" and body["redis"] != "down"
    body["status"] = "ok" if healthy else "degraded"
    return body, 200 if healthy else 503
