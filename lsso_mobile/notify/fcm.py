"""Sending pushes: through FCM with the real firebase-admin SDK, or as a log line per push.

The sender never retries by itself (unless asked): each push gets a PushResult saying what the
caller does next (deactivate the token, retry later honouring ``retry_after_seconds``, give up).
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import firebase_admin
import requests
from firebase_admin import credentials, exceptions, messaging
from google.auth import credentials as google_credentials
from google.auth import exceptions as google_exceptions
from google.auth.transport import requests as google_requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from lsso_mobile import metrics

log = logging.getLogger(__name__)

FCM_BASE_URL = "https://fcm.googleapis.com"
MAX_BATCH = 500  # FCM's limit for one send_each call
MAX_TTL_SECONDS = 28 * 24 * 3600

# Once on a failed connect (nothing was sent); never after a request went out (read error,
# timeout, 429/5xx), where a resend could push twice: the caller's queue decides.
_NO_SDK_RETRIES = Retry(
    total=None, connect=1, read=False, redirect=0, status=0, other=0, respect_retry_after_header=False
)


@dataclass(frozen=True)
class PushMessage:
    token: str
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)
    collapse_key: str | None = None  # Android: FCM keeps only the newest undelivered message with this key
    # Android notification tag and APNs collapse id: a second push with the same tag replaces the first on the
    # phone (one per notice or broadcast, so a repeat after a crash never shows twice). At most 64 bytes.
    tag: str | None = None
    ttl_seconds: int = MAX_TTL_SECONDS
    badge: int | None = None  # APNs badge
    priority: Literal["high", "normal"] = "high"

    def __post_init__(self) -> None:
        if not self.token:
            raise ValueError("PushMessage.token must not be empty")
        if not 0 <= self.ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError(f"PushMessage.ttl_seconds must be between 0 and {MAX_TTL_SECONDS}")
        if self.priority not in ("high", "normal"):
            raise ValueError('PushMessage.priority must be "high" or "normal"')


class PushOutcome(StrEnum):
    SENT = "sent"
    UNREGISTERED = "unregistered"  # the token is dead: deactivate it
    RETRY = "retry"  # quota, unavailable, internal, transport: retry later
    FAILED = "failed"  # invalid argument, sender-id mismatch, third-party auth: permanent


@dataclass(frozen=True)
class PushResult:
    token: str
    outcome: PushOutcome
    message_id: str | None = None
    error_code: str | None = None  # "UNREGISTERED", "QUOTA_EXCEEDED", ... or the SDK's error code
    retry_after_seconds: float | None = None


class PushSender(Protocol):
    def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        """Send each message; one result per message, in the same order."""
        ...


class LogPushSender:
    """Logs one line per push instead of sending it (no FCM credentials: dev and demo)."""

    def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        results = []
        for message in messages:
            message_id = f"log/{uuid.uuid4().hex}"
            log.info("push logged, not sent: token=%s… title=%r id=%s", message.token[:8], message.title, message_id)
            results.append(PushResult(message.token, PushOutcome.SENT, message_id))
        return results


class StaticTokenCredentials(google_credentials.Credentials):
    """A fixed bearer token, for a test or staging FCM endpoint only.

    ``AnonymousCredentials`` sends no token and raises in ``refresh()``, so a 401 from the server
    aborts the whole batch as one UnknownError; with this one each push gets its own error.
    """

    def __init__(self, token: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._static_token = token

    def refresh(self, request: Any) -> None:
        self.token = self._static_token


class FcmPushSender:
    """Sends through FCM (or an FCM-compatible ``endpoint``) with firebase-admin's ``send_each``."""

    def __init__(
        self,
        *,
        credentials_path: str | None = None,
        endpoint: str | None = None,
        project_id: str | None = None,
        http_timeout: float = 10.0,
        app_name: str | None = None,
        sdk_retries: bool = False,
    ) -> None:
        credential: credentials.Base | google_credentials.Credentials
        if credentials_path:
            credential = credentials.Certificate(credentials_path)
        elif endpoint:
            credential = StaticTokenCredentials("lsso-local")
            project_id = project_id or "lsso-local"
        else:
            raise ValueError("FCM needs a service-account credentials file (or an endpoint for a test server)")
        options: dict[str, object] = {"httpTimeout": http_timeout}
        if project_id:
            options["projectId"] = project_id
        self._auth_request = google_requests.Request()
        name = app_name or f"lsso-fcm-{uuid.uuid4().hex[:12]}"
        self._app = firebase_admin.initialize_app(credential, options, name=name)
        try:
            point_messaging_at(self._app, endpoint or FCM_BASE_URL, sdk_retries=sdk_retries)
        except Exception:
            firebase_admin.delete_app(self._app)
            raise

    @property
    def app(self) -> firebase_admin.App:
        return self._app

    def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        results: list[PushResult] = []
        for start in range(0, len(messages), MAX_BATCH):
            results.extend(self._send_chunk(messages[start : start + MAX_BATCH]))
        return results

    def close(self) -> None:
        firebase_admin.delete_app(self._app)

    def _ensure_access_token(self) -> None:
        """Refresh an expired OAuth2 token once, here, rather than in each of send_each's threads."""
        credential = self._app.credential.get_credential()
        if not credential.valid:
            credential.refresh(self._auth_request)

    def _send_chunk(self, chunk: Sequence[PushMessage]) -> list[PushResult]:
        now = time.time()
        try:
            self._ensure_access_token()
        except google_exceptions.GoogleAuthError:
            log.exception("FCM access token refresh failed")
            return [PushResult(m.token, PushOutcome.RETRY, error_code="UNAUTHENTICATED") for m in chunk]
        started = time.perf_counter()
        try:
            batch = messaging.send_each([to_fcm_message(m, now) for m in chunk], app=self._app)
        except ValueError:
            # The SDK validates every message before sending any: isolate the bad one.
            if len(chunk) == 1:
                return [PushResult(chunk[0].token, PushOutcome.FAILED, error_code="INVALID_ARGUMENT")]
            return [result for m in chunk for result in self._send_chunk([m])]
        except exceptions.FirebaseError as error:  # the whole batch failed (e.g. no threads)
            metrics.FCM_CALLS.labels(result="error").inc()
            metrics.FCM_CALL_SECONDS.observe(time.perf_counter() - started)
            return [_failure(m.token, error) for m in chunk]
        metrics.FCM_CALLS.labels(result="ok").inc()
        metrics.FCM_CALL_SECONDS.observe(time.perf_counter() - started)
        return [
            PushResult(m.token, PushOutcome.SENT, r.message_id) if r.success else _failure(m.token, r.exception)
            for m, r in zip(chunk, batch.responses, strict=True)
        ]


