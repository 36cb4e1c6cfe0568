"""Members' conversations with their office (``/api/v1/conversations``)."""

from __future__ import annotations

from typing import Any

from lsso_mobile.api.access import MEMBER, Blueprint, current_principal, now
from lsso_mobile.api.context import commit, db_session, settings
from lsso_mobile.api.conversations.schemas import (
    ERROR,
    UPLOADS,
    ConversationPageSchema,
    ConversationSchema,
    MemberMessageInSchema,
    PostedSchema,
    ReadSchema,
    StartConversationSchema,
    SyncArgsSchema,
    ThreadSchema,
)
from lsso_mobile.api.conversations.views import (
    conversation_page,
    conversation_views,
    posted_view,
    replayed,
    thread_page,
)
from lsso_mobile.api.headers import IDEMPOTENT_REPLAYED
from lsso_mobile.api.schemas import (
    SYNC_MARGIN,
    decode_time_cursor,
)
from lsso_mobile.services import conversations as conversation_service

member_blp = Blueprint(
    "conversations",
    __name__,
    url_prefix="/api/v1/conversations",
    description="Members write to their social security office. Every message carries an "
    "`idempotency_key`: a retry returns the first answer. " + UPLOADS,
)


@member_blp.route("", methods=["POST"])
@member_blp.access(MEMBER)
@member_blp.arguments(StartConversationSchema)
@member_blp.response(201, PostedSchema, headers=IDEMPOTENT_REPLAYED)
@member_blp.alt_response(409, response=ERROR, description="Key used for another message, or too many open")
@member_blp.alt_response(422, response=ERROR, description="Invalid input, unknown office or attachment")
@member_blp.alt_response(429, response=ERROR, description="Too many messages a minute (Retry-After)")
@member_blp.doc(operationId="startConversation")
def start_conversation(body: dict[str, Any]) -> Any:
    """Write to the office (your own unless you give ``office_code``) about a subject; attachments by id.

    Send `idempotency_key` (a UUID made once per message): a retry after a lost answer gets the same conversation back
    (with `Idempotent-Replayed: true`), never a second one.
    """
    posted = conversation_service.start_conversation(
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
    return replayed(posted_view(posted, for_member=True), posted, 201)


@member_blp.route("", methods=["GET"])
@member_blp.access(MEMBER)
@member_blp.arguments(SyncArgsSchema, location="query")
@member_blp.response(200, ConversationPageSchema)
@member_blp.doc(operationId="listConversations")
def list_conversations(args: dict[str, Any]) -> Any:
    """Your conversations, latest message first, with unread counts; ``updated_since`` for delta sync.

    For delta sync pass the previous answer's `server_time` as `updated_since`.
    """
    server_time = now() - SYNC_MARGIN
    items = conversation_service.list_member_conversations(
        db_session(),
        current_principal().id,
        decode_time_cursor(args["cursor"]),
        args["updated_since"],
        args["limit"] + 1,
    )
    return {
        **conversation_page(items, args["limit"], lambda c: c.last_message_at, for_member=True),
        "server_time": server_time,
    }


@member_blp.route("/<int:conversation_id>", methods=["GET"])
@member_blp.access(MEMBER)
@member_blp.response(200, ConversationSchema)
@member_blp.alt_response(404, response=ERROR, description="Not your conversation")
@member_blp.doc(operationId="getConversation")
def get_conversation(conversation_id: int) -> Any:
    """One of your conversations.

    Another member's conversation answers 404.
    """
    conversation = conversation_service.member_conversation(db_session(), current_principal().id, conversation_id)
    return conversation_views([conversation], for_member=True)[0]


@member_blp.route("/<int:conversation_id>/messages", methods=["GET"])
@member_blp.access(MEMBER)
@member_blp.arguments(SyncArgsSchema, location="query")
@member_blp.response(200, ThreadSchema)
@member_blp.alt_response(404, response=ERROR, description="Not your conversation")
@member_blp.alt_response(422, response=ERROR, description="Invalid cursor or arguments")
@member_blp.doc(operationId="listMessages")
def get_thread(args: dict[str, Any], conversation_id: int) -> Any:
    """The messages, newest first (``cursor`` pages back); ``read_at`` on yours says the office read it.

    Internal notes of the office never appear here.
    """
    moment = now()
    conversation = conversation_service.member_conversation(db_session(), current_principal().id, conversation_id)
    return thread_page(conversation, args, for_member=True, moment=moment)


@member_blp.route("/<int:conversation_id>/messages", methods=["POST"])
@member_blp.access(MEMBER)
@member_blp.arguments(MemberMessageInSchema)
@member_blp.response(201, PostedSchema, headers=IDEMPOTENT_REPLAYED)
@member_blp.alt_response(404, response=ERROR, description="Not your conversation")
@member_blp.alt_response(409, response=ERROR, description="Key used for another message")
@member_blp.alt_response(422, response=ERROR, description="Invalid input or attachment")
@member_blp.alt_response(429, response=ERROR, description="Too many messages a minute (Retry-After)")
@member_blp.doc(operationId="sendMessage")
def send_message(body: dict[str, Any], conversation_id: int) -> Any:
    """Write in a conversation; a pending or resolved conversation opens again.

    Send `idempotency_key` (a UUID made once per message): a retry after a lost answer gets the same message back (with
    `Idempotent-Replayed: true`), never a second one.
    """
    posted = conversation_service.post_member_message(
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
    return replayed(posted_view(posted, for_member=True), posted, 201)


@member_blp.route("/<int:conversation_id>/read", methods=["POST"])
@member_blp.access(MEMBER)
@member_blp.response(200, ReadSchema)
@member_blp.alt_response(404, response=ERROR, description="Not your conversation")
@member_blp.doc(operationId="markConversationRead")
def mark_read(conversation_id: int) -> Any:
    """Mark the office's messages in this conversation read.

    Clears the conversation's unread count.
    """
    session = db_session()
    marked = conversation_service.mark_read_by_member(session, current_principal().id, conversation_id, now())
    commit()
    return {"marked": marked, "unread_count": conversation_service.unread_for_member(session, conversation_id)}
