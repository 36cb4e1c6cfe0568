"""The member's devices, notification inbox and push preferences."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from lsso_mobile.api.access import MEMBER, Blueprint, current_principal, now
from lsso_mobile.api.context import commit, db_session, settings
from lsso_mobile.api.schemas import (
    SANE_TIMES,
    SYNC_MARGIN,
    LocalTime,
    PageArgsSchema,
    PageMetaSchema,
    StrictSchema,
    decode_time_cursor,
    encode_time_cursor,
    page,
    server_time_field,
)
from lsso_mobile.models import Language, Platform
from lsso_mobile.notify import devices
from lsso_mobile.notify.preferences import (
    CHANNEL_PUSH,
    CHANNELS,
    get_preferences,
    mutable_categories,
    update_preferences,
)
from lsso_mobile.notify.templates import CATEGORIES
from lsso_mobile.services import inbox
from lsso_mobile.services.acknowledgements import MAX_ACKS_PER_CALL, acknowledge

blp = Blueprint(
    "notifications",
    __name__,
    url_prefix="/api/v1/me",
    description="Devices, the notification inbox and push preferences",
)


class DeviceRegistrationSchema(StrictSchema):
    token = fields.String(
        required=True,
        validate=validate.Length(min=16, max=1024),
        metadata={"description": "The FCM registration token"},
    )
    platform = fields.Enum(Platform, by_value=True, required=True, metadata={"description": "The phone's platform"})
    app_version = fields.String(
        required=True,
        validate=validate.Length(min=1, max=32),
        metadata={"description": "The app's version (e.g. 1.4.2)"},
    )
    locale = fields.String(
        load_default="lo",
        validate=validate.Length(min=2, max=16),
        metadata={"description": "The phone's locale (e.g. lo-LA), for support"},
    )


class DeviceSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The device's id (removeDevice)"})
    platform = fields.Enum(Platform, by_value=True, required=True, metadata={"description": "The phone's platform"})
    app_version = fields.String(required=True, metadata={"description": "The app's version (e.g. 1.4.2)"})
    locale = fields.String(required=True, metadata={"description": "The phone's locale (e.g. lo-LA)"})
    last_seen_at = fields.DateTime(required=True, metadata={"description": "When the device last registered (UTC)"})
    created_at = fields.DateTime(required=True, metadata={"description": "When it was created (UTC, ISO 8601)"})


class NotificationSchema(StrictSchema):
    kind = fields.String(
        required=True,
        validate=validate.OneOf([inbox.NOTICE, inbox.BROADCAST]),
        metadata={
            "description": "notice: personal (read it at /notifications/{id}/read); "
            "broadcast: to many members (read it at /broadcasts/{id}/read)"
        },
    )
    id = fields.Integer(required=True, metadata={"description": "Unique within its kind: key items by (kind, id)"})
    removed = fields.Boolean(
        required=True,
        metadata={
            "description": "Only in delta sync: this broadcast was withdrawn or has expired; remove it (texts empty)"
        },
    )
    expires_at = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "Broadcasts: leaves the inbox then. Notices: null"}
    )
    category = fields.String(
        required=True,
        metadata={
            "enum": list(CATEGORIES),
            "description": "The category (members can mute all but critical notices by category)",
        },
    )
    critical = fields.Boolean(
        required=True,
        metadata={"description": "Decisions and other notices that cannot be muted and ignore quiet hours"},
    )
    title = fields.String(required=True, metadata={"description": "Title in the member's language"})
    body = fields.String(required=True, metadata={"description": "Text in the member's language"})
    title_lo = fields.String(required=True, metadata={"description": "Title in Lao"})
    body_lo = fields.String(required=True, metadata={"description": "Text in Lao"})
    title_en = fields.String(required=True, metadata={"description": "Title in English"})
    body_en = fields.String(required=True, metadata={"description": "Text in English"})
    data = fields.Dict(
        keys=fields.String(), values=fields.String(), required=True, metadata={"description": "deep_link for the app"}
    )
    created_at = fields.DateTime(required=True, metadata={"description": "When it was sent to the member (UTC)"})
    updated_at = fields.DateTime(required=True, metadata={"description": "When it last changed (read, withdrawn), UTC"})
    read_at = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "When the member read it; null if unread"}
    )


class NotificationPageSchema(PageMetaSchema):
    items = fields.List(fields.Nested(NotificationSchema), required=True, metadata={"description": "This page's items"})
    unread_count = fields.Integer(
        required=True, metadata={"description": "Unread notices and broadcasts (for the app's badge)"}
    )
    server_time = server_time_field()


class NotificationListArgsSchema(PageArgsSchema):
    updated_since = fields.AwareDateTime(
        load_default=None,
        validate=SANE_TIMES,
        metadata={"description": "Only notices created or changed after this time (delta sync)"},
    )


class ReadAllSchema(StrictSchema):
    marked = fields.Integer(required=True, metadata={"description": "How many were marked read by this request"})
    unread_count = fields.Integer(required=True, metadata={"description": "Unread notices and broadcasts left (0)"})


class AcknowledgementsSchema(StrictSchema):
    notification_ids = fields.List(
        fields.Integer(validate=validate.Range(min=1, max=2**31 - 1)),
        load_default=list,
        validate=validate.Length(max=MAX_ACKS_PER_CALL),
        metadata={"description": "Personal notices (kind notice) the app received and showed", "example": [41, 42]},
    )
    broadcast_ids = fields.List(
        fields.Integer(validate=validate.Range(min=1, max=2**31 - 1)),
        load_default=list,
        validate=validate.Length(max=MAX_ACKS_PER_CALL),
        metadata={"description": "Broadcasts (kind broadcast) the app received and showed", "example": [7]},
    )


class AcknowledgementResultSchema(StrictSchema):
    recorded = fields.Integer(
        required=True, metadata={"description": "Acknowledged for the first time by this call", "example": 2}
    )
    already = fields.Integer(
        required=True, metadata={"description": "Acknowledged before: nothing changed for them", "example": 0}
    )
    ignored = fields.Integer(
        required=True,
        metadata={"description": "Not this member's, or no such notice or broadcast: ignored", "example": 0},
    )


class PreferencesSchema(StrictSchema):
    muted_categories = fields.List(
        fields.String(validate=validate.OneOf(CATEGORIES)),
        required=True,
        validate=validate.Length(max=len(CATEGORIES)),
        metadata={"description": "Categories the member does not want pushed (they still appear in the inbox)"},
    )
    quiet_start = LocalTime(allow_none=True, required=True, metadata={"description": "Local time, Asia/Vientiane"})
    quiet_end = LocalTime(
        allow_none=True,
        required=True,
        metadata={"description": "End of quiet hours (HH:MM, Asia/Vientiane); null: no quiet hours"},
    )
    mutable_categories = fields.List(
        fields.String(), dump_only=True, metadata={"description": "Categories that can be muted"}
    )
    channel = fields.String(
        load_default=None,
        validate=validate.OneOf(CHANNELS),
        metadata={
            "description": "push (default): push, and an SMS when a notice that matters is not acknowledged in "
            "time; sms: SMS only, no push. Omit to keep it unchanged.",
            "example": "push",
        },
    )


def _language() -> str:
    return inbox.reading_language(db_session(), current_principal().id).value


def _notification_view(notification: inbox.InboxItem, language: str) -> dict[str, Any]:
    english = language == Language.ENGLISH.value
    return {
        "kind": notification.kind,
        "id": notification.id,
        "removed": notification.removed,
        "expires_at": notification.expires_at,
        "category": notification.category,
        "critical": notification.critical,
        "title": notification.title_en if english else notification.title_lo,
        "body": notification.body_en if english else notification.body_lo,
        "title_lo": notification.title_lo,
        "body_lo": notification.body_lo,
        "title_en": notification.title_en,
        "body_en": notification.body_en,
        "data": {k: str(v) for k, v in (notification.data or {}).items()},
        "created_at": notification.created_at,
        "updated_at": notification.updated_at,
        "read_at": notification.read_at,
    }


@blp.route("/devices", methods=["POST"])
@blp.access(MEMBER)
@blp.arguments(DeviceRegistrationSchema)
@blp.response(200, DeviceSchema, description="Refreshed an existing registration")
@blp.alt_response(201, schema=DeviceSchema, description="A new device")
@blp.doc(operationId="registerDevice")
def register_device(body: dict[str, Any]) -> Any:
    """Register or refresh this phone's FCM token (call it at every app start and after signing in).

    The device belongs to this sign-in: logging out, or a PIN change, stops its pushes until it is
    registered again."""
    principal = current_principal()
    device, created = devices.register_device(
        db_session(),
        principal.id,
        body["token"],
        body["platform"],
        body["app_version"],
        body["locale"],
        now(),
        settings().max_devices_per_member,
        principal.session_id,
    )
    commit()
    return device, 201 if created else 200


@blp.route("/devices", methods=["GET"])
@blp.access(MEMBER)
@blp.response(200, DeviceSchema(many=True))
@blp.doc(operationId="listDevices")
def list_devices() -> Any:
    """The member's active devices.

    Every phone that receives this member's pushes, most recently seen first.
    """
    return devices.list_devices(db_session(), current_principal().id)


@blp.route("/devices/<int:device_id>", methods=["DELETE"])
@blp.access(MEMBER)
@blp.response(204)
@blp.alt_response(404, response="DEFAULT_ERROR", description="Not your device")
@blp.doc(operationId="removeDevice")
def remove_device(device_id: int) -> None:
    """Stop pushes to one device (sign-out on that phone).

    Call it when the member signs out on a phone. Removing an unknown or another member's device answers 404.
    """
    devices.remove_device(db_session(), current_principal().id, device_id, now())
    commit()


@blp.route("/notifications", methods=["GET"])
@blp.access(MEMBER)
@blp.arguments(NotificationListArgsSchema, location="query")
@blp.response(200, NotificationPageSchema)
@blp.doc(operationId="listNotifications")
def list_notifications(args: dict[str, Any]) -> Any:
    """The inbox, newest first: personal notices and the broadcasts meant for this member, with the
    unread count; ``updated_since`` returns only what changed (withdrawn or expired broadcasts come
    marked ``removed``). Items are unique by (kind, id).

    For delta sync pass the previous answer's `server_time` as `updated_since`. Tapping a push opens the notice with
    `notification_id` (or `broadcast_id`) from its data payload (see the PushData schema).
    """
    session = db_session()
    member_id = current_principal().id
    # Rows are stamped when their request starts and become visible when it commits: hand back a
    # time a little in the past, so the next delta sync cannot miss a slow commit (repeats are
    # harmless: the app keys items by kind and id).
    server_time = now() - SYNC_MARGIN
    key = decode_time_cursor(args["cursor"], "inbox", 3)
    before = inbox.InboxPosition.from_key(*key) if key else None
    matched = inbox.member_broadcasts(session, member_id, now(), removed_since=args["updated_since"])
    items = inbox.list_inbox(session, member_id, before, args["updated_since"], args["limit"] + 1, now(), matched)
    result = page(items, args["limit"], lambda item: encode_time_cursor(*item.position.key(), kind="inbox"))
    language = _language()
    result["items"] = [_notification_view(item, language) for item in result["items"]]
    return {
        **result,
        "unread_count": inbox.unread_count(session, member_id, now(), matched),
        "server_time": server_time,
    }


@blp.route("/notifications/<int:notification_id>/read", methods=["POST"])
@blp.access(MEMBER)
@blp.response(200, NotificationSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="Not your notification")
@blp.doc(operationId="markNotificationRead")
def mark_read(notification_id: int) -> Any:
    """Mark one notice read.

    Marking a notice read twice is harmless. Answers with the notice as it is now (with `read_at`).
    """
    notification = inbox.mark_read(db_session(), current_principal().id, notification_id, now())
    commit()
    return _notification_view(notification, _language())


@blp.route("/notifications/acks", methods=["POST"])
@blp.access(MEMBER)
@blp.doc(operationId="acknowledgeNotifications")
@blp.arguments(AcknowledgementsSchema)
@blp.response(200, AcknowledgementResultSchema)
def acknowledge_notifications(body: dict[str, Any]) -> Any:
    """Tell the service which notices and broadcasts this phone received and showed.

    Members only. FCM's "sent" is not "delivered": a notice that matters and is not acknowledged within
    its category's window goes to the member by SMS instead. Send this call, batched, (1) when a push
    arrives (the ``notification_id`` or ``broadcast_id`` in its data), from the app's message handler or
    notification service, even in the background; (2) after every inbox load or delta sync, for the items
    shown; (3) at app start, for whatever is still unsent (keep unsent ids across restarts and send them
    again until this call answers 200). Up to 500 ids of each kind. Repeating a call, or acknowledging after
    the SMS went, changes nothing; ids that are not this member's are counted as ``ignored``."""
    result = acknowledge(db_session(), current_principal().id, body["notification_ids"], body["broadcast_ids"], now())
    commit()
    return {"recorded": result.recorded, "already": result.already, "ignored": result.unknown}


