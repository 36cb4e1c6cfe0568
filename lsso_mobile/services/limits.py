"""Limits counted from rows already in the database (no Redis needed on the request path)."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lsso_mobile.errors import TooManyRequests


def check_window_limit(
    session: Session,
    created_at: Any,
    condition: Any,
    limit: int,
    window: timedelta,
    now: datetime,
    message: str,
    error: str = "too_many_requests",
) -> None:
    """Raise 429 (with Retry-After) if ``limit`` rows matching ``condition`` were created within ``window``."""
    count, oldest = session.execute(
        select(func.count(), func.min(created_at)).where(condition, created_at > now - window)
    ).one()
    if count >= limit:
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
        raise TooManyRequests(message, retry_after=int((oldest + window - now).total_seconds()) + 1, error=error)


def address_key(address: str) -> str:
    """The address an abuser cannot cheaply change: IPv4 as it is, IPv6 by its /64 (one subscriber's block).

    Every limit that counts callers by address uses this, so rotating within a /64 buys nothing.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
