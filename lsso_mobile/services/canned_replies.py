"""Canned replies: an office's saved answers, in Lao and English, that officers insert by typing /.

Officers keep their own office's replies (``/api/v1/staff/canned-replies``); admins keep every office's in the
console. Both go through ``_write`` here, so one rule holds everywhere: within an office the active replies have
different titles (the officer's picker chooses by title) and there are at most MAX_ACTIVE_PER_OFFICE of them (the
picker lists them all). A reply is never deleted, only retired (sent messages refer to it); an admin can restore
it. Every change is in the audit trail (``canned_reply.*``). The model has no national replies: each belongs to
one office.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lsso_mobile.errors import Conflict, InvalidInput, NotFound
from lsso_mobile.models import CannedReply, Office
from lsso_mobile.services.accounts import Principal
from lsso_mobile.services.audit import record_audit
from lsso_mobile.services.conversations import check_body
from lsso_mobile.services.locking import locked
from lsso_mobile.services.paging import keyset_page
from lsso_mobile.validation import MAX_TITLE_CHARS, required_text

MAX_ACTIVE_PER_OFFICE = 100  # the officer's picker lists every active reply of the office
STATES = ("active", "retired", "all")


def canned_reply(session: Session, staff: Principal, canned_id: int) -> CannedReply:
    """An active reply of the officer's own office (404 for any other, retired ones included)."""
    canned = session.get(CannedReply, canned_id)
    if canned is None or canned.office_id != staff.office_id or not canned.active:
        raise NotFound("No such canned reply in your office.", error="canned_reply_not_found")
    return canned


def list_canned_replies(session: Session, staff: Principal, after_id: int | None, limit: int) -> list[CannedReply]:
    """The officer's office's active replies: exactly what its officers can send."""
    query = select(CannedReply).where(CannedReply.office_id == staff.office_id, CannedReply.active.is_(True))
    return list(session.scalars(keyset_page(query, CannedReply.id, after_id, limit)))


def _title_taken(session: Session, office_id: int, title: str, other_than: int | None) -> bool:
    query = select(CannedReply.id).where(
        CannedReply.office_id == office_id,
        CannedReply.active.is_(True),
        func.lower(CannedReply.title) == title.lower(),
    )
    if other_than is not None:
        query = query.where(CannedReply.id != other_than)
    return session.scalar(query.limit(1)) is not None


def _one_writer_per_office(session: Session, office_id: int) -> None:
    """Hold the office's row until commit: its replies' unique titles and limit are checked and then written,
    so two saves for one office (an officer through the API, an admin in the console) take turns."""
    locked(session, select(Office).where(Office.id == office_id))


def _check_room(session: Session, office_id: int) -> None:
    active = session.scalar(
        select(func.count()).where(CannedReply.office_id == office_id, CannedReply.active.is_(True))
    )
    if (active or 0) >= MAX_ACTIVE_PER_OFFICE:
        raise Conflict(
            "This office already has {max} canned replies; retire one first.",
            error="canned_reply_limit",
            params={"max": MAX_ACTIVE_PER_OFFICE},
        )


def _write(
    session: Session,
    actor: Principal | None,
    office_id: int,
    canned: CannedReply | None,
    texts: tuple[str, str, str],
    now: datetime,
    address: str | None,
) -> CannedReply:
    title = required_text(texts[0], "title", MAX_TITLE_CHARS)
    body_lo, body_en = check_body(texts[1], "body_lo"), check_body(texts[2], "body_en")
    _one_writer_per_office(session, office_id)
    if _title_taken(session, office_id, title, canned.id if canned else None):
        raise Conflict(
            "This office already has a canned reply with this title.",
            error="canned_reply_title_taken",
            errors={"title": ["This office already has a canned reply with this title."]},
        )
    if canned is None:
        _check_room(session, office_id)
        canned = CannedReply(office_id=office_id, created_by=actor.id if actor else None, created_at=now, active=True)
        session.add(canned)
    canned.title, canned.body_lo, canned.body_en = title, body_lo, body_en
    canned.updated_at = now
    session.flush()
    return canned


