"""Reading the audit trail (admins): search by actor, action, object and time; pages newest first; CSV export.

The rows are written by ``services.audit.record_audit`` wherever staff act. Pages are keyset pages by id,
newest first (ids grow with time); the export streams the same search in chunks, so a year of events is
never held in memory at once.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from lsso_mobile.models import AuditEvent, Office, StaffUser
from lsso_mobile.services.paging import keyset_page
from lsso_mobile.services.spreadsheet import safe_cell

EXPORT_CHUNK = 1000
EXPORT_MAX_ROWS = 200_000  # one file; narrow the search for more
CSV_COLUMNS = (
    "id",
    "time_utc",
    "actor_kind",
    "actor",
    "action",
    "object_type",
    "object_id",
    "office",
    "address",
    "details",
)


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None  # a staff username (exact, any case)
    action: str | None = None  # an action or its start: "staff." finds every account change
    object_type: str | None = None
    object_id: int | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def _filtered(session: Session, filters: AuditFilter) -> Select[Any] | None:
    statement = select(AuditEvent)
    if filters.actor:
        actor_id = session.scalar(select(StaffUser.id).where(StaffUser.username == filters.actor.strip().lower()))
        if actor_id is None:
            return None
        statement = statement.where(AuditEvent.actor_staff_id == actor_id)
    if filters.action:
        action = filters.action.strip()
        if action.endswith("."):
            escaped = action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            statement = statement.where(AuditEvent.action.like(escaped + "%", escape="\\"))
        else:
            statement = statement.where(AuditEvent.action == action)
    if filters.object_type:
        statement = statement.where(AuditEvent.object_type == filters.object_type)
    if filters.object_id is not None:
        statement = statement.where(AuditEvent.object_id == filters.object_id)
    if filters.since is not None:
        statement = statement.where(AuditEvent.created_at >= filters.since)
    if filters.until is not None:
        statement = statement.where(AuditEvent.created_at < filters.until)
    return statement


def search_audit(session: Session, filters: AuditFilter, after: int | None, limit: int) -> list[AuditEvent]:
    """One page of matching events, newest first, from just past the event id ``after``."""
    statement = _filtered(session, filters)
    if statement is None:
        return []
    return list(session.scalars(keyset_page(statement, AuditEvent.id, after, limit, newest_first=True)))


@dataclass(frozen=True)
class AuditNames:
    actors: dict[int, str]  # staff id -> username
    offices: dict[int, str]  # office id -> code


def audit_names(session: Session, events: list[AuditEvent]) -> AuditNames:
    actor_ids = {e.actor_staff_id for e in events if e.actor_staff_id is not None}
    office_ids = {e.office_id for e in events if e.office_id is not None}
    actors: dict[int, str] = {}
    offices: dict[int, str] = {}
    if actor_ids:
        query = select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(actor_ids))
        actors = {row_id: name for row_id, name in session.execute(query)}
    if office_ids:
        offices = {
            row_id: code
            for row_id, code in session.execute(select(Office.id, Office.code).where(Office.id.in_(office_ids)))
        }
    return AuditNames(actors, offices)


def audit_csv(session: Session, filters: AuditFilter) -> Iterator[str]:
    """The matching events as CSV text, newest first, a chunk of rows at a time (header first)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    yield out.getvalue()
    after: int | None = None
    written = 0
    while written < EXPORT_MAX_ROWS:
        events = search_audit(session, filters, after, min(EXPORT_CHUNK, EXPORT_MAX_ROWS - written))
        if not events:
            return
        names = audit_names(session, events)
        out.seek(0)
        out.truncate()
        for event in events:
            writer.writerow(
                [
                    safe_cell(v)
                    for v in (
                        event.id,
                        event.created_at.isoformat(),
                        event.actor_kind.value,
                        names.actors.get(event.actor_staff_id or 0, ""),
                        event.action,
                        event.object_type,
                        event.object_id,
                        names.offices.get(event.office_id or 0, ""),
                        event.client_address,
                        json.dumps(event.details, ensure_ascii=False, sort_keys=True) if event.details else "",
                    )
                ]
            )
        yield out.getvalue()
        written += len(events)
        after = events[-1].id
        for event in events:
            session.expunge(event)  # a long export keeps no rows in the session