def to_fcm_message(message: PushMessage, now: float) -> messaging.Message:
    apns_headers = {
        # APNs wants an absolute expiry; "0" means deliver now or never, like an Android TTL of 0.
        "apns-expiration": str(int(now) + message.ttl_seconds) if message.ttl_seconds else "0",
        "apns-priority": "10" if message.priority == "high" else "5",
    }
    collapse_id = message.tag or message.collapse_key
    if collapse_id:
        apns_headers["apns-collapse-id"] = collapse_id[:64]
    apns_payload = None if message.badge is None else messaging.APNSPayload(aps=messaging.Aps(badge=message.badge))
    fcm_message = messaging.Message(
        notification=messaging.Notification(title=message.title, body=message.body),
        data=dict(message.data) or None,
        android=messaging.AndroidConfig(
            collapse_key=message.collapse_key,
            ttl=timedelta(seconds=message.ttl_seconds),
            priority=message.priority,
            notification=messaging.AndroidNotification(tag=message.tag) if message.tag else None,
        ),
        apns=messaging.APNSConfig(headers=apns_headers, payload=apns_payload),
    )
    # firebase-admin 7.7 deprecates the `token` argument for `fid` (Firebase installation IDs).
    # Our apps register FCM registration tokens, which FCM still takes as `token`: setting the
    # documented attribute avoids one DeprecationWarning per message.
    fcm_message.token = message.token
    return fcm_message


# Most specific classes first: UnregisteredError is a NotFoundError, QuotaExceededError a
# ResourceExhaustedError, and so on.
_ERRORS: tuple[tuple[type[exceptions.FirebaseError], PushOutcome, str], ...] = (
    (messaging.UnregisteredError, PushOutcome.UNREGISTERED, "UNREGISTERED"),
    (messaging.QuotaExceededError, PushOutcome.RETRY, "QUOTA_EXCEEDED"),
    (messaging.SenderIdMismatchError, PushOutcome.FAILED, "SENDER_ID_MISMATCH"),
    (messaging.ThirdPartyAuthError, PushOutcome.FAILED, "THIRD_PARTY_AUTH_ERROR"),
    (exceptions.InvalidArgumentError, PushOutcome.FAILED, "INVALID_ARGUMENT"),
    (exceptions.UnavailableError, PushOutcome.RETRY, "UNAVAILABLE"),
    (exceptions.InternalError, PushOutcome.RETRY, "INTERNAL"),
)


