"""Headers every response carries, CORS for the configured browser origins only, and a bound on URL length."""

from __future__ import annotations

from flask import Flask, Response, request
from flask_cors import CORS

from lsso_mobile.config import Settings
from lsso_mobile.errors import UriTooLong

# The API answers JSON (and files): nothing in it may run, frame or be framed.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"
# Swagger UI (/api/docs) is served by the app itself: its own scripts and styles, nothing else.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/api/docs", "/api/swagger-ui/")
# The staff console (/console): HTML from the app itself; its own script, style, font and images only, no
# inline script or style, forms posted only to itself.
CONSOLE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
CONSOLE_PATH = "/console"
CONSOLE_STATIC_PATH = "/console/static/"
CONSOLE_STATIC_MAX_AGE = 86400  # seconds; the script, style and font change only with a release
HEADERS_EXPOSED_TO_BROWSERS = ["ETag", "Retry-After", "Idempotent-Replayed", "Content-Disposition"]


MAX_URL_BYTES = 4096  # path and query string; far above any URL the app builds


def install_security(app: Flask, settings: Settings) -> None:
    @app.before_request
    def _bounded_url() -> None:
        # gunicorn.conf.py leaves the request line to us, so an over-long URL is answered in the common shape.
        if len(request.full_path.encode()) > MAX_URL_BYTES:
            raise UriTooLong(
                "The address is longer than {max_bytes} bytes.",
                error="uri_too_long",
                params={"max_bytes": MAX_URL_BYTES},
            )

    if settings.cors_origins:
        CORS(
            app,
            resources={r"/api/*": {"origins": list(settings.cors_origins)}},
            supports_credentials=False,
            expose_headers=HEADERS_EXPOSED_TO_BROWSERS,
            max_age=600,
        )

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        console = request.path == CONSOLE_PATH or request.path.startswith(CONSOLE_PATH + "/")
        # Console forms need their own origin in Referer (Flask-WTF's HTTPS check); nothing goes elsewhere.
        headers.setdefault("Referrer-Policy", "same-origin" if console else "no-referrer")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        docs = request.path.startswith(DOCS_PATHS)
        headers.setdefault(
            "Content-Security-Policy", CONSOLE_POLICY if console else DOCS_POLICY if docs else API_POLICY
        )
        if console and request.path.startswith(CONSOLE_STATIC_PATH) and response.status_code in (200, 304):
            headers["Cache-Control"] = f"public, max-age={CONSOLE_STATIC_MAX_AGE}"
        elif not docs:
            headers.setdefault("Cache-Control", "no-store")  # answers are personal; routes that allow caching say so
        if settings.is_production:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
