"""The composition root: builds the runtime from settings (the one place that picks the job queue and
the push and SMS senders). Used by ``create_app``, ``lsso-mobile worker`` and the CLI."""

from __future__ import annotations

from lsso_mobile.config import Settings
from lsso_mobile.extensions import Database
from lsso_mobile.jobs import InlineJobQueue, JobQueue, RQJobQueue
from lsso_mobile.notify.fcm import PushSender, build_push_sender
from lsso_mobile.runtime import Runtime, install
from lsso_mobile.services.sms import build_sms_sender


def _push_sender(settings: Settings) -> PushSender:
    return build_push_sender(
        settings.push_backend,
        credentials_path=settings.fcm_credentials or None,
        endpoint=settings.fcm_endpoint or None,
        project_id=settings.fcm_project_id or None,
        http_timeout=settings.fcm_http_timeout,
    )


def build_runtime(settings: Settings) -> Runtime:
    queue: JobQueue = RQJobQueue(settings.redis_url, settings.queue_prefix) if settings.uses_redis else InlineJobQueue()
    db = Database()
    db.configure(settings.database_url, job_queue=queue)
    return Runtime(
        settings=settings, db=db, job_queue=queue, push_sender_factory=_push_sender, sms_sender_factory=build_sms_sender
    )


def start_runtime(settings: Settings) -> Runtime:
    """Build the runtime and make it this process's."""
    runtime = build_runtime(settings)
    install(runtime)
    return runtime
