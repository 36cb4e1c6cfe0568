"""Members' phones: FCM tokens registered by the app, one member per token, capped per member."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lsso_mobile.errors import NotFound
from lsso_mobile.models import Device, Platform


def register_device(
    session: Session,
    member_id: int,
    token: str,
    platform: Platform,
    app_version: str,
    locale: str,
    now: datetime,
    max_devices: int,
    auth_session_id: str | None = None,
) -> tuple[Device, bool]:
    """Register or refresh a token. A token seen on another member's account moves to this one.

    Returns (device, created). Past ``max_devices`` the least recently seen device is switched off.
    """
    device = session.scalars(select(Device).where(Device.token == token).with_for_update()).first()
    created = device is None
    if device is None:
        device = Device(token=token, created_at=now)
        session.add(device)
    device.member_id = member_id
    device.auth_session_id = auth_session_id
    device.platform = platform
    device.app_version = app_version
    device.locale = locale
    device.active = True
    device.last_seen_at = now
    device.deactivated_at = None
    device.deactivated_reason = None
    session.flush()
    active = list(
        session.scalars(
            select(Device)
            .where(Device.member_id == member_id, Device.active.is_(True))
            .order_by(Device.last_seen_at.desc(), Device.id.desc())
        )
    )
    for extra in active[max_devices:]:
        extra.active = False
        extra.deactivated_at = now
        extra.deactivated_reason = "device_cap"
    session.flush()
    return device, created


def list_devices(session: Session, member_id: int) -> list[Device]:
    return list(
        session.scalars(
            select(Device).where(Device.member_id == member_id, Device.active.is_(True)).order_by(Device.id)
        )
    )


def remove_device(session: Session, member_id: int, device_id: int, now: datetime) -> None:
    device = session.get(Device, device_id, with_for_update=True)
    if device is None or device.member_id != member_id or not device.active:
        raise NotFound("No such device on your account.", error="device_not_found")
    device.active = False
    device.deactivated_at = now
    device.deactivated_reason = "removed"
