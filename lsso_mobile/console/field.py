"""Console views for field registrations: the ID photos a promoter or officer took, shown to the reviewing officer
on the registration page (same rule as ``GET /api/v1/field/photos/{id}``: the office's field registrations)."""

from __future__ import annotations

from typing import Any

from flask import g

from lsso_mobile.api.context import db_session
from lsso_mobile.api.conversations.attachments import file_response
from lsso_mobile.console.auth import officer_page
from lsso_mobile.console.views import bp
from lsso_mobile.services import field_registrations as field_service


@bp.app_template_global("field_photo_ids")
def field_photo_ids(application_id: int) -> list[int]:
    """The ids of a field registration's ID photos, for the registration page."""
    return field_service.photos_of(db_session(), [application_id])[application_id]


@bp.route("/field-photos/<int:photo_id>", methods=["GET"])
@officer_page
def field_photo(photo_id: int) -> Any:
    _photo, attachment = field_service.readable_photo(db_session(), g.principal, photo_id)
    response = file_response(attachment)
    response.headers["Cache-Control"] = "private, no-store"  # ID documents: not left on office PCs
    return response
