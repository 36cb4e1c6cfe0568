"""Member-office messaging: members write to their office; officers work their office's inbox.

Attachments are uploaded first (``POST .../attachments``, multipart/form-data, one file per request) and
then sent by id with a message (``attachment_ids``, at most 3). A slow upload can be retried on its own,
and a message send stays a small JSON request that is safe to retry with its idempotency key.

The package's modules follow the seams: ``member`` (a member's conversations), ``staff`` (the office's
inbox), ``attachments`` (uploads and downloads for both), ``canned_replies``; ``schemas`` and ``views``
are what they share.
"""

from lsso_mobile.api.conversations import attachments  # noqa: F401 - registers the upload and download routes
from lsso_mobile.api.conversations.canned_replies import canned_blp
from lsso_mobile.api.conversations.member import member_blp
from lsso_mobile.api.conversations.staff import staff_blp

__all__ = ["canned_blp", "member_blp", "staff_blp"]
