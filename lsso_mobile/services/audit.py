"""The audit trail: every officer action leaves one row saying who did it, when, to which record, in which
office and from which address. The services where officers act call ``record_audit`` in the same unit of
work as the change itself, so the row exists exactly when the change does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from lsso_mobile.models import ActorKind, AuditEvent, utcnow
from lsso_mobile.services.accounts import ROLE_CORE, Principal
from lsso_mobile.services.limits import address_key

DETAIL_TEXT_CHARS = 200  # reasons and other texts are cut short: the record itself keeps them whole


def _small(details: dict[str, Any] | None) -> dict[str, Any]:
    small: dict[str, Any] = {}
    for name, value in (details or {}).items():
        if value is None:
            continue
        value = getattr(value, "value", value)  # enums as their values
        if isinstance(value, str) and len(value) > DETAIL_TEXT_CHARS:
            value = value[: DETAIL_TEXT_CHARS - 1] + "…"
        small[name] = value
    return small


def record_audit(
    session: Session,
    actor: Principal | int | None,
    action: str,
    object_type: str,
    object_id: int,
    *,
    office_id: int | None = None,
    details: dict[str, Any] | None = None,
    address: str | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Keep one action in the audit trail.

    ``actor``: the signed-in principal (a staff user, or the core system's client), a staff user's id (for
    services that know only the id), or None for the service itself. ``address`` is the caller's address as
    the API saw it; it is stored as the limits count it (IPv6 by its /64). ``details`` is small: None values
    are left out, enums stored as values, texts cut to DETAIL_TEXT_CHARS.
    """
    if actor is None:
        kind, staff_id = ActorKind.SYSTEM, None
    elif isinstance(actor, int):
        kind, staff_id = ActorKind.STAFF, actor
    elif actor.role == ROLE_CORE:
        kind, staff_id = ActorKind.CORE, None
    elif actor.kind == "staff":
        kind, staff_id = ActorKind.STAFF, actor.id
    else:
        raise ValueError(f"a {actor.kind} is not an actor of the audit trail")
    event = AuditEvent(
        created_at=now or utcnow(),
        actor_staff_id=staff_id,
        actor_kind=kind,
        action=action,
        object_type=object_type,
        object_id=object_id,
        office_id=office_id,
        client_address=address_key(address) if address else None,
        details=_small(details),
    )
    session.add(event)
    return event