@blp.route("/notifications/read-all", methods=["POST"])
@blp.access(MEMBER)
@blp.response(200, ReadAllSchema)
@blp.doc(operationId="markAllNotificationsRead")
def mark_all_read() -> Any:
    """Mark every notice and current broadcast read.

    The badge goes to zero. Answers with the new unread count.
    """
    session = db_session()
    marked = inbox.mark_all_read(session, current_principal().id, now())
    commit()
    return {"marked": marked, "unread_count": inbox.unread_count(session, current_principal().id, now())}


@blp.route("/broadcasts/<int:broadcast_id>/read", methods=["POST"])
@blp.access(MEMBER)
@blp.response(200, NotificationSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="No such broadcast in your inbox")
@blp.doc(operationId="markBroadcastRead")
def mark_broadcast_read(broadcast_id: int) -> Any:
    """Mark one broadcast read (only for this member).

    Other members' copies of the broadcast stay unread. Answers with the inbox item as it is now (with `read_at`).
    """
    item = inbox.mark_broadcast_read(db_session(), current_principal().id, broadcast_id, now())
    commit()
    return _notification_view(item, _language())


def _preferences_view(preference: Any) -> dict[str, Any]:
    return {
        "muted_categories": list(preference.muted_categories or []),
        "quiet_start": preference.quiet_start,
        "quiet_end": preference.quiet_end,
        "mutable_categories": mutable_categories(),
        "channel": preference.channel or CHANNEL_PUSH,
    }


