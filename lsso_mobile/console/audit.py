"""The audit log in the console (admins): every staff action with who, when, what and from where; search by
actor, action, object and dates (Vientiane days); pages newest first; the same search as CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import render_template, request

from lsso_mobile.api.access import now
from lsso_mobile.api.context import db_session
from lsso_mobile.api.schemas import decode_cursor, page
from lsso_mobile.api.staff_admin import csv_response
from lsso_mobile.console.auth import admin_page
from lsso_mobile.console.views import PAGE_SIZE, bp
from lsso_mobile.services.audit_log import AuditFilter, audit_csv, audit_names, search_audit

VIENTIANE = ZoneInfo("Asia/Vientiane")


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, "").strip())
    except ValueError:
        return None


def _start_of(day: date | None) -> datetime | None:
    return datetime.combine(day, time(), VIENTIANE).astimezone(UTC) if day else None


def _filters() -> tuple[AuditFilter, dict[str, str]]:
    """The search from the query string; what cannot be read is left out (and shown empty)."""
    text = {name: request.args.get(name, "").strip()[:64] for name in ("actor", "action", "object_type", "object_id")}
    object_id = int(text["object_id"]) if text["object_id"].isdigit() and len(text["object_id"]) < 10 else None
    since, until = _day("since"), _day("until")
    filters = AuditFilter(
        actor=text["actor"] or None,
        action=text["action"] or None,
        object_type=text["object_type"] or None,
        object_id=object_id,
        since=_start_of(since),
        until=_start_of(until + timedelta(days=1)) if until else None,  # the whole last day
    )
    shown = {
        **text,
        "object_id": str(object_id) if object_id else "",
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
    }
    return filters, shown


@bp.route("/admin/audit", methods=["GET"])
@admin_page
def audit_log() -> Any:
    filters, shown = _filters()
    events = search_audit(db_session(), filters, decode_cursor(request.args.get("cursor")), PAGE_SIZE + 1)
    result = page(events, PAGE_SIZE)
    query = {k: v for k, v in shown.items() if v}
    return render_template(
        "console/audit.html",
        events=result["items"],
        names=audit_names(db_session(), result["items"]),
        next_cursor=result["next_cursor"],
        shown=shown,
        query=query,
    )


@bp.route("/admin/audit.csv", methods=["GET"])
@admin_page
def audit_export() -> Any:
    filters, _shown = _filters()
    return csv_response(audit_csv(db_session(), filters), now())
