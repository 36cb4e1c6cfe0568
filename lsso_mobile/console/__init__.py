"""The staff console: server-rendered pages for officers at /console, in Lao (default) and English.

Views are thin: they read a form, call the same service functions the staff API calls, commit and render.
The console signs in with its own session cookie (never a bearer token), checks a CSRF token on every
form and htmx request, and serves its scripts, styles and font itself (no CDN).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

from flask import Flask, request, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from lsso_mobile.config import Settings

LANGUAGES = ("lo", "en")
DEFAULT_LANGUAGE = "lo"
WORKING_DAY = timedelta(hours=10)  # how long a console sign-in lasts
SESSION_COOKIE = "lsso_console"
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"

csrf = CSRFProtect()
babel = Babel()


def console_language() -> str:
    chosen = session.get("lang") if request.path.startswith("/console") else None
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def install_console(app: Flask, settings: Settings) -> None:
    from lsso_mobile.console.views import bp

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
