"""Canned replies (``/api/v1/staff/canned-replies``)."""

from __future__ import annotations

from typing import Any

from lsso_mobile.api.access import OFFICER, Blueprint, client_ip, current_principal, now
from lsso_mobile.api.context import commit, db_session
from lsso_mobile.api.conversations.schemas import ERROR, CannedReplyInSchema, CannedReplyPageSchema, CannedReplySchema
from lsso_mobile.api.schemas import (
    PageArgsSchema,
    decode_cursor,
    page,
)
from lsso_mobile.services import canned_replies as canned_service

canned_blp = Blueprint(
    "canned_replies",
    __name__,
    url_prefix="/api/v1/staff/canned-replies",
    description="Prepared answers of the officer's office, in Lao and English",
)


@canned_blp.route("", methods=["GET"])
@canned_blp.access(OFFICER)
@canned_blp.arguments(PageArgsSchema, location="query")
@canned_blp.response(200, CannedReplyPageSchema)
@canned_blp.doc(operationId="listCannedReplies")
def list_canned(args: dict[str, Any]) -> Any:
    """Your office's canned replies.

    Each in Lao and English; a reply sends the member's language.
    """
    return page(
        canned_service.list_canned_replies(
            db_session(), current_principal(), decode_cursor(args["cursor"]), args["limit"] + 1
        ),
        args["limit"],
    )


@canned_blp.route("", methods=["POST"])
@canned_blp.access(OFFICER)
@canned_blp.arguments(CannedReplyInSchema)
@canned_blp.response(201, CannedReplySchema)
@canned_blp.alt_response(409, response=ERROR, description="The title is taken in your office, or the office is full")
@canned_blp.alt_response(422, response=ERROR, description="Invalid input")
@canned_blp.doc(operationId="createCannedReply")
def create_canned(body: dict[str, Any]) -> Any:
    """A new canned reply for your office, in Lao and English.

    Titles are unique among the office's active replies (409 otherwise); an office has at most 100.
    Audited as ``canned_reply.create``.
    """
    canned = canned_service.save_canned_reply(
        db_session(),
        current_principal(),
        None,
        body["title"],
        body["body_lo"],
        body["body_en"],
        now(),
        address=client_ip(),
    )
    commit()
    return canned


@canned_blp.route("/<int:canned_id>", methods=["PUT"])
@canned_blp.access(OFFICER)
@canned_blp.arguments(CannedReplyInSchema)
@canned_blp.response(200, CannedReplySchema)
@canned_blp.alt_response(404, response=ERROR, description="Not in your office")
@canned_blp.alt_response(409, response=ERROR, description="The title is taken in your office")
@canned_blp.alt_response(422, response=ERROR, description="Invalid input")
@canned_blp.doc(operationId="updateCannedReply")
def edit_canned(body: dict[str, Any], canned_id: int) -> Any:
    """Change a canned reply.

    The whole canned reply is sent again (PUT).
    """
    canned = canned_service.save_canned_reply(
        db_session(),
        current_principal(),
        canned_id,
        body["title"],
        body["body_lo"],
        body["body_en"],
        now(),
        address=client_ip(),
    )
    commit()
    return canned


@canned_blp.route("/<int:canned_id>", methods=["DELETE"])
@canned_blp.access(OFFICER)
@canned_blp.response(204)
@canned_blp.alt_response(404, response=ERROR, description="Not in your office")
@canned_blp.doc(operationId="deleteCannedReply")
def delete_canned(canned_id: int) -> None:
    """Retire a canned reply (messages already sent keep their text; an admin can restore it).

    Another office's canned reply answers 404.
    """
    canned_service.delete_canned_reply(db_session(), current_principal(), canned_id, now(), address=client_ip())
    commit()
