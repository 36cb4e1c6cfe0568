"""Member-office messaging: members write to their office; officers work their office's inbox.

Attachments are uploaded first (``POST .../attachments``, multipart/form-data, one file per request) and
then sent by id with a message (``attachment_ids``, at most 3). A slow upload can be retried on its own,
and a message send stays a small JSON request that is safe to retry with its idempotency key.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Response, request
from flask_smorest.fields import Upload
from marshmallow import fields, validate
from sqlalchemy import select

from lsso_mobile.api.access import MEMBER, OFFICER, Blueprint, current_principal, now
from lsso_mobile.api.context import commit, db_session, settings
from lsso_mobile.api.schemas import (
    SANE_TIMES,
    MultiLineText,
    PageArgsSchema,
    PageMetaSchema,
    StrictSchema,
    decode_cursor,
    decode_time_cursor,
    encode_time_cursor,
    page,
    row_id_field,
)
from lsso_mobile.errors import InvalidInput, PayloadTooLarge
from lsso_mobile.models import Attachment, Conversation, ConversationCategory, ConversationStatus, Message, Office
from lsso_mobile.services import messaging
from lsso_mobile.services.files import EXTENSIONS
from lsso_mobile.validation import FullMatch

UPLOADS = (
    "Attachments are uploaded first (POST .../attachments, multipart/form-data, field `file`, one file; "
    "JPEG, PNG or PDF judged by content) and then sent by id with a message (`attachment_ids`, at most 3). "
    "Images are decoded and encoded again (EXIF, GPS included, removed; turned upright), so the stored file and "
    "its size differ from the upload. PDFs with scripts, actions, XFA forms or embedded files are refused."
)
member_blp = Blueprint(
    "conversations",
    __name__,
    url_prefix="/api/v1/conversations",
    description="Members write to their social security office. Every message carries an "
    "`idempotency_key`: a retry returns the first answer. " + UPLOADS,
)
staff_blp = Blueprint(
    "staff_conversations",
    __name__,
    url_prefix="/api/v1/staff/conversations",
    description="Officers work their office's conversations. " + UPLOADS,
)
canned_blp = Blueprint(
    "canned_replies",
    __name__,
    url_prefix="/api/v1/staff/canned-replies",
    description="Prepared answers of the officer's office, in Lao and English",
)

SYNC_MARGIN = timedelta(seconds=30)
MULTIPART_OVERHEAD = 64 * 1024
ERROR = "DEFAULT_ERROR"


# -- schemas ---------------------------------------------------------------------------------------


def _key_field(required: bool) -> fields.UUID:
    extra: dict[str, Any] = {"required": True} if required else {"load_default": None}
    return fields.UUID(
        **extra,
        metadata={
            "description": "A new UUID per message, made by the app. Sending again with the same key (after a "
            "timeout, say) returns the message stored the first time and stores nothing new; the "
            "same key with a different message is a 409."
        },
    )


def _attachment_ids() -> fields.List:
    return fields.List(
        row_id_field(),
        load_default=list,
        validate=validate.Length(max=messaging.MAX_ATTACHMENTS_PER_MESSAGE),
        metadata={"description": f"Ids from the upload endpoint; at most {messaging.MAX_ATTACHMENTS_PER_MESSAGE}"},
    )


def _body_field(required: bool = True) -> MultiLineText:
    # Length is checked after trimming, in the service, with a clearer message; this bounds the parse.
    extra: dict[str, Any] = {"required": True} if required else {"load_default": None}
    return MultiLineText(
        validate=validate.Length(max=2 * messaging.MAX_BODY_CHARS),
        metadata={"description": f"1 to {messaging.MAX_BODY_CHARS} characters"},
        **extra,
    )


class StartConversationSchema(StrictSchema):
    office_code = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=16),
        metadata={"description": "Another office (see /api/v1/offices); default: yours"},
    )
    category = fields.Enum(ConversationCategory, by_value=True, required=True)
    subject = fields.String(required=True, validate=validate.Length(min=1, max=messaging.MAX_SUBJECT_CHARS))
    body = _body_field()
    attachment_ids = _attachment_ids()
    idempotency_key = _key_field(required=True)


class MemberMessageInSchema(StrictSchema):
    body = _body_field()
    attachment_ids = _attachment_ids()
    idempotency_key = _key_field(required=True)


class StaffReplyInSchema(StrictSchema):
    body = _body_field(required=False)
    canned_reply_id = row_id_field(
        load_default=None, metadata={"description": "Send this canned reply, in the member's language"}
    )
    attachment_ids = _attachment_ids()
    idempotency_key = _key_field(required=False)


class StaffNoteInSchema(StrictSchema):
    body = _body_field()
    attachment_ids = _attachment_ids()
    idempotency_key = _key_field(required=False)


class UploadSchema(StrictSchema):
    file = Upload(required=True, metadata={"description": "JPEG, PNG or PDF; the type is read from the content"})


class AttachmentSchema(StrictSchema):
    id = fields.Integer(required=True)
    content_type = fields.String(required=True, metadata={"description": "Sniffed from the bytes"})
    size = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)


class MessageSchema(StrictSchema):
    id = fields.Integer(required=True)
    conversation_id = fields.Integer(required=True)
    author = fields.String(required=True, validate=validate.OneOf(["member", "staff"]))
    body = fields.String(required=True)
    attachments = fields.List(fields.Nested(AttachmentSchema), required=True)
    idempotency_key = fields.String(allow_none=True, required=True)
    created_at = fields.DateTime(required=True)
    read_at = fields.DateTime(allow_none=True, required=True, metadata={"description": "Read by the other side"})
    updated_at = fields.DateTime(required=True)


class StaffMessageSchema(MessageSchema):
    internal = fields.Boolean(required=True, metadata={"description": "An internal note, never shown to the member"})
    staff_id = fields.Integer(allow_none=True, required=True)
    canned_reply_id = fields.Integer(allow_none=True, required=True)


class MessagePreviewSchema(StrictSchema):
    author = fields.String(required=True)
    body = fields.String(required=True)
    created_at = fields.DateTime(required=True)


class ConversationSchema(StrictSchema):
    id = fields.Integer(required=True)
    office_id = fields.Integer(required=True)
    office_code = fields.String(required=True)
    category = fields.Enum(ConversationCategory, by_value=True, required=True)
    subject = fields.String(required=True)
    status = fields.Enum(
        ConversationStatus,
        by_value=True,
        required=True,
        metadata={"description": "open: waiting for the office; pending: answered, waiting for you; resolved"},
    )
    answer_due_at = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "When the office should answer (working hours)"}
    )
    unread_count = fields.Integer(required=True)
    last_message = fields.Nested(MessagePreviewSchema, allow_none=True, required=True)
    last_message_at = fields.DateTime(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class StaffConversationSchema(ConversationSchema):
    member_id = fields.Integer(required=True)
    assignee_id = fields.Integer(allow_none=True, required=True)
    first_response_due_at = fields.DateTime(allow_none=True, required=True)
    first_responded_at = fields.DateTime(allow_none=True, required=True)
    overdue = fields.Boolean(required=True)
    last_activity_at = fields.DateTime(required=True, metadata={"description": "Internal notes included"})
    resolved_at = fields.DateTime(allow_none=True, required=True)


class PostedSchema(StrictSchema):
    conversation = fields.Nested(ConversationSchema, required=True)
    message = fields.Nested(MessageSchema, required=True)


class StaffPostedSchema(StrictSchema):
    conversation = fields.Nested(StaffConversationSchema, required=True)
    message = fields.Nested(StaffMessageSchema, required=True)


class ConversationPageSchema(PageMetaSchema):
    items = fields.List(fields.Nested(ConversationSchema), required=True)
    server_time = fields.DateTime(required=True, metadata={"description": "Pass as updated_since next time"})


class ThreadSchema(PageMetaSchema):
    conversation = fields.Nested(ConversationSchema, required=True)
    items = fields.List(fields.Nested(MessageSchema), required=True, metadata={"description": "Newest first"})
    server_time = fields.DateTime(required=True, metadata={"description": "Pass as updated_since next time"})


class StaffThreadSchema(PageMetaSchema):
    conversation = fields.Nested(StaffConversationSchema, required=True)
    items = fields.List(fields.Nested(StaffMessageSchema), required=True, metadata={"description": "Newest first"})
    server_time = fields.DateTime(required=True)


class CountsSchema(StrictSchema):
    open = fields.Integer(required=True)
    pending = fields.Integer(required=True)
    resolved = fields.Integer(required=True, metadata={"description": "Resolved in the last 30 days"})
    overdue = fields.Integer(required=True)
    open_unassigned = fields.Integer(required=True)


class InboxPageSchema(PageMetaSchema):
    items = fields.List(fields.Nested(StaffConversationSchema), required=True)
    counts = fields.Nested(CountsSchema, required=True, metadata={"description": "The whole office, unfiltered"})


class OverduePageSchema(PageMetaSchema):
    items = fields.List(fields.Nested(StaffConversationSchema), required=True)


class SyncArgsSchema(PageArgsSchema):
    updated_since = fields.AwareDateTime(
        load_default=None, validate=SANE_TIMES, metadata={"description": "Only what was created or changed after this"}
    )


class InboxArgsSchema(PageArgsSchema):
    status = fields.Enum(ConversationStatus, by_value=True, load_default=None)
    category = fields.Enum(ConversationCategory, by_value=True, load_default=None)
    assignee = fields.String(
        load_default=None,
        validate=FullMatch(r"^(me|unassigned|[1-9][0-9]{0,8})$"),
        metadata={"description": "me, unassigned, or a staff id"},
    )
    overdue = fields.Boolean(load_default=False, metadata={"description": "Open and past the due time"})


class AssignSchema(StrictSchema):
    assignee = fields.String(
        required=True,
        allow_none=True,
        validate=FullMatch(r"^(me|[1-9][0-9]{0,8})$"),
        metadata={"description": "me, a colleague's staff id, or null to unassign"},
    )


class ReadSchema(StrictSchema):
    marked = fields.Integer(required=True)
    unread_count = fields.Integer(required=True)


class ColleagueSchema(StrictSchema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    display_name = fields.String(required=True)


class CannedReplyInSchema(StrictSchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    body_lo = MultiLineText(required=True, validate=validate.Length(min=1, max=messaging.MAX_BODY_CHARS))
    body_en = MultiLineText(required=True, validate=validate.Length(min=1, max=messaging.MAX_BODY_CHARS))


class CannedReplySchema(CannedReplyInSchema):
    id = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class CannedReplyPageSchema(PageMetaSchema):
    items = fields.List(fields.Nested(CannedReplySchema), required=True)


# -- views ------------------------------------------------------------------------------------------


def _office_codes(conversations: list[Conversation]) -> dict[int, str]:
    ids = {c.office_id for c in conversations}
    if not ids:
        return {}
    return dict(db_session().execute(select(Office.id, Office.code).where(Office.id.in_(ids))).all())


def _author(message: Message) -> str:
    return "member" if message.member_id is not None else "staff"


def _conversation_views(conversations: list[Conversation], *, for_member: bool) -> list[dict[str, Any]]:
    session = db_session()
    summaries = messaging.conversation_summaries(session, [c.id for c in conversations], for_member=for_member)
    codes = _office_codes(conversations)
    moment = now()
    views = []
    for c in conversations:
        unread, latest = summaries[c.id]
        view: dict[str, Any] = {
            "id": c.id,
            "office_id": c.office_id,
            "office_code": codes.get(c.office_id, ""),
            "category": c.category,
            "subject": c.subject,
            "status": c.status,
            "answer_due_at": c.reply_due_at,
            "unread_count": unread,
            "last_message_at": c.last_message_at,
            "created_at": c.created_at,
            "updated_at": c.updated_at,
            "last_message": None
            if latest is None
            else {
                "author": ("note" if latest.internal else _author(latest)),
                "body": latest.body[: messaging.PREVIEW_CHARS],
                "created_at": latest.created_at,
            },
        }
        if not for_member:
            view.update(
                {
                    "member_id": c.member_id,
                    "assignee_id": c.assignee_id,
                    "first_response_due_at": c.first_response_due_at,
                    "first_responded_at": c.first_responded_at,
                    "overdue": c.status is ConversationStatus.OPEN
                    and c.reply_due_at is not None
                    and c.reply_due_at < moment,
                    "last_activity_at": c.last_activity_at,
                    "resolved_at": c.resolved_at,
                }
            )
        views.append(view)
    return views


def _message_views(messages: list[Message], *, for_member: bool) -> list[dict[str, Any]]:
    attachments = messaging.attachments_of(db_session(), [m.id for m in messages])
    views = []
    for m in messages:
        view: dict[str, Any] = {
            "id": m.id,
            "conversation_id": m.conversation_id,
            "author": _author(m),
            "body": m.body,
            "attachments": attachments[m.id],
            "created_at": m.created_at,
            "read_at": m.read_at,
            "updated_at": m.updated_at,
            # the member's own keys only; staff keys are nobody else's business
            "idempotency_key": m.idempotency_key if (m.member_id is not None) or not for_member else None,
        }
        if not for_member:
            view.update({"internal": m.internal, "staff_id": m.staff_id, "canned_reply_id": m.canned_reply_id})
        views.append(view)
    return views


def _posted_view(posted: messaging.Posted, *, for_member: bool) -> dict[str, Any]:
    return {
        "conversation": _conversation_views([posted.conversation], for_member=for_member)[0],
        "message": _message_views([posted.message], for_member=for_member)[0],
    }


def _replayed(body: dict[str, Any], posted: messaging.Posted, status: int) -> tuple[dict[str, Any], int, dict]:
    return body, status, {"Idempotent-Replayed": "true" if posted.replayed else "false"}


def _conversation_page(
    items: list[Conversation], limit: int, key: Callable[[Conversation], Any], for_member: bool
) -> dict[str, Any]:
    result = page(items, limit, lambda c: encode_time_cursor(key(c), c.id))
    result["items"] = _conversation_views(result["items"], for_member=for_member)
    return result


def _key(value: Any) -> str | None:
    return None if value is None else str(value)


def _upload_size_limit(view: Callable[..., Any]) -> Callable[..., Any]:
    """Uploads may be larger than other requests (LSSO_ATTACHMENT_MAX_BYTES, not LSSO_MAX_BODY_BYTES), and
    carry the one file part only: other form fields are refused like unknown JSON fields."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        limit = settings().attachment_max_bytes
        if request.content_length is not None and request.content_length > limit + MULTIPART_OVERHEAD:
            raise PayloadTooLarge(
                f"The file is larger than {limit} bytes ({limit // (1024 * 1024)} MB).",
                errors={"file": [f"at most {limit} bytes"]},
            )
        request.max_content_length = limit + MULTIPART_OVERHEAD
        if request.form:
            raise InvalidInput(
                "Send the file part only.", errors={"form": {name: ["Unknown field."] for name in request.form}}
            )
        return view(*args, **kwargs)

    return wrapper


