"""Jobs that start and send broadcasts (start and deferrals on ``push``, slices on ``broadcast``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from lsso_mobile import runtime
from lsso_mobile.jobs import enqueue_after_commit
from lsso_mobile.models import BroadcastStatus, utcnow
from lsso_mobile.services import broadcast_delivery, broadcasts


def start_broadcast(broadcast_id: int) -> dict[str, Any]:
    """Start a scheduled broadcast whose time has come (once, however often it is called)."""
    rt = runtime.current()
    now = utcnow()
    with rt.db.unit_of_work() as session:
        broadcast = broadcasts.get_broadcast(session, broadcast_id, lock=True)
        if broadcast.status is not BroadcastStatus.SCHEDULED or (broadcast.send_at or now) > now + timedelta(seconds=1):
            return {"started": False, "status": broadcast.status.value}
        slice_ids = broadcasts.start_broadcast(session, broadcast, now, rt.settings.broadcast_slice_devices)
        for slice_id in slice_ids:
            enqueue_after_commit(session, broadcast_delivery.slice_job(slice_id))
    if not slice_ids:
        broadcast_delivery.finish_if_complete(broadcast_id)
    return {"started": True, "slices": len(slice_ids)}


def send_broadcast_slice(slice_id: int) -> dict[str, int]:
    """One slice of a broadcast's devices, resumable from its last committed position."""
    return broadcast_delivery.send_broadcast_slice(slice_id)


def send_broadcast_deferrals(broadcast_id: int) -> dict[str, int]:
    """A broadcast's deferred pushes (quiet hours, FCM's "later") that are due now."""
    return broadcast_delivery.send_broadcast_deferrals(broadcast_id)
