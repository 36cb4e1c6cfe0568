"""Uploading and downloading files for members and for staff: one upload and one download view serve
both, each side with its own access rule."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Response, request

from lsso_mobile.api.access import MEMBER, OFFICER, Blueprint, current_principal, now
from lsso_mobile.api.context import commit, db_session, settings
from lsso_mobile.api.conversations.member import member_blp
from lsso_mobile.api.conversations.schemas import ERROR, MULTIPART_OVERHEAD, AttachmentSchema, UploadSchema
from lsso_mobile.api.conversations.staff import staff_blp
from lsso_mobile.api.headers import file_headers
from lsso_mobile.errors import InvalidInput, PayloadTooLarge
from lsso_mobile.models import Attachment
from lsso_mobile.services import attachments as attachment_service
from lsso_mobile.services.files import EXTENSIONS


def upload_size_limit(view: Callable[..., Any]) -> Callable[..., Any]:
    """Uploads may be larger than other requests (LSSO_ATTACHMENT_MAX_BYTES, not LSSO_MAX_BODY_BYTES), and
    carry the one file part only: other form fields are refused like unknown JSON fields."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        limit = settings().attachment_max_bytes
        if request.content_length is not None and request.content_length > limit + MULTIPART_OVERHEAD:
            raise PayloadTooLarge(
                "The file is larger than {max_bytes} bytes ({max_mb} MB).",
                error="file_too_large",
                params={"max_bytes": limit, "max_mb": limit // (1024 * 1024)},
                errors={"file": [f"At most {limit} bytes."]},
            )
        request.max_content_length = limit + MULTIPART_OVERHEAD
        if request.form:
            raise InvalidInput(
                "Send the file part only.",
                error="only_file_part",
                errors={name: ["Unknown field."] for name in request.form},
            )
        return view(*args, **kwargs)

    return wrapper


ATTACHMENT_CACHE_CONTROL = "private, max-age=86400"  # a stored file never changes


def file_response(attachment: Attachment) -> Response:
    chunks = attachment_service.stream_attachment(settings(), attachment)
    disposition = "inline" if attachment.content_type.startswith("image/") else "attachment"
    # Streamed from the store 64 KB at a time: a 5 MB file is never held whole by the request.
    response = Response(chunks, status=200, content_type=attachment.content_type, direct_passthrough=True)
    response.content_length = attachment.size
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = (
        f'{disposition}; filename="attachment-{attachment.id}.{EXTENSIONS[attachment.content_type]}"'
    )
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = ATTACHMENT_CACHE_CONTROL
    return response


FILE_DESCRIPTION = (
    "The file's bytes with the Content-Type sniffed at upload (image/jpeg, image/png or "
    "application/pdf), X-Content-Type-Options: nosniff and a generated file name, never the "
    "uploader's"
)


UPLOAD_ERRORS = {
    413: "Larger than LSSO_ATTACHMENT_MAX_BYTES, an image of more than LSSO_UPLOAD_MAX_PIXELS pixels, or a PDF "
    "too large to check",
    415: "Not a JPEG, PNG or PDF (by content), one that does not decode or parse, or a PDF with active content; "
    "with the reason",
    422: "No file, or an empty one",
    429: "Too many uploads a minute, or (error `unsent_uploads_quota`) too many files or bytes uploaded and not "
    "yet sent (LSSO_UNSENT_UPLOADS_MAX_FILES, LSSO_UNSENT_UPLOADS_MAX_BYTES); Retry-After",
}


def upload_route(blp: Blueprint) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """What every upload route reads, answers and documents (members' and staff's alike)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        for status, description in UPLOAD_ERRORS.items():
            view = blp.alt_response(status, response=ERROR, description=description)(view)
        view = blp.response(201, AttachmentSchema)(view)
        view = blp.arguments(UploadSchema, location="files")(view)
        return upload_size_limit(view)

    return decorate


def store_upload(files: dict[str, Any], **uploader: int) -> Attachment:
    attachment = attachment_service.upload_attachment(db_session(), settings(), files["file"].read(), now(), **uploader)
    commit()
    return attachment


@member_blp.route("/attachments", methods=["POST"])
@member_blp.access(MEMBER)
@upload_route(member_blp)
@member_blp.doc(operationId="uploadAttachment")
def upload(files: dict[str, Any]) -> Any:
    """Upload one file (multipart/form-data, field ``file``), then send its id with a message.

    Answers with the attachment's id; send it in `attachment_ids` of a message, or as the ID photo of
    `requestOfficerLink`.
    """
    return store_upload(files, member_id=current_principal().id)


@member_blp.route("/attachments/<int:attachment_id>", methods=["GET"])
@member_blp.access(MEMBER)
@member_blp.response(
    200,
    content_type="application/octet-stream",
    description=FILE_DESCRIPTION,
    headers=file_headers("private, max-age=86400"),
)
@member_blp.alt_response(404, response=ERROR, description="Not in your conversations")
@member_blp.doc(operationId="downloadAttachment")
def download(attachment_id: int) -> Any:
    """A file of one of your conversations (or your own upload).

    The file as stored (images re-encoded); cacheable by the phone for a day.
    """
    return file_response(attachment_service.member_attachment(db_session(), current_principal().id, attachment_id))


@staff_blp.route("/attachments", methods=["POST"])
@staff_blp.access(OFFICER)
@upload_route(staff_blp)
@staff_blp.doc(operationId="uploadStaffAttachment")
def staff_upload(files: dict[str, Any]) -> Any:
    """Upload one file (multipart/form-data, field ``file``) to send with a reply or note.

    Answers with the attachment's id to send in `attachment_ids` of a reply or note.
    """
    return store_upload(files, staff_id=current_principal().id)


@staff_blp.route("/attachments/<int:attachment_id>", methods=["GET"])
@staff_blp.access(OFFICER)
@staff_blp.response(
    200,
    content_type="application/octet-stream",
    description=FILE_DESCRIPTION,
    headers=file_headers("private, max-age=86400"),
)
@staff_blp.alt_response(404, response=ERROR, description="Not in your office")
@staff_blp.doc(operationId="downloadStaffAttachment")
def staff_download(attachment_id: int) -> Any:
    """A file of a conversation of your office (or your own upload).

    The file as stored (images re-encoded).
    """
    return file_response(attachment_service.staff_attachment(db_session(), current_principal(), attachment_id))
