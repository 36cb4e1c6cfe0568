"""What the messaging routes read and answer."""

from __future__ import annotations

from typing import Any

from flask_smorest.fields import Upload
from marshmallow import fields, validate

from lsso_mobile.api.schemas import (
    SANE_TIMES,
    MultiLineText,
    PageArgsSchema,
    PageMetaSchema,
    StrictSchema,
    row_id_field,
    server_time_field,
)
from lsso_mobile.models import ConversationCategory, ConversationStatus
from lsso_mobile.services import attachments as attachment_service
from lsso_mobile.services import conversations as conversation_service
from lsso_mobile.validation import FullMatch

UPLOADS = (
    "Attachments are uploaded first (POST .../attachments, multipart/form-data, field `file`, one file; "
    "JPEG, PNG or PDF judged by content) and then sent by id with a message (`attachment_ids`, at most 3). "
    "Images are decoded and encoded again (EXIF, GPS included, removed; turned upright), so the stored file and "
    "its size differ from the upload. PDFs with scripts, actions, XFA forms or embedded files are refused."
)


MULTIPART_OVERHEAD = 64 * 1024


ERROR = "DEFAULT_ERROR"


def key_field(required: bool) -> fields.UUID:
    extra: dict[str, Any] = {"required": True} if required else {"load_default": None}
    return fields.UUID(
        **extra,
        metadata={
            "description": "A new UUID per message, made by the app. Sending again with the same key (after a "
            "timeout, say) returns the message stored the first time and stores nothing new; the "
            "same key with a different message is a 409."
        },
    )


def attachment_ids() -> fields.List:
    return fields.List(
        row_id_field(),
        load_default=list,
        validate=validate.Length(max=attachment_service.MAX_ATTACHMENTS_PER_MESSAGE),
        metadata={
            "description": f"Ids from the upload endpoint; at most {attachment_service.MAX_ATTACHMENTS_PER_MESSAGE}"
        },
    )


def body_field(required: bool = True) -> MultiLineText:
    # The length as sent is checked here (StrictSchema); the service checks it again after trimming.
    extra: dict[str, Any] = {"required": True} if required else {"load_default": None}
    return MultiLineText(
        validate=validate.Length(max=conversation_service.MAX_BODY_CHARS),
        metadata={
            "description": f"The text: 1 to {conversation_service.MAX_BODY_CHARS} characters as sent, not only white "
            "space (surrounding white space is removed)",
            "example": "ຂ້ອຍໄດ້ຈ່າຍເງິນສົມທົບເດືອນນີ້ແລ້ວ, ແຕ່ຍັງບໍ່ເຫັນໃນແອັບ.",
        },
        **extra,
    )


class StartConversationSchema(StrictSchema):
    office_code = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=16),
        metadata={"description": "Another office (see /api/v1/offices); default: yours"},
    )
    category = fields.Enum(
        ConversationCategory, by_value=True, required=True, metadata={"description": "What it is about"}
    )
    subject = fields.String(
        required=True,
        validate=validate.Length(min=1, max=conversation_service.MAX_SUBJECT_CHARS),
        metadata={"description": "A short subject line"},
    )
    body = body_field()
    attachment_ids = attachment_ids()
    idempotency_key = key_field(required=True)


class MemberMessageInSchema(StrictSchema):
    body = body_field()
    attachment_ids = attachment_ids()
    idempotency_key = key_field(required=True)


class StaffReplyInSchema(StrictSchema):
    body = body_field(required=False)
    canned_reply_id = row_id_field(
        load_default=None, metadata={"description": "Send this canned reply, in the member's language"}
    )
    attachment_ids = attachment_ids()
    idempotency_key = key_field(required=False)


class StaffNoteInSchema(StrictSchema):
    body = body_field()
    attachment_ids = attachment_ids()
    idempotency_key = key_field(required=False)


class UploadSchema(StrictSchema):
    file = Upload(required=True, metadata={"description": "JPEG, PNG or PDF; the type is read from the content"})


class AttachmentSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "Send it in attachment_ids"})
    content_type = fields.String(required=True, metadata={"description": "Sniffed from the bytes"})
    size = fields.Integer(required=True, metadata={"description": "Bytes stored"})
    created_at = fields.DateTime(required=True, metadata={"description": "When it was created (UTC, ISO 8601)"})


class MessageSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The message's id"})
    conversation_id = fields.Integer(required=True, metadata={"description": "The conversation's id"})
    author = fields.String(
        required=True, validate=validate.OneOf(["member", "staff"]), metadata={"description": "Who wrote it"}
    )
    author_name = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "For a message from the office: the officer's name; null for the member's own"},
    )
    body = fields.String(required=True, metadata={"description": "The text (at most 4000 characters)"})
    attachments = fields.List(
        fields.Nested(AttachmentSchema), required=True, metadata={"description": "Files sent with it (download by id)"}
    )
    idempotency_key = fields.String(
        allow_none=True,
        required=True,
        metadata={
            "description": "A UUID the sender made once for this message; a retry with the same key gets the same one"
        },
    )
    created_at = fields.DateTime(required=True, metadata={"description": "When it was created (UTC, ISO 8601)"})
    read_at = fields.DateTime(allow_none=True, required=True, metadata={"description": "Read by the other side"})
    updated_at = fields.DateTime(required=True, metadata={"description": "When it last changed (UTC, ISO 8601)"})


class StaffMessageSchema(MessageSchema):
    internal = fields.Boolean(required=True, metadata={"description": "An internal note, never shown to the member"})
    staff_id = fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "The officer who wrote it; null for the member's messages"},
    )
    canned_reply_id = fields.Integer(
        allow_none=True, required=True, metadata={"description": "The canned reply sent, if one was"}
    )


class MessagePreviewSchema(StrictSchema):
    author = fields.String(required=True, metadata={"description": "Who wrote it"})
    body = fields.String(required=True, metadata={"description": "The start of the text"})
    created_at = fields.DateTime(required=True, metadata={"description": "When it was created (UTC, ISO 8601)"})


class ConversationSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The record's id (stable; use it in URLs)"})
    office_id = fields.Integer(required=True, metadata={"description": "The office the member writes to"})
    office_code = fields.String(required=True, metadata={"description": "The office the member writes to"})
    category = fields.Enum(
        ConversationCategory, by_value=True, required=True, metadata={"description": "What it is about"}
    )
    subject = fields.String(required=True, metadata={"description": "A short subject line"})
    status = fields.Enum(
        ConversationStatus,
        by_value=True,
        required=True,
        metadata={"description": "open: waiting for the office; pending: answered, waiting for you; resolved"},
    )
    answer_due_at = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "When the office should answer (working hours)"}
    )
    unread_count = fields.Integer(required=True, metadata={"description": "Office messages the member has not read"})
    last_message = fields.Nested(
        MessagePreviewSchema, allow_none=True, required=True, metadata={"description": "The latest message, shortened"}
    )
    last_message_at = fields.DateTime(
        required=True, metadata={"description": "When the latest message was written (UTC)"}
    )
    created_at = fields.DateTime(required=True, metadata={"description": "When it was created (UTC, ISO 8601)"})
    updated_at = fields.DateTime(required=True, metadata={"description": "When it last changed (UTC, ISO 8601)"})


class StaffConversationSchema(ConversationSchema):
    member_id = fields.Integer(required=True, metadata={"description": "The member's id (getMemberDetail)"})
    assignee_id = fields.Integer(
        allow_none=True, required=True, metadata={"description": "The officer it is assigned to; null: nobody"}
    )
    assignee_name = fields.String(
        allow_none=True, required=True, metadata={"description": "The assigned officer's name, or null"}
    )
    first_response_due_at = fields.DateTime(
        allow_none=True,
        required=True,
        metadata={"description": "When the office should first answer, counting working hours (UTC)"},
    )
    first_responded_at = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "When the office first answered; null before"}
    )
    overdue = fields.Boolean(
        required=True, metadata={"description": "Open conversations past their first-response due time"}
    )
    last_activity_at = fields.DateTime(required=True, metadata={"description": "Internal notes included"})
    resolved_at = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "When it was resolved; null while open"}
    )


class PostedSchema(StrictSchema):
    conversation = fields.Nested(
        ConversationSchema, required=True, metadata={"description": "The conversation, as it is after this message"}
    )
    message = fields.Nested(MessageSchema, required=True, metadata={"description": "The message as stored"})