@blp.route("/notification-preferences", methods=["GET"])
@blp.access(MEMBER)
@blp.response(200, PreferencesSchema)
@blp.doc(operationId="getNotificationPreferences")
def get_notification_preferences() -> Any:
    """Muted categories and quiet hours. Critical notices (decisions) always come through.

    Quiet hours are local time in Asia/Vientiane; notices due in them wait until they end.
    """
    return _preferences_view(get_preferences(db_session(), current_principal().id))


@blp.route("/notification-preferences", methods=["PUT"])
@blp.access(MEMBER)
@blp.arguments(PreferencesSchema)
@blp.response(200, PreferencesSchema)
@blp.doc(operationId="putNotificationPreferences")
def put_notification_preferences(body: dict[str, Any]) -> Any:
    """Replace muted categories and quiet hours (both times, or neither), and choose the channel.

    Registration and claim decisions (critical notices) cannot be muted and ignore quiet hours. Muting and quiet
    hours apply to SMS as to push (critical notices excepted); `channel: sms` sends notices by SMS only, with no
    push.
    """
    preference = update_preferences(
        db_session(),
        current_principal().id,
        body["muted_categories"],
        body["quiet_start"],
        body["quiet_end"],
        set_quiet=True,
        channel=body["channel"],
    )
    commit()
    return _preferences_view(preference)
