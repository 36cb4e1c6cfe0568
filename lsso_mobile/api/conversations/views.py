"""Conversations and messages as the API shows them to a member or to staff."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from lsso_mobile.api.access import now
from lsso_mobile.api.context import db_session
from lsso_mobile.api.schemas import SYNC_MARGIN, decode_cursor, encode_time_cursor, page
from lsso_mobile.models import Conversation, ConversationStatus, Message
from lsso_mobile.services import attachments as attachment_service
from lsso_mobile.services import conversations as conversation_service
from lsso_mobile.services.staff import staff_names


def author(message: Message) -> str:
    return "member" if message.member_id is not None else "staff"


def conversation_views(rows: list[Conversation], *, for_member: bool) -> list[dict[str, Any]]:
    session = db_session()
    summaries = conversation_service.conversation_summaries(session, [c.id for c in rows], for_member=for_member)
    codes = conversation_service.office_codes(session, {c.office_id for c in rows})
    moment = now()
    names = {} if for_member else staff_names(session, {c.assignee_id for c in rows})
    views = []
    for c in rows:
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
                "author": ("note" if latest.internal else author(latest)),
                "body": latest.body[: conversation_service.PREVIEW_CHARS],
                "created_at": latest.created_at,
            },
        }
        if not for_member:
            view.update(
                {
                    "member_id": c.member_id,
                    "assignee_id": c.assignee_id,
                    "assignee_name": names.get(c.assignee_id) if c.assignee_id is not None else None,
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


def message_views(messages: list[Message], *, for_member: bool) -> list[dict[str, Any]]:
    attachments = attachment_service.attachments_of(db_session(), [m.id for m in messages])
    names = staff_names(db_session(), {m.staff_id for m in messages})
    views = []
    for m in messages:
        view: dict[str, Any] = {
            "id": m.id,
            "conversation_id": m.conversation_id,
            "author": author(m),
            "author_name": names.get(m.staff_id) if m.staff_id is not None else None,
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


def posted_view(posted: conversation_service.Posted, *, for_member: bool) -> dict[str, Any]:
    return {
        "conversation": conversation_views([posted.conversation], for_member=for_member)[0],
        "message": message_views([posted.message], for_member=for_member)[0],
    }


def replayed(
    body: dict[str, Any], posted: conversation_service.Posted, status: int
) -> tuple[dict[str, Any], int, dict]:
    return body, status, {"Idempotent-Replayed": "true" if posted.replayed else "false"}


def conversation_page(
    items: list[Conversation], limit: int, key: Callable[[Conversation], Any], for_member: bool
) -> dict[str, Any]:
    result = page(items, limit, lambda c: encode_time_cursor(key(c), c.id))
    result["items"] = conversation_views(result["items"], for_member=for_member)
    return result


def key(value: Any) -> str | None:
    return None if value is None else str(value)


def thread_page(
    conversation: Conversation, args: dict[str, Any], *, for_member: bool, moment: datetime
) -> dict[str, Any]:
    """A page of a conversation's messages, newest first (internal notes for staff only)."""
    items = conversation_service.list_messages(
        db_session(),
        conversation.id,
        decode_cursor(args["cursor"]),
        args["updated_since"],
        args["limit"] + 1,
        include_internal=not for_member,
    )
    result = page(items, args["limit"])
    return {
        "conversation": conversation_views([conversation], for_member=for_member)[0],
        "items": message_views(result["items"], for_member=for_member),
        "next_cursor": result["next_cursor"],
        "server_time": moment - SYNC_MARGIN,
    }