def _file_response(attachment: Attachment) -> Response:
    data = messaging.read_attachment_bytes(settings(), attachment)
    disposition = "inline" if attachment.content_type.startswith("image/") else "attachment"
    response = Response(data, status=200, content_type=attachment.content_type)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = (
        f'{disposition}; filename="attachment-{attachment.id}.{EXTENSIONS[attachment.content_type]}"'
    )
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


FILE_DESCRIPTION = (
    "The file's bytes with the Content-Type sniffed at upload (image/jpeg, image/png or "
    "application/pdf), X-Content-Type-Options: nosniff and a generated file name, never the "
    "uploader's"
)


# -- members ----------------------------------------------------------------------------------------


@member_blp.route("", methods=["POST"])
@member_blp.access(MEMBER)
@member_blp.arguments(StartConversationSchema)
@member_blp.response(201, PostedSchema, headers={"Idempotent-Replayed": {"schema": {"type": "string"}}})
@member_blp.alt_response(409, response=ERROR, description="Key used for another message, or too many open")
@member_blp.alt_response(422, response=ERROR, description="Invalid input, unknown office or attachment")
@member_blp.alt_response(429, response=ERROR, description="Too many messages a minute (Retry-After)")
def start_conversation(body: dict[str, Any]) -> Any:
    """Write to the office (your own unless you give ``office_code``) about a subject; attachments by id."""
    posted = messaging.start_conversation(
        db_session(),
        settings(),
        current_principal().id,
        body["office_code"],
        body["category"],
        body["subject"],
        body["body"],
        body["attachment_ids"],
        str(body["idempotency_key"]),
        now(),
    )
    commit()
    return _replayed(_posted_view(posted, for_member=True), posted, 201)


