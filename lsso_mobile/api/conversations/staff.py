"""The office's inbox (``/api/v1/staff/conversations``): read, assign, reply, note, resolve, reopen."""

from __future__ import annotations

from typing import Any

from lsso_mobile.api.access import OFFICER, Blueprint, client_ip, current_principal, now
from lsso_mobile.api.context import commit, db_session, settings
from lsso_mobile.api.conversations.schemas import (
    ERROR,
    UPLOADS,
    AssignSchema,
    ColleagueSchema,
    InboxArgsSchema,
    InboxPageSchema,
    OverduePageSchema,
    StaffConversationSchema,
    StaffNoteInSchema,
    StaffPostedSchema,
    StaffReplyInSchema,
    StaffThreadSchema,
    SyncArgsSchema,
)
from lsso_mobile.api.conversations.views import (
    conversation_page,
    conversation_views,
    key,
    posted_view,
    replayed,
    thread_page,
)
from lsso_mobile.api.schemas import (
    PageArgsSchema,
    decode_time_cursor,
)
from lsso_mobile.models import ConversationStatus
from lsso_mobile.services import staff_inbox as inbox_service

staff_blp = Blueprint(
    "staff_conversations",
    __name__,
    url_prefix="/api/v1/staff/conversations",
    description="Officers work their office's conversations. " + UPLOADS,
)


@staff_blp.route("", methods=["GET"])
@staff_blp.access(OFFICER)
@staff_blp.arguments(InboxArgsSchema, location="query")
@staff_blp.response(200, InboxPageSchema)
@staff_blp.alt_response(422, response=ERROR, description="Invalid filter or cursor")
def inbox(args: dict[str, Any]) -> Any:
    """Your office's conversations, latest message first; filter by status, category, assignee, overdue."""
    session, staff, moment = db_session(), current_principal(), now()
    filters = inbox_service.InboxFilter(args["status"], args["category"], args["assignee"], args["overdue"])
    items = inbox_service.list_office_conversations(
        session, staff, filters, moment, decode_time_cursor(args["cursor"]), args["limit"] + 1
    )
    return {
        **conversation_page(items, args["limit"], lambda c: c.last_message_at, for_member=False),
        "counts": inbox_service.office_counts(session, staff, moment),
    }


@staff_blp.route("/overdue", methods=["GET"])
@staff_blp.access(OFFICER)
@staff_blp.arguments(PageArgsSchema, location="query")
@staff_blp.response(200, OverduePageSchema)
def overdue(args: dict[str, Any]) -> Any:
    """Open conversations past their due time, longest overdue first."""
    items = inbox_service.list_overdue(
        db_session(), current_principal(), now(), decode_time_cursor(args["cursor"]), args["limit"] + 1
    )
    return conversation_page(items, args["limit"], lambda c: c.reply_due_at, for_member=False)


@staff_blp.route("/assignees", methods=["GET"])
@staff_blp.access(OFFICER)
@staff_blp.response(200, ColleagueSchema(many=True))
def assignees() -> Any:
    """Officers of your office, who conversations can be assigned to."""
    return inbox_service.list_colleagues(db_session(), current_principal())


@staff_blp.route("/<int:conversation_id>", methods=["GET"])
@staff_blp.access(OFFICER)
@staff_blp.response(200, StaffConversationSchema)
@staff_blp.alt_response(404, response=ERROR, description="Not in your office")
def staff_get_conversation(conversation_id: int) -> Any:
    """One conversation of your office."""
    conversation = inbox_service.staff_conversation(db_session(), current_principal(), conversation_id)
    return conversation_views([conversation], for_member=False)[0]


@staff_blp.route("/<int:conversation_id>/messages", methods=["GET"])
@staff_blp.access(OFFICER)
@staff_blp.arguments(SyncArgsSchema, location="query")
@staff_blp.response(200, StaffThreadSchema)
@staff_blp.alt_response(404, response=ERROR, description="Not in your office")
def staff_thread(args: dict[str, Any], conversation_id: int) -> Any:
    """Messages and internal notes, newest first. Reading marks the member's messages read."""
    session, moment = db_session(), now()
    conversation = inbox_service.staff_conversation(session, current_principal(), conversation_id)
    inbox_service.mark_read_by_staff(session, conversation, moment)
    commit()
    return thread_page(conversation, args, for_member=False, moment=moment)


@staff_blp.route("/<int:conversation_id>/assign", methods=["POST"])
@staff_blp.access(OFFICER)
@staff_blp.arguments(AssignSchema)
@staff_blp.response(200, StaffConversationSchema)
@staff_blp.alt_response(404, response=ERROR, description="Not in your office")
@staff_blp.alt_response(422, response=ERROR, description="Not an officer of your office")
def assign(body: dict[str, Any], conversation_id: int) -> Any:
    """Assign to yourself (``me``), a colleague of your office, or nobody (null)."""
    conversation = inbox_service.assign(
        db_session(), current_principal(), conversation_id, body["assignee"], now(), address=client_ip()
    )
    commit()
    return conversation_views([conversation], for_member=False)[0]


def _staff_post(body: dict[str, Any], conversation_id: int, internal: bool) -> Any:
    posted = inbox_service.post_staff_message(
        db_session(),
        settings(),
        current_principal(),
        conversation_id,
        body["body"],
        body.get("canned_reply_id"),
        body["attachment_ids"],
        key(body["idempotency_key"]),
        internal,
        now(),
    )
    commit()
    return replayed(posted_view(posted, for_member=False), posted, 201)


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
    conversation = inbox_service.set_status(
        db_session(),
        settings(),
        current_principal(),
        conversation_id,
        ConversationStatus.RESOLVED,
        now(),
        address=client_ip(),
    )
    commit()
    return conversation_views([conversation], for_member=False)[0]


@staff_blp.route("/<int:conversation_id>/reopen", methods=["POST"])
@staff_blp.access(OFFICER)
@staff_blp.response(200, StaffConversationSchema)
@staff_blp.alt_response(404, response=ERROR, description="Not in your office")
def reopen(conversation_id: int) -> Any:
    """Open again (waiting for the office, with a new due time)."""
    conversation = inbox_service.set_status(
        db_session(),
        settings(),
        current_principal(),
        conversation_id,
        ConversationStatus.OPEN,
        now(),
        address=client_ip(),
    )
    commit()
    return conversation_views([conversation], for_member=False)[0]
