"""The data payload of every push, and the deep links in it, as one component of the API document (PushData).

The app reads these keys when a push arrives or is tapped; they come from ``notify/delivery.py`` (personal
notices) and ``services/broadcast_delivery.py`` (broadcasts). FCM data values are always strings.
"""

from __future__ import annotations

from typing import Any

from lsso_mobile.notify.templates import CATEGORIES, TEMPLATES
from lsso_mobile.services.broadcast_delivery import BROADCAST_DEEP_LINK


def deep_links() -> list[str]:
    """Every deep link a push may carry, with its {placeholders}."""
    return sorted({template.deep_link for template in TEMPLATES.values()} | {BROADCAST_DEEP_LINK})


def push_data_component() -> dict[str, Any]:
    links = "\n".join(f"- `{link}`" for link in deep_links())
    return {
        "type": "object",
        "description": "The `data` of every push this service sends through FCM (all values are strings). "
        "A personal notice carries notification_id, category, template and deep_link; a broadcast carries "
        "broadcast_id, category and deep_link. The notification's title and body are in the member's "
        "language. The same notice is in the inbox (listNotifications): mark it read with "
        "markNotificationRead (notification_id) or markBroadcastRead (broadcast_id). Pushes of one notice "
        "share a collapse key, so a phone shows the latest only. FCM's 'sent' is not 'delivered': the inbox, "
        "synced with `updated_since`, is the record.",
        "properties": {
            "notification_id": {
                "type": "string",
                "description": "The notice's id in the inbox (personal notices only); digits",
                "example": "42",
            },
            "broadcast_id": {
                "type": "string",
                "description": "The broadcast's id in the inbox (broadcasts only); digits",
                "example": "7",
            },
            "category": {
                "type": "string",
                "enum": list(CATEGORIES),
                "description": "The notice category (members can mute all but critical ones by category)",
                "example": CATEGORIES[0],
            },
            "template": {
                "type": "string",
                "enum": sorted(TEMPLATES),
                "description": "Which notice this is (personal notices only)",
                "example": "registration_approved",
            },
            "deep_link": {
                "type": "string",
                "description": "The app screen to open when the push is tapped; {placeholders} are filled with ids:\n"
                + links,
                "example": "lsso://registration/12",
            },
        },
    }
