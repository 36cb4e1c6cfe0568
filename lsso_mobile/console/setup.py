"""The console's settings and extensions: languages, the sign-in lifetime, CSRF and translations."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import request, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

LANGUAGES = ("lo", "en")
DEFAULT_LANGUAGE = "lo"
WORKING_DAY = timedelta(hours=10)  # how long a console sign-in lasts
SESSION_COOKIE = "lsso_console"
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"

# The modules whose views make up the console (each adds its pages to the one "console" blueprint);
# install_console imports them before registering it.
VIEW_MODULES = (
    "lsso_mobile.console.views",
    "lsso_mobile.console.account",
    "lsso_mobile.console.staff_admin",
    "lsso_mobile.console.audit",
    "lsso_mobile.console.rules",
    "lsso_mobile.console.calendar",
    "lsso_mobile.console.canned",  # admins: every office's canned replies
    "lsso_mobile.console.areas",  # admins: offices and areas from CSV, with a dry run
    "lsso_mobile.console.broadcasts",  # ops: compose, approve, watch broadcasts
    "lsso_mobile.console.reports",  # ops and admin: reports with charts and CSV
    "lsso_mobile.console.field",  # officers: the ID photos of field registrations
    "lsso_mobile.console.payments",  # officers: cash with four eyes, the daily cash report; the payment reviews
)

csrf = CSRFProtect()
babel = Babel()


def console_language() -> str:
    chosen = session.get("lang") if request.path.startswith("/console") else None
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE
