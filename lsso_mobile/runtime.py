"""The process-wide runtime: settings and the handles jobs need outside a request.

``lsso_mobile.bootstrap.build_runtime`` builds one for ``create_app``, the worker and the CLI, and
``install`` makes it this process's; code that runs outside a request asks for it with ``current()``.
One process serves one configuration, so one runtime is enough. This module sits at the bottom of the
layers: the push and SMS senders are built by factories handed in by the bootstrap, so it imports
nothing from notify or services.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lsso_mobile.config import Settings
from lsso_mobile.extensions import Database
from lsso_mobile.jobs import JobQueue

if TYPE_CHECKING:  # types only: no import at run time, so no upward dependency
    from lsso_mobile.notify.fcm import PushSender
    from lsso_mobile.services.sms import SmsSender


@dataclass
class Runtime:
    settings: Settings
    db: Database
    job_queue: JobQueue
    push_sender_factory: Callable[[Settings], PushSender] = field(repr=False)
    sms_sender_factory: Callable[[Settings], SmsSender] = field(repr=False)
    _push_sender: Any = field(default=None, repr=False)
    _sms_sender: Any = field(default=None, repr=False)

    @property
    def push_sender(self) -> PushSender:
        if self._push_sender is None:
            self._push_sender = self.push_sender_factory(self.settings)
        return self._push_sender

    @property
    def sms_sender(self) -> SmsSender:
        if self._sms_sender is None:
            self._sms_sender = self.sms_sender_factory(self.settings)
        return self._sms_sender

    def close(self) -> None:
        if self._push_sender is not None and hasattr(self._push_sender, "close"):
            self._push_sender.close()
        self.db.dispose()


_current: Runtime | None = None


def install(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("no lsso-mobile runtime in this process (create_app or the worker builds one)")
    return _current