@member_blp.route("", methods=["GET"])
@member_blp.access(MEMBER)
@member_blp.arguments(SyncArgsSchema, location="query")
@member_blp.response(200, ConversationPageSchema)
def list_conversations(args: dict[str, Any]) -> Any:
    """Your conversations, latest message first, with unread counts; ``updated_since`` for delta sync."""
    server_time = now() - SYNC_MARGIN
    items = messaging.list_member_conversations(
        db_session(),
        current_principal().id,
        decode_time_cursor(args["cursor"]),
        args["updated_since"],
        args["limit"] + 1,
    )
    return {
        **_conversation_page(items, args["limit"], lambda c: c.last_message_at, for_member=True),
        "server_time": server_time,
    }


@member_blp.route("/<int:conversation_id>", methods=["GET"])
@member_blp.access(MEMBER)
@member_blp.response(200, ConversationSchema)
@member_blp.alt_response(404, response=ERROR, description="Not your conversation")
def get_conversation(conversation_id: int) -> Any:
    """One of your conversations."""
    conversation = messaging.member_conversation(db_session(), current_principal().id, conversation_id)
    return _conversation_views([conversation], for_member=True)[0]


@member_blp.route("/<int:conversation_id>/messages", methods=["GET"])
@member_blp.access(MEMBER)
@member_blp.arguments(SyncArgsSchema, location="query")
@member_blp.response(200, ThreadSchema)
@member_blp.alt_response(404, response=ERROR, description="Not your conversation")
@member_blp.alt_response(422, response=ERROR, description="Invalid cursor or arguments")
def get_thread(args: dict[str, Any], conversation_id: int) -> Any:
    """The messages, newest first (``cursor`` pages back); ``read_at`` on yours says the office read it."""
    session = db_session()
    server_time = now() - SYNC_MARGIN
    conversation = messaging.member_conversation(session, current_principal().id, conversation_id)
    items = messaging.list_messages(
        session,
        conversation.id,
        decode_cursor(args["cursor"]),
        args["updated_since"],
        args["limit"] + 1,
        include_internal=False,
    )
    result = page(items, args["limit"])
    return {
        "conversation": _conversation_views([conversation], for_member=True)[0],
        "items": _message_views(result["items"], for_member=True),
        "next_cursor": result["next_cursor"],
        "server_time": server_time,
    }