def _audit(
    session: Session,
    actor: Principal | None,
    action: str,
    canned: CannedReply,
    now: datetime,
    address: str | None,
) -> None:
    record_audit(
        session,
        actor,
        f"canned_reply.{action}",
        "canned_reply",
        canned.id,
        office_id=canned.office_id,
        details={"title": canned.title},
        address=address,
        now=now,
    )


def save_canned_reply(
    session: Session,
    staff: Principal,
    canned_id: int | None,
    title: str,
    body_lo: str,
    body_en: str,
    now: datetime,
    *,
    address: str | None = None,
) -> CannedReply:
    """An officer creates (``canned_id`` None) or changes a reply of their own office."""
    canned = canned_reply(session, staff, canned_id) if canned_id is not None else None
    office_id = canned.office_id if canned else staff.office_id
    if office_id is None:
        raise NotFound("No such canned reply in your office.", error="canned_reply_not_found")
    saved = _write(session, staff, office_id, canned, (title, body_lo, body_en), now, address)
    _audit(session, staff, "create" if canned is None else "update", saved, now, address)
    return saved


def delete_canned_reply(
    session: Session, staff: Principal, canned_id: int, now: datetime, *, address: str | None = None
) -> None:
    """An officer retires a reply of their own office (kept: sent messages refer to it)."""
    canned = canned_reply(session, staff, canned_id)
    canned.active = False
    canned.updated_at = now
    _audit(session, staff, "retire", canned, now, address)


# -- admins: every office ------------------------------------------------------------------------------


def office_canned_replies(
    session: Session, office_id: int | None, state: str, after_id: int | None, limit: int
) -> list[CannedReply]:
    """Replies of one office (or of every office: ``office_id`` None), active, retired or all, by id."""
    query = select(CannedReply)
    if office_id is not None:
        query = query.where(CannedReply.office_id == office_id)
    if state in ("active", "retired"):
        query = query.where(CannedReply.active.is_(state == "active"))
    return list(session.scalars(keyset_page(query, CannedReply.id, after_id, limit)))


def any_canned_reply(session: Session, canned_id: int) -> CannedReply:
    canned = session.get(CannedReply, canned_id)
    if canned is None:
        raise NotFound("No such canned reply.", error="canned_reply_not_found")
    return canned


def admin_save_canned_reply(
    session: Session,
    admin: Principal,
    office_id: int | None,
    canned_id: int | None,
    texts: tuple[str, str, str],
    now: datetime,
    *,
    address: str | None = None,
) -> CannedReply:
    """An admin creates a reply for ``office_id`` (``canned_id`` None) or changes any office's active reply.
    ``texts`` is (title, Lao text, English text)."""
    if canned_id is None:
        if office_id is None or session.get(Office, office_id) is None:
            raise InvalidInput(
                "Choose the office this canned reply is for.",
                error="canned_reply_office_missing",
                errors={"office_code": ["Choose the office this canned reply is for."]},
            )
        canned = None
    else:
        canned = any_canned_reply(session, canned_id)
        if not canned.active:
            raise Conflict("Restore this canned reply before changing it.", error="canned_reply_retired")
        office_id = canned.office_id
    saved = _write(session, admin, office_id, canned, texts, now, address)
    _audit(session, admin, "create" if canned is None else "update", saved, now, address)
    return saved


def set_canned_reply_active(
    session: Session, admin: Principal, canned_id: int, active: bool, now: datetime, *, address: str | None = None
) -> CannedReply:
    """Retire a reply (officers no longer see it) or restore it (its title must still be free in its office)."""
    canned = any_canned_reply(session, canned_id)
    if canned.active == active:
        return canned
    if active:
        _one_writer_per_office(session, canned.office_id)
        if _title_taken(session, canned.office_id, canned.title, canned.id):
            raise Conflict("This office already has a canned reply with this title.", error="canned_reply_title_taken")
        _check_room(session, canned.office_id)
    canned.active = active
    canned.updated_at = now
    session.flush()
    _audit(session, admin, "restore" if active else "retire", canned, now, address)
    return canned
