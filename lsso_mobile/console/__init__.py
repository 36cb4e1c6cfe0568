"""The staff console: server-rendered pages for officers at /console, in Lao (default) and English.

Views are thin: they read a form, call the same service functions the staff API calls, commit and render.
The console signs in with its own session cookie (never a bearer token), checks a CSRF token on every
form and htmx request, and serves its scripts, styles and font itself (no CDN).
"""

from __future__ import annotations

import hashlib

from flask import Flask

from lsso_mobile.config import Settings
from lsso_mobile.console import field as _field_views  # noqa: F401  (registers its views on bp)
from lsso_mobile.console.setup import (
    DEFAULT_LANGUAGE,
    SESSION_COOKIE,
    TRANSLATIONS,
    WORKING_DAY,
    babel,
    console_language,
    csrf,
)
from lsso_mobile.console.views import bp


def install_console(app: Flask, settings: Settings) -> None:
    # The session cookie signs with a key derived from LSSO_SECRET_KEY for this one purpose.
    app.secret_key = hashlib.sha256(b"lsso-console-session\x00" + settings.secret_key.encode()).hexdigest()
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_PATH="/console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        PERMANENT_SESSION_LIFETIME=WORKING_DAY,
        # The API is not protected by cookies and must not ask for a CSRF token: the console checks it itself.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the sign-in (a working day)
        WTF_CSRF_SSL_STRICT=settings.is_production,
        BABEL_DEFAULT_LOCALE=DEFAULT_LANGUAGE,
        BABEL_DEFAULT_TIMEZONE="Asia/Vientiane",
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS),
    )
    csrf.init_app(app)
    babel.init_app(app, locale_selector=console_language)
    app.register_blueprint(bp)