def _failure(token: str, error: BaseException | None) -> PushResult:
    """Anything not listed in _ERRORS (UnknownError, timeouts, 401, ...) is retried later."""
    for error_type, outcome, code in _ERRORS:
        if isinstance(error, error_type):
            return PushResult(token, outcome, None, code, _retry_after_seconds(error))
    code = error.code.upper() if isinstance(error, exceptions.FirebaseError) else "UNKNOWN"
    return PushResult(token, PushOutcome.RETRY, None, code, _retry_after_seconds(error))


def _retry_after_seconds(error: BaseException | None) -> float | None:
    response = getattr(error, "http_response", None)
    value = (response.headers.get("Retry-After") or "").strip() if response is not None else ""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def point_messaging_at(app: firebase_admin.App, endpoint: str, *, sdk_retries: bool = False) -> None:
    """Send ``app``'s FCM requests to ``endpoint`` (a base URL such as ``http://127.0.0.1:8123`` or
    FCM_BASE_URL) and choose whether the SDK retries 5xx/429 by itself.

    firebase-admin 7.7 has no setting for either. Its messaging service builds full URLs once, in
    ``_fcm_url`` (messages:send) and ``_fcm_topic_url`` (topic registrations), and its requests
    session carries an adapter with ``_http_client.DEFAULT_RETRY_CONFIG`` (4 retries on 500/503,
    and 429/503 with Retry-After, sleeping in between). We rebase both URLs on ``endpoint`` and
    mount our own adapter there, with a pool as large as a batch: the SDK sends a batch on up to
    500 threads, and the default pool of 10 (100 for fcm.googleapis.com) reconnects the rest and
    logs a warning for each. Raises RuntimeError if those internals moved in a new SDK version.
    """
    get_service = getattr(messaging, "_get_messaging_service", None)
    service = get_service(app) if callable(get_service) else None
    session = getattr(getattr(service, "_client", None), "session", None)
    sdk_retry_config = getattr(getattr(firebase_admin, "_http_client", None), "DEFAULT_RETRY_CONFIG", None)
    urls = {name: getattr(service, name, None) for name in ("_fcm_url", "_fcm_topic_url")}
    if (
        not isinstance(session, requests.Session)
        or not isinstance(sdk_retry_config, Retry)
        or not all(isinstance(url, str) and urlsplit(url).path.startswith("/v1/projects/") for url in urls.values())
    ):
        raise RuntimeError(
            f"firebase-admin {firebase_admin.__version__} no longer has the messaging internals "
            "point_messaging_at() relies on (_get_messaging_service(app)._fcm_url, ._fcm_topic_url, "
            "._client.session, _http_client.DEFAULT_RETRY_CONFIG): update lsso_mobile/notify/fcm.py"
        )
    base = endpoint.rstrip("/")
    for name, url in urls.items():
        setattr(service, name, base + str(urlsplit(url).path))
    adapter = HTTPAdapter(
        pool_connections=4, pool_maxsize=MAX_BATCH, max_retries=sdk_retry_config if sdk_retries else _NO_SDK_RETRIES
    )
    session.mount(base, adapter)
    read_environment_once(session, base)


def read_environment_once(session: requests.Session, base: str) -> None:
    """Take the environment's proxy and CA bundle for ``base`` now, and stop requests from reading them again.

    With ``trust_env`` on, requests reads the environment anew for every request: four passes over
    ``os.environ`` (proxies, NO_PROXY) and a look for ``~/.netrc``, per push. Profiled in a worker, whose
    environment holds every ``LSSO_*`` setting, that was about a quarter of its CPU (0.25-0.3 ms a push, more
    than the whole of its database work). The environment does not change under a running process: read once,
    the same proxy and CA bundle apply. A ``.netrc`` entry is no longer consulted: it would have replaced the
    OAuth bearer token with Basic credentials anyway.
    """
    scheme = urlsplit(base).scheme
    environ_proxies = requests.utils.get_environ_proxies(base)  # {} when NO_PROXY covers base
    proxy = environ_proxies.get(scheme, environ_proxies.get("all"))
    if proxy:
        session.proxies.setdefault(scheme, proxy)
    if session.verify is True:
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False


def build_push_sender(
    backend: str,
    *,
    credentials_path: str | None,
    endpoint: str | None,
    project_id: str | None,
    http_timeout: float,
    sdk_retries: bool = False,
) -> PushSender:
    """The sender for ``backend`` ("fcm" or "log"); empty settings count as unset."""
    if backend == "log":
        log.warning("Push backend is 'log': pushes are written to the log, not sent to FCM")
        return LogPushSender()
    if backend == "fcm":
        return FcmPushSender(
            credentials_path=credentials_path or None,
            endpoint=endpoint or None,
            project_id=project_id or None,
            http_timeout=http_timeout,
            sdk_retries=sdk_retries,
        )
    raise ValueError(f"unknown push backend {backend!r}; expected 'fcm' or 'log'")