@member_blp.route("/<int:conversation_id>/messages", methods=["POST"])
@member_blp.access(MEMBER)
@member_blp.arguments(MemberMessageInSchema)
@member_blp.response(201, PostedSchema, headers={"Idempotent-Replayed": {"schema": {"type": "string"}}})
@member_blp.alt_response(404, response=ERROR, description="Not your conversation")
@member_blp.alt_response(409, response=ERROR, description="Key used for another message")
@member_blp.alt_response(422, response=ERROR, description="Invalid input or attachment")
@member_blp.alt_response(429, response=ERROR, description="Too many messages a minute (Retry-After)")
def send_message(body: dict[str, Any], conversation_id: int) -> Any:
    """Write in a conversation; a pending or resolved conversation opens again."""
    posted = messaging.post_member_message(
        db_session(),
        settings(),
        current_principal().id,
        conversation_id,
        body["body"],
        body["attachment_ids"],
        str(body["idempotency_key"]),
        now(),
    )
    commit()
    return _replayed(_posted_view(posted, for_member=True), posted, 201)


@member_blp.route("/<int:conversation_id>/read", methods=["POST"])
@member_blp.access(MEMBER)
@member_blp.response(200, ReadSchema)
@member_blp.alt_response(404, response=ERROR, description="Not your conversation")
def mark_read(conversation_id: int) -> Any:
    """Mark the office's messages in this conversation read."""
    session = db_session()
    marked = messaging.mark_read_by_member(session, current_principal().id, conversation_id, now())
    commit()
    return {"marked": marked, "unread_count": messaging.unread_for_member(session, conversation_id)}


