"""The process-wide runtime: settings and the handles jobs need outside a request.

``create_app`` and ``lsso-mobile worker`` each build one; a job function asks for it with
``current()``. One process serves one configuration, so one runtime is enough.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lsso_mobile.config import Settings
from lsso_mobile.extensions import Database
from lsso_mobile.jobs import InlineJobQueue, JobQueue, RQJobQueue

if TYPE_CHECKING:
    from lsso_mobile.notify.fcm import PushSender
    from lsso_mobile.services.sms import SmsSender


@dataclass
class Runtime:
    settings: Settings
    db: Database
    job_queue: JobQueue
    _push_sender: Any = field(default=None, repr=False)
    _sms_sender: Any = field(default=None, repr=False)

    @property
    def push_sender(self) -> PushSender:
        if self._push_sender is None:
            from lsso_mobile.notify.fcm import build_push_sender

            s = self.settings
            self._push_sender = build_push_sender(
                s.push_backend,
                credentials_path=s.fcm_credentials or None,
                endpoint=s.fcm_endpoint or None,
                project_id=s.fcm_project_id or None,
                http_timeout=s.fcm_http_timeout,
            )
        return self._push_sender

    @property
    def sms_sender(self) -> SmsSender:
        if self._sms_sender is None:
            from lsso_mobile.services.sms import build_sms_sender

            self._sms_sender = build_sms_sender(self.settings)
        return self._sms_sender

    def close(self) -> None:
        if self._push_sender is not None and hasattr(self._push_sender, "close"):
            self._push_sender.close()
        self.db.dispose()


_current: Runtime | None = None


def build_runtime(settings: Settings) -> Runtime:
    db = Database()
    db.configure(settings.database_url)
    queue: JobQueue = RQJobQueue(settings.redis_url, settings.queue_prefix) if settings.uses_redis else InlineJobQueue()
    return Runtime(settings=settings, db=db, job_queue=queue)


def install(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("no lsso-mobile runtime in this process (create_app or the worker builds one)")
    return _current
