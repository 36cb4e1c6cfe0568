"""Members' push preferences: muted categories and quiet hours, in Asia/Vientiane local time."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from lsso_mobile.errors import InvalidInput
from lsso_mobile.models import NotificationPreference
from lsso_mobile.notify.templates import CATEGORIES, TEMPLATES

VIENTIANE = ZoneInfo("Asia/Vientiane")
CHANNEL_PUSH = "push"  # push, and SMS for a notice that matters when the app does not acknowledge it in time
CHANNEL_SMS = "sms"  # SMS only, no push
CHANNELS = (CHANNEL_PUSH, CHANNEL_SMS)


def quiet_period_end(now: datetime, quiet_start: time | None, quiet_end: time | None) -> datetime | None:
    """If ``now`` (UTC) falls inside the member's quiet hours, the UTC moment they end; else None.

    Quiet hours may span midnight (22:00-06:00). Start == end means no quiet hours.
    """
    if quiet_start is None or quiet_end is None or quiet_start == quiet_end:
        return None
    local = now.astimezone(VIENTIANE)
    clock = local.time().replace(tzinfo=None)
    if quiet_start < quiet_end:
        inside = quiet_start <= clock < quiet_end
        end_day = local.date()
    else:
        inside = clock >= quiet_start or clock < quiet_end
        end_day = local.date() + timedelta(days=1) if clock >= quiet_start else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, quiet_end, tzinfo=VIENTIANE).astimezone(now.tzinfo)


def get_preferences(session: Session, member_id: int) -> NotificationPreference:
    preference = session.get(NotificationPreference, member_id)
    if preference is None:
        preference = NotificationPreference(
            member_id=member_id, muted_categories=[], quiet_start=None, quiet_end=None, channel=CHANNEL_PUSH
        )
    return preference


def mutable_categories() -> list[str]:
    """Categories a member may mute: those with at least one non-critical template, or no template yet."""
    always_critical = {
        category
        for category in CATEGORIES
        if (templates := [t for t in TEMPLATES.values() if t.category == category])
        and all(t.critical for t in templates)
    }
    return [c for c in CATEGORIES if c not in always_critical]


def update_preferences(
    session: Session,
    member_id: int,
    muted_categories: list[str] | None,
    quiet_start: time | None,
    quiet_end: time | None,
    set_quiet: bool,
    channel: str | None = None,
) -> NotificationPreference:
    preference = session.get(NotificationPreference, member_id)
    if preference is None:
        preference = NotificationPreference(member_id=member_id, muted_categories=[], channel=CHANNEL_PUSH)
        session.add(preference)
    if channel is not None:
        if channel not in CHANNELS:
            raise InvalidInput(
                "Unknown notification channel.", error="unknown_channel", errors={"channel": ["Use push or sms."]}
            )
        preference.channel = channel
    if muted_categories is not None:
        unknown = sorted(set(muted_categories) - set(CATEGORIES))
        if unknown:
            raise InvalidInput(
                "Unknown notification categories.",
                error="unknown_category",
                params={"categories": ", ".join(unknown)},
                errors={"muted_categories": [f"Unknown categories: {', '.join(unknown)}."]},
            )
        preference.muted_categories = sorted(set(muted_categories))
    if set_quiet:
        if (quiet_start is None) != (quiet_end is None):
            raise InvalidInput(
                "Give both quiet_start and quiet_end, or neither.",
                error="quiet_hours_incomplete",
                errors={"quiet_end": ["give both or neither"]},
            )
        preference.quiet_start, preference.quiet_end = quiet_start, quiet_end
    session.flush()
    return preference
