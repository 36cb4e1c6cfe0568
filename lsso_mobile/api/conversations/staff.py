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
from lsso_mobile.api.headers import IDEMPOTENT_REPLAYED
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
@staff_blp.doc(operationId="listOfficeConversations")
def inbox(args: dict[str, Any]) -> Any:
    """Your office's conversations, latest message first; filter by status, category, assignee, overdue.

    The console's inbox: Mine (`assignee=me`), Unassigned (`assignee=none`) or All.
    """
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
@staff_blp.doc(operationId="listOverdueConversations")
def overdue(args: dict[str, Any]) -> Any:
    """Open conversations past their due time, longest overdue first.

    Due times count the office's working hours and holidays.
    """
    items = inbox_service.list_overdue(
        db_session(), current_principal(), now(), decode_time_cursor(args["cursor"]), args["limit"] + 1
    )
    return conversation_page(items, args["limit"], lambda c: c.reply_due_at, for_member=False)


@staff_blp.route("/assignees", methods=["GET"])
@staff_blp.access(OFFICER)
@staff_blp.response(200, ColleagueSchema(many=True))
@staff_blp.doc(operationId="listAssignees")
def assignees() -> Any:
    """Officers of your office, who conversations can be assigned to.

    Active officers of the caller's office.
    """
    return inbox_service.list_colleagues(db_session(), current_principal())


@staff_blp.route("/<int:conversation_id>", methods=["GET"])
@staff_blp.access(OFFICER)
@staff_blp.response(200, StaffConversationSchema)
@staff_blp.alt_response(404, response=ERROR, description="Not in your office")
@staff_blp.doc(operationId="getOfficeConversation")
def staff_get_conversation(conversation_id: int) -> Any:
    """One conversation of your office.

    Another office's conversation answers 404.
    """
    conversation = inbox_service.staff_conversation(db_session(), current_principal(), conversation_id)
    return conversation_views([conversation], for_member=False)[0]


@staff_blp.route("/<int:conversation_id>/messages", methods=["GET"])
@staff_blp.access(OFFICER)
@staff_blp.arguments(SyncArgsSchema, location="query")
@staff_blp.response(200, StaffThreadSchema)
@staff_blp.alt_response(404, response=ERROR, description="Not in your office")
@staff_blp.doc(operationId="listOfficeMessages")
def staff_thread(args: dict[str, Any], conversation_id: int) -> Any:
    """Messages and internal notes, newest first. Reading marks the member's messages read.

    Internal notes are included, marked `internal`.
    """
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
@staff_blp.doc(operationId="assignConversation")
def assign(body: dict[str, Any], conversation_id: int) -> Any:
    """Assign to yourself (``me``), a colleague of your office, or nobody (null).

    Recorded in the audit log.
    """
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
@staff_blp.response(201, StaffPostedSchema, headers=IDEMPOTENT_REPLAYED)
@staff_blp.alt_response(404, response=ERROR, description="Not in your office, or no such canned reply")
@staff_blp.alt_response(409, response=ERROR, description="Key used for another message")
@staff_blp.alt_response(422, response=ERROR, description="Give a body or a canned reply; invalid attachment")
@staff_blp.doc(operationId="replyToMember")
def reply(body: dict[str, Any], conversation_id: int) -> Any:
    """Answer the member (pushed to their phone; conversation pending). ``canned_reply_id`` sends a canned
    reply in the member's language. Unassigned conversations are assigned to you.

    Send `idempotency_key` (a UUID made once per message): a retry gets the same message back (with
    `Idempotent-Replayed: true`).
    """
    return _staff_post(body, conversation_id, internal=False)


@staff_blp.route("/<int:conversation_id>/notes", methods=["POST"])
@staff_blp.access(OFFICER)
@staff_blp.arguments(StaffNoteInSchema)
@staff_blp.response(201, StaffPostedSchema, headers=IDEMPOTENT_REPLAYED)
@staff_blp.alt_response(404, response=ERROR, description="Not in your office")
@staff_blp.alt_response(409, response=ERROR, description="Key used for another message")
@staff_blp.alt_response(422, response=ERROR, description="Invalid input or attachment")
@staff_blp.doc(operationId="addInternalNote")
def note(body: dict[str, Any], conversation_id: int) -> Any:
    """An internal note for colleagues; the member never sees it.

    Send `idempotency_key` (a UUID made once per note): a retry gets the same note back.
    """
    body["canned_reply_id"] = None
    return _staff_post(body, conversation_id, internal=True)


@staff_blp.route("/<int:conversation_id>/resolve", methods=["POST"])
@staff_blp.access(OFFICER)
@staff_blp.response(200, StaffConversationSchema)
@staff_blp.alt_response(404, response=ERROR, description="Not in your office")
@staff_blp.doc(operationId="resolveConversation")
def resolve(conversation_id: int) -> Any:
    """Mark resolved; the member writing again opens it again.

    It leaves the open lists; the member is not told.
    """
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
@staff_blp.doc(operationId="reopenConversation")
def reopen(conversation_id: int) -> Any:
    """Open again (waiting for the office, with a new due time).

    For a conversation resolved too early.
    """
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