class StaffPostedSchema(StrictSchema):
    conversation = fields.Nested(
        StaffConversationSchema,
        required=True,
        metadata={"description": "The conversation, as it is after this message"},
    )
    message = fields.Nested(
        StaffMessageSchema, required=True, metadata={"description": "The message or note as stored"}
    )


class ConversationPageSchema(PageMetaSchema):
    items = fields.List(fields.Nested(ConversationSchema), required=True, metadata={"description": "This page's items"})
    server_time = server_time_field()


class ThreadSchema(PageMetaSchema):
    conversation = fields.Nested(ConversationSchema, required=True, metadata={"description": "The conversation"})
    items = fields.List(fields.Nested(MessageSchema), required=True, metadata={"description": "Newest first"})
    server_time = server_time_field()


class StaffThreadSchema(PageMetaSchema):
    conversation = fields.Nested(StaffConversationSchema, required=True, metadata={"description": "The conversation"})
    items = fields.List(fields.Nested(StaffMessageSchema), required=True, metadata={"description": "Newest first"})
    server_time = server_time_field()


class CountsSchema(StrictSchema):
    open = fields.Integer(required=True, metadata={"description": "Conversations waiting for the office"})
    pending = fields.Integer(required=True, metadata={"description": "Conversations answered, waiting for the member"})
    resolved = fields.Integer(required=True, metadata={"description": "Resolved in the last 30 days"})
    overdue = fields.Integer(
        required=True, metadata={"description": "Open conversations past their first-response due time"}
    )
    open_unassigned = fields.Integer(required=True, metadata={"description": "Open conversations assigned to nobody"})


class InboxPageSchema(PageMetaSchema):
    items = fields.List(
        fields.Nested(StaffConversationSchema), required=True, metadata={"description": "This page's items"}
    )
    counts = fields.Nested(CountsSchema, required=True, metadata={"description": "The whole office, unfiltered"})


class OverduePageSchema(PageMetaSchema):
    items = fields.List(
        fields.Nested(StaffConversationSchema), required=True, metadata={"description": "This page's items"}
    )


class SyncArgsSchema(PageArgsSchema):
    updated_since = fields.AwareDateTime(
        load_default=None, validate=SANE_TIMES, metadata={"description": "Only what was created or changed after this"}
    )


class InboxArgsSchema(PageArgsSchema):
    status = fields.Enum(
        ConversationStatus, by_value=True, load_default=None, metadata={"description": "Only those in this status"}
    )
    category = fields.Enum(
        ConversationCategory, by_value=True, load_default=None, metadata={"description": "Only those about this"}
    )
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
    marked = fields.Integer(required=True, metadata={"description": "How many were marked read by this request"})
    unread_count = fields.Integer(required=True, metadata={"description": "Unread notices and broadcasts left"})


class ColleagueSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The officer's id (assign with it)"})
    username = fields.String(required=True, metadata={"description": "The officer's sign-in name"})
    display_name = fields.String(
        required=True, metadata={"description": "The staff user's name as members and colleagues see it"}
    )


class CannedReplyInSchema(StrictSchema):
    title = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "A short title officers pick it by"},
    )
    body_lo = MultiLineText(
        required=True,
        validate=validate.Length(min=1, max=conversation_service.MAX_BODY_CHARS),
        metadata={"description": "Text in Lao"},
    )
    body_en = MultiLineText(
        required=True,
        validate=validate.Length(min=1, max=conversation_service.MAX_BODY_CHARS),
        metadata={"description": "Text in English"},
    )


class CannedReplySchema(CannedReplyInSchema):
    id = fields.Integer(required=True, metadata={"description": "The record's id (stable; use it in URLs)"})
    created_at = fields.DateTime(required=True, metadata={"description": "When it was created (UTC, ISO 8601)"})
    updated_at = fields.DateTime(required=True, metadata={"description": "When it last changed (UTC, ISO 8601)"})


class CannedReplyPageSchema(PageMetaSchema):
    items = fields.List(fields.Nested(CannedReplySchema), required=True, metadata={"description": "This page's items"})