@member_blp.route("/attachments", methods=["POST"])
@member_blp.access(MEMBER)
@_upload_size_limit
@member_blp.arguments(UploadSchema, location="files")
@member_blp.response(201, AttachmentSchema)
@member_blp.alt_response(
    413,
    response=ERROR,
    description="Larger than LSSO_ATTACHMENT_MAX_BYTES, an image of more than LSSO_UPLOAD_MAX_PIXELS pixels, or a "
    "PDF too large to check",
)
@member_blp.alt_response(
    415,
    response=ERROR,
    description="Not a JPEG, PNG or PDF (by content), one that does not decode or parse, or a PDF with "
    "active content; with the reason",
)
@member_blp.alt_response(422, response=ERROR, description="No file, or an empty one")
@member_blp.alt_response(
    429,
    response=ERROR,
    description="Too many uploads a minute, or (error `unsent_uploads_quota`) too many files or bytes uploaded "
    "and not yet sent (LSSO_UNSENT_UPLOADS_MAX_FILES, LSSO_UNSENT_UPLOADS_MAX_BYTES); Retry-After",
)
def upload(files: dict[str, Any]) -> Any:
    """Upload one file (multipart/form-data, field ``file``), then send its id with a message."""
    data = files["file"].read()
    attachment = messaging.upload_attachment(db_session(), settings(), data, now(), member_id=current_principal().id)
    commit()
    return attachment


