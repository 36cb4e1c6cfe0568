"""The app's side of metrics and logs: request ids, per-route request metrics, the ``/metrics`` endpoint,
and the state probe (queue depths, workers, outbox ages) that the app's and the worker's endpoints share.

``/metrics`` is not public: it answers only callers in ``LSSO_METRICS_NETWORKS`` (the client's address as
the app sees it, so behind ``LSSO_TRUSTED_PROXIES`` a caller from outside is outside), or anyone sending
``Authorization: Bearer <LSSO_METRICS_TOKEN>``; everyone else gets the same 404 as an unknown address.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, request

from lsso_mobile import logs, metrics
from lsso_mobile.config import Settings
from lsso_mobile.runtime import Runtime

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"


def runtime_state(rt: Runtime) -> dict[str, Any]:
    """Queue depths per queue and state, RQ workers alive, the push ready list, the outboxes' oldest due
    item (seconds), the payment review queue (open items, the oldest's age): what the metrics endpoints read
    at scrape time."""
    from sqlalchemy import func, select

    from lsso_mobile.jobs import ALL_QUEUES, RQJobQueue
    from lsso_mobile.models import DispatchStatus, Notification, PaymentReview, ReviewStatus
    from lsso_mobile.models.sms import SmsMessage

    state: dict[str, Any] = {}
    now = datetime.now(UTC)
    assert rt.db.session_factory is not None
    with rt.db.session_factory() as session:
        oldest_notice = session.scalar(
            select(func.min(Notification.deliver_after)).where(
                Notification.dispatch_status == DispatchStatus.PENDING, Notification.deliver_after <= now
            )
        )
        oldest_sms = session.scalar(
            select(func.min(SmsMessage.created_at)).where(
                SmsMessage.sent_at.is_(None), SmsMessage.sealed_text.is_not(None)
            )
        )
        open_reviews = session.scalar(
            select(func.count()).select_from(PaymentReview).where(PaymentReview.status == ReviewStatus.OPEN)
        )
        oldest_review = session.scalar(  # the open item with the lowest id, through (status, id)
            select(PaymentReview.created_at)
            .where(PaymentReview.status == ReviewStatus.OPEN)
            .order_by(PaymentReview.id)
            .limit(1)
        )
    state["outbox"] = {
        "notifications": metrics.seconds_since(oldest_notice, now),
        "sms": metrics.seconds_since(oldest_sms, now),
    }
    state["payment_reviews"] = {"open": int(open_reviews or 0), "oldest": metrics.seconds_since(oldest_review, now)}
    queue = rt.job_queue
    if isinstance(queue, RQJobQueue):
        from rq import Worker

        depths: dict[tuple[str, str], int] = {}
        for name in ALL_QUEUES:
            q = queue.queue(name)
            depths[(name, "queued")] = int(q.count)
            depths[(name, "started")] = int(q.started_job_registry.count)
            depths[(name, "scheduled")] = int(q.scheduled_job_registry.count)
            depths[(name, "failed")] = int(q.failed_job_registry.count)
        state["queues"] = depths
        state["ready"] = int(queue.connection().llen(queue.ready_key("push")))
        ours = f"{rt.settings.queue_prefix}-"
        state["workers"] = sum(
            1
            for w in Worker.all(connection=queue.connection())
            if any(name.startswith(ours) for name in w.queue_names())
        )
    return state


def state_collector(rt: Runtime) -> metrics.StateCollector:
    return metrics.StateCollector(lambda: runtime_state(rt))


def metrics_allowed(settings: Settings, remote_addr: str | None, authorization: str | None) -> bool:
    """The token (compared in constant time) or an address inside one of the allowed networks."""
    if settings.metrics_token and authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), settings.metrics_token.encode()):
            return True
    try:
        address = ipaddress.ip_address((remote_addr or "").split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(n, strict=False) for n in settings.metrics_networks)


def install_observability(app: Flask, settings: Settings, rt: Runtime) -> None:
    registry = metrics.exposition_registry(state_collector(rt))

    @app.before_request
    def _start_request() -> None:
        g.lsso_started = time.perf_counter()
        request_id = logs.accept_request_id(request.headers.get(logs.REQUEST_ID_HEADER))
        g.lsso_request_id = request_id
        g.lsso_request_token = logs.request_id_var.set(request_id)

    @app.after_request
    def _finish_request(response: Response) -> Response:
        request_id = g.get("lsso_request_id")
        if request_id:
            response.headers[logs.REQUEST_ID_HEADER] = request_id
        started = g.get("lsso_started")
        if started is not None and request.path != METRICS_PATH:
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            method = request.method
            metrics.HTTP_REQUESTS.labels(route=route, method=method, status=str(response.status_code)).inc()
            metrics.HTTP_LATENCY.labels(route=route, method=method).observe(time.perf_counter() - started)
        if response.status_code == 429:
            metrics.LIMIT_REFUSALS.labels(error=_error_code(response)).inc()
        return response

    @app.teardown_request
    def _forget_request_id(_exc: BaseException | None) -> None:
        token = g.pop("lsso_request_token", None)
        if token is not None:
            with contextlib.suppress(ValueError):  # set in another context: nothing to undo here
                logs.request_id_var.reset(token)

    @app.get(METRICS_PATH)
    def prometheus_metrics() -> Any:
        if not metrics_allowed(settings, request.remote_addr, request.headers.get("Authorization")):
            from werkzeug.exceptions import NotFound

            raise NotFound()
        return Response(metrics.render(registry), mimetype=None, content_type=metrics.CONTENT_TYPE)

    # Not an API operation: kept out of the OpenAPI document and the API's rules.
    prometheus_metrics._lsso_not_api = True  # type: ignore[attr-defined]


def _error_code(response: Response) -> str:
    if response.is_json:
        body = response.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return str(body["error"])[:48]
    return "too_many_requests"


def start_worker_metrics_server(rt: Runtime, port: int) -> Any:
    """The worker's own endpoint (``LSSO_WORKER_METRICS_PORT``) on ``LSSO_WORKER_METRICS_BIND``: its job,
    push and SMS counters plus the shared state figures. Answers the server, or None when it could not
    bind (logged; the worker works on without it)."""
    from prometheus_client import start_http_server

    registry = metrics.exposition_registry(state_collector(rt))
    try:
        server, _thread = start_http_server(port, addr=rt.settings.worker_metrics_bind, registry=registry)
    except OSError as exc:
        log.error("worker metrics: cannot listen on %s:%s (%s)", rt.settings.worker_metrics_bind, port, exc)
        return None
    log.info("worker metrics on http://%s:%s/metrics", rt.settings.worker_metrics_bind, port)
    return server
