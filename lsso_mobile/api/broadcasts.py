"""Ops staff write broadcast notices, a second ops user approves them, and ops watch them go out."""

from __future__ import annotations

import time
from typing import Any

from marshmallow import fields, validate

from lsso_mobile.api.access import ADMIN, OPS, Blueprint, current_principal, now
from lsso_mobile.api.context import commit, db_session
from lsso_mobile.api.schemas import (
    SANE_TIMES,
    JsonBoolean,
    MultiLineText,
    PageArgsSchema,
    PageMetaSchema,
    StrictSchema,
    decode_cursor,
    page,
)
from lsso_mobile.models import Broadcast, BroadcastStatus, Scheme
from lsso_mobile.notify.templates import CATEGORIES
from lsso_mobile.services import broadcasts
from lsso_mobile.services.audience import Audience
from lsso_mobile.validation import FullMatch

blp = Blueprint(
    "broadcasts",
    __name__,
    url_prefix="/api/v1/staff/broadcasts",
    description="Broadcast notices to all members or a segment: four eyes, progress and results",
)

MAX_CODES = 200


class AudienceSchema(StrictSchema):
    provinces = fields.List(
        fields.String(validate=FullMatch(r"^[0-9]{2}$")),
        load_default=list,
        validate=validate.Length(max=MAX_CODES),
        metadata={"description": "Province codes"},
    )
    districts = fields.List(
        fields.String(validate=FullMatch(r"^[0-9]{4}$")),
        load_default=list,
        validate=validate.Length(max=MAX_CODES),
        metadata={"description": "District codes; a member in any listed province or district"},
    )
    schemes = fields.List(
        fields.Enum(Scheme, by_value=True),
        load_default=list,
        validate=validate.Length(max=2),
        metadata={"description": "Only members of these schemes (empty: all)"},
    )
    in_arrears = JsonBoolean(load_default=False, metadata={"description": "Only members with an overdue unpaid month"})
    pending_application = JsonBoolean(
        load_default=False, metadata={"description": "Only members whose registration awaits a decision"}
    )


class BroadcastBodySchema(StrictSchema):
    title_lo = fields.String(
        required=True, validate=validate.Length(min=1, max=200), metadata={"description": "Title in Lao"}
    )
    body_lo = MultiLineText(
        required=True, validate=validate.Length(min=1, max=2000), metadata={"description": "Text in Lao"}
    )
    title_en = fields.String(
        required=True, validate=validate.Length(min=1, max=200), metadata={"description": "Title in English"}
    )
    body_en = MultiLineText(
        required=True, validate=validate.Length(min=1, max=2000), metadata={"description": "Text in English"}
    )
    category = fields.String(
        load_default="news",
        validate=validate.OneOf(CATEGORIES),
        metadata={"description": "What members mute; non-critical notices respect it"},
    )
    critical = JsonBoolean(
        load_default=False, metadata={"description": "Ignores muting and quiet hours: for urgent notices only"}
    )
    sms_fallback = JsonBoolean(
        load_default=False,
        metadata={
            "description": "Also send it by SMS, once, to audience members with no active device or who chose "
            "SMS only (muting, quiet hours and the daily SMS cap apply as for notices)",
            "example": False,
        },
    )
    audience = fields.Nested(AudienceSchema, load_default=dict, metadata={"description": "Empty: every member"})
    send_at = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        validate=SANE_TIMES,
        metadata={"description": "Omit to send as soon as it is approved"},
    )
    expires_at = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        validate=SANE_TIMES,
        metadata={"description": "Leaves inboxes then; default 30 days after sending"},
    )


class AudienceOutSchema(StrictSchema):
    provinces = fields.List(
        fields.String(), required=True, metadata={"description": "Only members in these provinces (empty: all)"}
    )
    districts = fields.List(
        fields.String(), required=True, metadata={"description": "Only members in these districts (empty: all)"}
    )
    schemes = fields.List(
        fields.String(), required=True, metadata={"description": "Only members of these schemes (empty: all)"}
    )
    in_arrears = fields.Boolean(required=True, metadata={"description": "Only members with unpaid months"})
    pending_application = fields.Boolean(
        required=True, metadata={"description": "Only members whose registration application is pending"}
    )


class BroadcastSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The record's id (stable; use it in URLs)"})
    status = fields.Enum(
        BroadcastStatus, by_value=True, required=True, metadata={"description": "Where the broadcast stands"}
    )
    title_lo = fields.String(required=True, metadata={"description": "Title in Lao"})
    body_lo = fields.String(required=True, metadata={"description": "Text in Lao"})
    title_en = fields.String(required=True, metadata={"description": "Title in English"})
    body_en = fields.String(required=True, metadata={"description": "Text in English"})
    category = fields.String(
        required=True,
        metadata={"enum": list(CATEGORIES), "description": "The notice category members may mute (news, ...)"},
    )
    critical = fields.Boolean(
        required=True,
        metadata={"description": "Decisions and other notices that cannot be muted and ignore quiet hours"},
    )
    sms_fallback = fields.Boolean(
        required=True, metadata={"description": "Also sent by SMS to members without the app"}
    )
    audience = fields.Nested(
        AudienceOutSchema,
        required=True,
        metadata={"description": "Who it is for: members matching every non-empty criterion"},
    )
    send_at = fields.DateTime(
        allow_none=True,
        required=True,
        metadata={"description": "When it goes out (UTC); null: as soon as it is approved"},
    )
    expires_at = fields.DateTime(required=True, metadata={"description": "When it leaves inboxes (UTC)"})
    created_by = fields.Integer(required=True, metadata={"description": "Id of the staff user who wrote it"})
    approved_by = fields.Integer(
        allow_none=True, required=True, metadata={"description": "Id of the ops user who approved it; null before"}
    )
    created_at = fields.DateTime(required=True, metadata={"description": "When it was created (UTC, ISO 8601)"})
    updated_at = fields.DateTime(required=True, metadata={"description": "When it last changed (UTC, ISO 8601)"})
    published_at = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "When sending started; null before"}
    )
    finished_at = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "When sending finished; null before"}
    )
    withdrawn_at = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "When it was withdrawn; null if not"}
    )
    audience_members = fields.Integer(
        allow_none=True, required=True, metadata={"description": "Members in the audience when sending began"}
    )
    audience_devices = fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "Active devices in the audience when sending started; null before"},
    )


class BroadcastEventSchema(StrictSchema):
    action = fields.String(
        required=True,
        metadata={
            "enum": list(broadcasts.EVENT_ACTIONS),
            "description": "What was done (created, submitted, approved, ...)",
        },
    )
    status = fields.Enum(
        BroadcastStatus, by_value=True, required=True, metadata={"description": "The status it moved to"}
    )
    staff_id = fields.Integer(allow_none=True, required=True, metadata={"description": "None: the system"})
    note = fields.String(allow_none=True, required=True, metadata={"description": "Why (shown to the author)"})
    created_at = fields.DateTime(required=True, metadata={"description": "When it was created (UTC, ISO 8601)"})


class BroadcastDetailSchema(BroadcastSchema):
    events = fields.List(
        fields.Nested(BroadcastEventSchema),
        required=True,
        metadata={"description": "What happened to it, oldest first: who did what, when"},
    )


class BroadcastPageSchema(PageMetaSchema):
    items = fields.List(fields.Nested(BroadcastSchema), required=True, metadata={"description": "This page's items"})


class BroadcastListArgsSchema(PageArgsSchema):
    status = fields.Enum(
        BroadcastStatus, by_value=True, load_default=None, metadata={"description": "Only those in this status"}
    )


class RejectSchema(StrictSchema):
    note = MultiLineText(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "What the author should change"},
    )


class AudiencePreviewSchema(StrictSchema):
    members = fields.Integer(required=True, metadata={"description": "Members the audience reaches now"})
    devices = fields.Integer(required=True, metadata={"description": "Active devices of those members"})
    elapsed_ms = fields.Float(required=True, metadata={"description": "How long counting took, in milliseconds"})


class OutcomeCountsSchema(StrictSchema):
    """Counts of devices (a member may have several)."""

    sent = fields.Integer(required=True, metadata={"description": "Devices the push was sent to (accepted by FCM)"})
    failed = fields.Integer(
        required=True, metadata={"description": "Devices the push could not be sent to (FCM refused it for good)"}
    )
    unregistered = fields.Integer(required=True, metadata={"description": "Dead tokens found and switched off"})
    muted = fields.Integer(required=True, metadata={"description": "Devices of members who muted this category"})
    waiting = fields.Integer(
        required=True, metadata={"description": "Devices waiting: quiet hours, or FCM asked us to retry later"}
    )
    dropped = fields.Integer(
        required=True,
        metadata={
            "description": "Devices still waiting when it was withdrawn or expired, or no longer in the audience"
        },
    )


class ProvinceOutcomeSchema(OutcomeCountsSchema):
    province_code = fields.String(required=True, metadata={"description": "Empty: members with no known province"})


class BroadcastStatsSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The broadcast's id"})
    status = fields.Enum(
        BroadcastStatus, by_value=True, required=True, metadata={"description": "The broadcast's status"}
    )
    slices_done = fields.Integer(required=True, metadata={"description": "Slices already sent"})
    slices_total = fields.Integer(required=True, metadata={"description": "Slices of the audience to send to"})
    audience_devices = fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "Active devices in the audience when sending started; null before"},
    )
    totals = fields.Nested(OutcomeCountsSchema, required=True, metadata={"description": "Counts over every province"})
    by_province = fields.List(
        fields.Nested(ProvinceOutcomeSchema), required=True, metadata={"description": "Counts per province"}
    )


def _draft(body: dict[str, Any]) -> broadcasts.BroadcastDraft:
    audience = body["audience"] or {}
    return broadcasts.BroadcastDraft(
        title_lo=body["title_lo"],
        body_lo=body["body_lo"],
        title_en=body["title_en"],
        body_en=body["body_en"],
        category=body["category"],
        critical=body["critical"],
        sms_fallback=body["sms_fallback"],
        audience=Audience.from_json({**audience, "schemes": [s.value for s in audience.get("schemes", [])]}),
        send_at=body["send_at"],
        expires_at=body["expires_at"],
    )


def _view(broadcast: Broadcast) -> dict[str, Any]:
    view = {column.name: getattr(broadcast, column.name) for column in Broadcast.__table__.columns}
    view["audience"] = Audience.from_json(broadcast.audience).to_json()
    return view


def _detail(broadcast: Broadcast) -> dict[str, Any]:
    return {**_view(broadcast), "events": broadcasts.events_of(db_session(), broadcast.id)}


@blp.route("", methods=["POST"])
@blp.access(OPS)
@blp.arguments(BroadcastBodySchema)
@blp.response(201, BroadcastDetailSchema)
@blp.doc(operationId="createBroadcast")
def create_broadcast(body: dict[str, Any]) -> Any:
    """Write a broadcast (a draft). Submit it for approval when it is ready.

    Both languages are required. Nothing is sent until another ops user approves it.
    """
    broadcast = broadcasts.create_broadcast(db_session(), current_principal(), _draft(body), now())
    commit()
    return _detail(broadcast)


@blp.route("", methods=["GET"])
@blp.access(OPS, ADMIN)
@blp.arguments(BroadcastListArgsSchema, location="query")
@blp.response(200, BroadcastPageSchema)
@blp.doc(operationId="listBroadcasts")
def list_broadcasts(args: dict[str, Any]) -> Any:
    """Broadcasts, newest first; filter by status.

    Without a filter: every status.
    """
    items = broadcasts.list_broadcasts(db_session(), args["status"], decode_cursor(args["cursor"]), args["limit"] + 1)
    result = page(items, args["limit"])
    result["items"] = [_view(b) for b in result["items"]]
    return result


@blp.route("/preview", methods=["POST"])
@blp.access(OPS)
@blp.arguments(AudienceSchema)
@blp.response(200, AudiencePreviewSchema)
@blp.doc(operationId="previewAudience")
def preview_audience(body: dict[str, Any]) -> Any:
    """How many members, and active devices, an audience reaches right now.

    Counts only; nothing is saved or sent. Use it before submitting a broadcast.
    """
    started = time.perf_counter()
    audience = Audience.from_json({**body, "schemes": [s.value for s in body["schemes"]]})
    size = broadcasts.preview(db_session(), audience, now())
    return {"members": size.members, "devices": size.devices, "elapsed_ms": (time.perf_counter() - started) * 1000}


@blp.route("/<int:broadcast_id>", methods=["GET"])
@blp.access(OPS, ADMIN)
@blp.response(200, BroadcastDetailSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="No such broadcast")
@blp.doc(operationId="getBroadcast")
def get_broadcast(broadcast_id: int) -> Any:
    """One broadcast with its history (who did what, when).

    `events` lists created, submitted, approved, sending, sent, rejected, cancelled and withdrawn steps with who and
    when.
    """
    return _detail(broadcasts.get_broadcast(db_session(), broadcast_id))


@blp.route("/<int:broadcast_id>", methods=["PUT"])
@blp.access(OPS)
@blp.arguments(BroadcastBodySchema)
@blp.response(200, BroadcastDetailSchema)
@blp.alt_response(403, response="DEFAULT_ERROR", description="Not the author")
@blp.alt_response(404, response="DEFAULT_ERROR", description="No such broadcast")
@blp.alt_response(409, response="DEFAULT_ERROR", description="No longer a draft")
@blp.doc(operationId="updateBroadcast")
def update_broadcast(body: dict[str, Any], broadcast_id: int) -> Any:
    """Change a draft (its author only).

    The whole broadcast is sent again (PUT).
    """
    broadcast = broadcasts.update_draft(db_session(), current_principal(), broadcast_id, _draft(body), now())
    commit()
    return _detail(broadcast)