@member_blp.route("/attachments/<int:attachment_id>", methods=["GET"])
@member_blp.access(MEMBER)
@member_blp.response(200, content_type="application/octet-stream", description=FILE_DESCRIPTION)
@member_blp.alt_response(404, response=ERROR, description="Not in your conversations")
def download(attachment_id: int) -> Any:
    """A file of one of your conversations (or your own upload)."""
    return _file_response(messaging.member_attachment(db_session(), current_principal().id, attachment_id))


# -- staff -------------------------------------------------------------------------------------------


@staff_blp.route("", methods=["GET"])
@staff_blp.access(OFFICER)
@staff_blp.arguments(InboxArgsSchema, location="query")
@staff_blp.response(200, InboxPageSchema)
@staff_blp.alt_response(422, response=ERROR, description="Invalid filter or cursor")
def inbox(args: dict[str, Any]) -> Any:
    """Your office's conversations, latest message first; filter by status, category, assignee, overdue."""
    session, staff, moment = db_session(), current_principal(), now()
    filters = messaging.InboxFilter(args["status"], args["category"], args["assignee"], args["overdue"])
    items = messaging.list_office_conversations(
        session, staff, filters, moment, decode_time_cursor(args["cursor"]), args["limit"] + 1
    )
    return {
        **_conversation_page(items, args["limit"], lambda c: c.last_message_at, for_member=False),
        "counts": messaging.office_counts(session, staff, moment),
    }


@staff_blp.route("/overdue", methods=["GET"])
@staff_blp.access(OFFICER)
@staff_blp.arguments(PageArgsSchema, location="query")
@staff_blp.response(200, OverduePageSchema)
def overdue(args: dict[str, Any]) -> Any:
    """Open conversations past their due time, longest overdue first."""
    items = messaging.list_overdue(
        db_session(), current_principal(), now(), decode_time_cursor(args["cursor"]), args["limit"] + 1
    )
    return _conversation_page(items, args["limit"], lambda c: c.reply_due_at, for_member=False)


@staff_blp.route("/assignees", methods=["GET"])
@staff_blp.access(OFFICER)
@staff_blp.response(200, ColleagueSchema(many=True))
def assignees() -> Any:
    """Officers of your office, who conversations can be assigned to."""
    return messaging.list_colleagues(db_session(), current_principal())


@staff_blp.route("/<int:conversation_id>", methods=["GET"])
@staff_blp.access(OFFICER)
@staff_blp.response(200, StaffConversationSchema)
@staff_blp.alt_response(404, response=ERROR, description="Not in your office")
def staff_get_conversation(conversation_id: int) -> Any:
    """One conversation of your office."""
    conversation = messaging.staff_conversation(db_session(), current_principal(), conversation_id)
    return _conversation_views([conversation], for_member=False)[0]


@staff_blp.route("/<int:conversation_id>/messages", methods=["GET"])
@staff_blp.access(OFFICER)
@staff_blp.arguments(SyncArgsSchema, location="query")
@staff_blp.response(200, StaffThreadSchema)
@staff_blp.alt_response(404, response=ERROR, description="Not in your office")
def staff_thread(args: dict[str, Any], conversation_id: int) -> Any:
    """Messages and internal notes, newest first. Reading marks the member's messages read."""
    session, moment = db_session(), now()
    conversation = messaging.staff_conversation(session, current_principal(), conversation_id)
    messaging.mark_read_by_staff(session, conversation, moment)
    commit()
    items = messaging.list_messages(
        session,
        conversation.id,
        decode_cursor(args["cursor"]),
        args["updated_since"],
        args["limit"] + 1,
        include_internal=True,
    )
    result = page(items, args["limit"])
    return {
        "conversation": _conversation_views([conversation], for_member=False)[0],
        "items": _message_views(result["items"], for_member=False),
        "next_cursor": result["next_cursor"],
        "server_time": moment - SYNC_MARGIN,
    }


