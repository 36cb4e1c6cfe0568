"""Canned replies: an office's saved answers (and national ones) that officers insert by typing /."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lsso_mobile.errors import NotFound
from lsso_mobile.models import (
    CannedReply,
)
from lsso_mobile.services.accounts import Principal
from lsso_mobile.services.conversations import check_body
from lsso_mobile.services.paging import keyset_page
from lsso_mobile.validation import MAX_TITLE_CHARS, required_text


def canned_reply(session: Session, staff: Principal, canned_id: int) -> CannedReply:
    canned = session.get(CannedReply, canned_id)
    if canned is None or canned.office_id != staff.office_id or not canned.active:
        raise NotFound("No such canned reply in your office.", error="canned_reply_not_found")
    return canned


def list_canned_replies(session: Session, staff: Principal, after_id: int | None, limit: int) -> list[CannedReply]:
    query = select(CannedReply).where(CannedReply.office_id == staff.office_id, CannedReply.active.is_(True))
    return list(session.scalars(keyset_page(query, CannedReply.id, after_id, limit)))


def save_canned_reply(
    session: Session, staff: Principal, canned_id: int | None, title: str, body_lo: str, body_en: str, now: datetime
) -> CannedReply:
    if canned_id is None:
        canned = CannedReply(office_id=staff.office_id, created_by=staff.id, created_at=now)
        session.add(canned)
    else:
        canned = canned_reply(session, staff, canned_id)
    canned.title = required_text(title, "title", MAX_TITLE_CHARS)
    canned.body_lo, canned.body_en = check_body(body_lo, "body_lo"), check_body(body_en, "body_en")
    canned.updated_at = now
    session.flush()
    return canned


def delete_canned_reply(session: Session, staff: Principal, canned_id: int, now: datetime) -> None:
    canned = canned_reply(session, staff, canned_id)
    canned.active = False  # kept: sent messages refer to it
    canned.updated_at = now