def _transition_route(
    action: str,
    operation_id: str,
    docstring: str,
    forbidden: str | None = None,
    invalid: str | None = None,
) -> None:
    def view(broadcast_id: int) -> Any:
        broadcast = getattr(broadcasts, action)(db_session(), current_principal(), broadcast_id, now())
        commit()
        # Without Redis the sending job has already run in this request, after the commit: answer the
        # broadcast as it is now (``sending`` or ``sent``), as its events say, not as it was at commit.
        db_session().refresh(broadcast)
        return _detail(broadcast)

    view.__name__ = f"{action}_broadcast"
    view.__doc__ = docstring
    decorated = blp.alt_response(409, response="DEFAULT_ERROR", description="Not possible in its status")(view)
    decorated = blp.alt_response(404, response="DEFAULT_ERROR", description="No such broadcast")(decorated)
    if forbidden:
        decorated = blp.alt_response(403, response="DEFAULT_ERROR", description=forbidden)(decorated)
    if invalid:
        decorated = blp.alt_response(422, response="DEFAULT_ERROR", description=invalid)(decorated)
    decorated = blp.response(200, BroadcastDetailSchema)(decorated)
    decorated = blp.doc(operationId=operation_id)(decorated)
    decorated = blp.access(OPS)(decorated)
    blp.route(f"/<int:broadcast_id>/{action.replace('_for_approval', '')}", methods=["POST"])(decorated)


_transition_route(
    "submit_for_approval",
    "submitBroadcast",
    """Ask another ops user to approve the draft.

    Only its author, and only while `send_at` (if any) is still ahead. It can no longer be changed unless the
    approver sends it back.
    """,
    "Not the author",
    "send_at has passed",
)
_transition_route(
    "approve",
    "approveBroadcast",
    """Approve (a different ops user than the author): it goes out now or at send_at.

    The answer shows the broadcast as it is once approved: `scheduled` while it waits for `send_at` or for a
    worker, `sending` or `sent` when sending has already started or finished (its `events` say the same).
    """,
    "The author cannot approve their own broadcast",
)
_transition_route(
    "cancel",
    "cancelBroadcast",
    """Cancel a draft, a broadcast awaiting approval, or a scheduled one.

    Nothing of it has been sent yet, and nothing will be.
    """,
)
_transition_route(
    "withdraw",
    "withdrawBroadcast",
    """Withdraw a sending or sent broadcast: it leaves every inbox, unsent pushes stop.

    Pushes already delivered stay on the phones; the app drops the notice from its inbox at its next sync
    (it comes back marked `removed`).
    """,
)


@blp.route("/<int:broadcast_id>/reject", methods=["POST"])
@blp.access(OPS)
@blp.arguments(RejectSchema)
@blp.response(200, BroadcastDetailSchema)
@blp.alt_response(403, response="DEFAULT_ERROR", description="The author cancels instead")
@blp.alt_response(404, response="DEFAULT_ERROR", description="No such broadcast")
@blp.alt_response(409, response="DEFAULT_ERROR", description="Not awaiting approval")
@blp.doc(operationId="rejectBroadcast")
def reject_broadcast(body: dict[str, Any], broadcast_id: int) -> Any:
    """Send it back to its author as a draft, saying why.

    Only another ops user than the author; the note is shown to the author.
    """
    broadcast = broadcasts.reject(db_session(), current_principal(), broadcast_id, body["note"], now())
    commit()
    return _detail(broadcast)


@blp.route("/<int:broadcast_id>/stats", methods=["GET"])
@blp.access(OPS, ADMIN)
@blp.response(200, BroadcastStatsSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="No such broadcast")
@blp.doc(operationId="getBroadcastStats")
def broadcast_statistics(broadcast_id: int) -> Any:
    """Progress while sending (slices done of all), then what happened, in total and by province.

    Counts are of devices, not members. Poll it while `status` is `sending`.
    """
    session = db_session()
    broadcast = broadcasts.get_broadcast(session, broadcast_id)
    results = broadcasts.broadcast_results(session, broadcast, now())
    return {
        "id": broadcast.id,
        "status": broadcast.status,
        "slices_done": results.slices_done,
        "slices_total": results.slices_total,
        "audience_devices": broadcast.audience_devices,
        "totals": results.totals,
        "by_province": [{"province_code": province, **counts} for province, counts in results.by_province.items()],
    }