@staff_blp.route("/<int:conversation_id>/assign", methods=["POST"])
@staff_blp.access(OFFICER)
@staff_blp.arguments(AssignSchema)
@staff_blp.response(200, StaffConversationSchema)
@staff_blp.alt_response(404, response=ERROR, description="Not in your office")
@staff_blp.alt_response(422, response=ERROR, description="Not an officer of your office")
def assign(body: dict[str, Any], conversation_id: int) -> Any:
    """Assign to yourself (``me``), a colleague of your office, or nobody (null)."""
    conversation = messaging.assign(db_session(), current_principal(), conversation_id, body["assignee"], now())
    commit()
    return _conversation_views([conversation], for_member=False)[0]


def _staff_post(body: dict[str, Any], conversation_id: int, internal: bool) -> Any:
    posted = messaging.post_staff_message(
        db_session(),
        settings(),
        current_principal(),
        conversation_id,
        body["body"],
        body.get("canned_reply_id"),
        body["attachment_ids"],
        _key(body["idempotency_key"]),
        internal,
        now(),
    )
    commit()
    return _replayed(_posted_view(posted, for_member=False), posted, 201)


@staff_blp.route("/<int:conversation_id>/replies", methods=["POST"])
@staff_blp.access(OFFICER)
@staff_blp.arguments(StaffReplyInSchema)
@staff_blp.response(201, StaffPostedSchema, headers={"Idempotent-Replayed": {"schema": {"type": "string"}}})
@staff_blp.alt_response(404, response=ERROR, description="Not in your office, or no such canned reply")
@staff_blp.alt_response(409, response=ERROR, description="Key used for another message")
@staff_blp.alt_response(422, response=ERROR, description="Give a body or a canned reply; invalid attachment")
def reply(body: dict[str, Any], conversation_id: int) -> Any:
    """Answer the member (pushed to their phone; conversation pending). ``canned_reply_id`` sends a canned
    reply in the member's language. Unassigned conversations are assigned to you."""
    return _staff_post(body, conversation_id, internal=False)


@staff_blp.route("/<int:conversation_id>/notes", methods=["POST"])
@staff_blp.access(OFFICER)
@staff_blp.arguments(StaffNoteInSchema)
@staff_blp.response(201, StaffPostedSchema, headers={"Idempotent-Replayed": {"schema": {"type": "string"}}})
@staff_blp.alt_response(404, response=ERROR, description="Not in your office")
@staff_blp.alt_response(409, response=ERROR, description="Key used for another message")
@staff_blp.alt_response(422, response=ERROR, description="Invalid input or attachment")
def note(body: dict[str, Any], conversation_id: int) -> Any:
    """An internal note for colleagues; the member never sees it."""
    body["canned_reply_id"] = None
    return _staff_post(body, conversation_id, internal=True)


@staff_blp.route("/<int:conversation_id>/resolve", methods=["POST"])
@staff_blp.access(OFFICER)
@staff_blp.response(200, StaffConversationSchema)
@staff_blp.alt_response(404, response=ERROR, description="Not in your office")
def resolve(conversation_id: int) -> Any:
    """Mark resolved; the member writing again opens it again."""
    conversation = messaging.set_status(
        db_session(), settings(), current_principal(), conversation_id, ConversationStatus.RESOLVED, now()
    )
    commit()
    return _conversation_views([conversation], for_member=False)[0]


@staff_blp.route("/<int:conversation_id>/reopen", methods=["POST"])
@staff_blp.access(OFFICER)
@staff_blp.response(200, StaffConversationSchema)
@staff_blp.alt_response(404, response=ERROR, description="Not in your office")
def reopen(conversation_id: int) -> Any:
    """Open again (waiting for the office, with a new due time)."""
    conversation = messaging.set_status(
        db_session(), settings(), current_principal(), conversation_id, ConversationStatus.OPEN, now()
    )
    commit()
    return _conversation_views([conversation], for_member=False)[0]


@staff_blp.route("/attachments", methods=["POST"])
@staff_blp.access(OFFICER)
@_upload_size_limit
@staff_blp.arguments(UploadSchema, location="files")
@staff_blp.response(201, AttachmentSchema)
@staff_blp.alt_response(
    413,
    response=ERROR,
    description="Larger than LSSO_ATTACHMENT_MAX_BYTES, an image of more than LSSO_UPLOAD_MAX_PIXELS pixels, or a "
    "PDF too large to check",
)
@staff_blp.alt_response(
    415,
    response=ERROR,
    description="Not a JPEG, PNG or PDF (by content), one that does not decode or parse, or a PDF with "
    "active content; with the reason",
)
@staff_blp.alt_response(422, response=ERROR, description="No file, or an empty one")
@staff_blp.alt_response(
    429,
    response=ERROR,
    description="Too many uploads a minute, or (error `unsent_uploads_quota`) too many files or bytes uploaded "
    "and not yet sent (LSSO_UNSENT_UPLOADS_MAX_FILES, LSSO_UNSENT_UPLOADS_MAX_BYTES); Retry-After",
)
def staff_upload(files: dict[str, Any]) -> Any:
    """Upload one file (multipart/form-data, field ``file``) to send with a reply or note."""
    data = files["file"].read()
    attachment = messaging.upload_attachment(db_session(), settings(), data, now(), staff_id=current_principal().id)
    commit()
    return attachment


@staff_blp.route("/attachments/<int:attachment_id>", methods=["GET"])
@staff_blp.access(OFFICER)
@staff_blp.response(200, content_type="application/octet-stream", description=FILE_DESCRIPTION)
@staff_blp.alt_response(404, response=ERROR, description="Not in your office")
def staff_download(attachment_id: int) -> Any:
    """A file of a conversation of your office (or your own upload)."""
    return _file_response(messaging.staff_attachment(db_session(), current_principal(), attachment_id))


# -- canned replies ------------------------------------------------------------------------------------


@canned_blp.route("", methods=["GET"])
@canned_blp.access(OFFICER)
@canned_blp.arguments(PageArgsSchema, location="query")
@canned_blp.response(200, CannedReplyPageSchema)
def list_canned(args: dict[str, Any]) -> Any:
    """Your office's canned replies."""
    return page(
        messaging.list_canned_replies(
            db_session(), current_principal(), decode_cursor(args["cursor"]), args["limit"] + 1
        ),
        args["limit"],
    )


@canned_blp.route("", methods=["POST"])
@canned_blp.access(OFFICER)
@canned_blp.arguments(CannedReplyInSchema)
@canned_blp.response(201, CannedReplySchema)
@canned_blp.alt_response(422, response=ERROR, description="Invalid input")
def create_canned(body: dict[str, Any]) -> Any:
    """A new canned reply for your office, in Lao and English."""
    canned = messaging.save_canned_reply(
        db_session(), current_principal(), None, body["title"], body["body_lo"], body["body_en"], now()
    )
    commit()
    return canned


@canned_blp.route("/<int:canned_id>", methods=["PUT"])
@canned_blp.access(OFFICER)
@canned_blp.arguments(CannedReplyInSchema)
@canned_blp.response(200, CannedReplySchema)
@canned_blp.alt_response(404, response=ERROR, description="Not in your office")
@canned_blp.alt_response(422, response=ERROR, description="Invalid input")
def edit_canned(body: dict[str, Any], canned_id: int) -> Any:
    """Change a canned reply."""
    canned = messaging.save_canned_reply(
        db_session(), current_principal(), canned_id, body["title"], body["body_lo"], body["body_en"], now()
    )
    commit()
    return canned


@canned_blp.route("/<int:canned_id>", methods=["DELETE"])
@canned_blp.access(OFFICER)
@canned_blp.response(204)
@canned_blp.alt_response(404, response=ERROR, description="Not in your office")
def delete_canned(canned_id: int) -> None:
    """Remove a canned reply (messages already sent keep their text)."""
    messaging.delete_canned_reply(db_session(), current_principal(), canned_id, now())
    commit()
