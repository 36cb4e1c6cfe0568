"""Console sign-in and the officer check every console page makes.

The one call to ``accounts.sign_in_staff`` is in ``sign_in`` below. The cookie holds only the AuthSession
id, the staff id and the language; bearer tokens are never read here, so a member's token opens nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, redirect, render_template, request, session, url_for

from lsso_mobile.api.access import client_ip, now
from lsso_mobile.api.context import db_session, keyring, settings
from lsso_mobile.console.setup import WORKING_DAY
from lsso_mobile.errors import NotAuthenticated
from lsso_mobile.services.accounts import Principal, authenticate_access_token, sign_in_staff
from lsso_mobile.services.console_sessions import end_console_session, staff_principal

F = TypeVar("F", bound=Callable[..., Any])
CONSOLE_ACCESS = "_lsso_console_access"  # the marker every console view carries (checked by a test)


def sign_in(username: str, password: str, totp_code: str | None = None) -> Principal:
    """Check the password and, for an account with a second factor, the TOTP code (lockout, per-address failure
    counting and any step-up as the API has them)."""
    pair = sign_in_staff(db_session(), settings(), keyring(), username, password, now(), client_ip(), totp_code)
    principal = authenticate_access_token(db_session(), keyring(), pair.access_token)
    language = session.get("lang")
    session.clear()  # a new session on sign-in: nothing from before it carries over (the language aside)
    if language:
        session["lang"] = language
    session.permanent = True
    session["sid"] = principal.session_id
    session["staff_id"] = principal.id
    return principal


def sign_out() -> None:
    sid = session.get("sid")
    if sid:
        end_console_session(db_session(), sid, now())
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


_CHECKED = "_lsso_console_principal"


def signed_in_principal() -> Principal | None:
    """The signed-in staff user of this request (checked against the database once per request)."""
    if _CHECKED in g:
        return g.get(_CHECKED)
    principal = None
    sid, staff_id = session.get("sid"), session.get("staff_id")
    if isinstance(sid, str) and isinstance(staff_id, int):
        try:
            principal = staff_principal(db_session(), sid, staff_id, now(), WORKING_DAY)
        except NotAuthenticated:
            principal = None
    setattr(g, _CHECKED, principal)
    return principal


def _to_login() -> Any:
    if request.headers.get("HX-Request"):
        return "", 401, {"HX-Redirect": url_for("console.login")}
    target = request.full_path if request.method == "GET" else None
    return redirect(url_for("console.login", next=target.rstrip("?") if target else None))


def officer_page(view: F) -> F:
    """Signed in to the console as an officer; ops and admin get a polite 403 page."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        principal = signed_in_principal()
        if principal is None:
            return _to_login()
        g.principal = principal
        if principal.role != "officer":
            return render_template("console/forbidden.html"), 403
        return view(*args, **kwargs)

    setattr(wrapper, CONSOLE_ACCESS, "officer")
    return wrapper  # type: ignore[return-value]


def _role_page(view: F, roles: tuple[str, ...], marker: str) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        principal = signed_in_principal()
        if principal is None:
            return _to_login()
        g.principal = principal
        if principal.role not in roles:
            return render_template("console/forbidden.html", for_roles=roles), 403
        return view(*args, **kwargs)

    setattr(wrapper, CONSOLE_ACCESS, marker)
    return wrapper  # type: ignore[return-value]


def admin_page(view: F) -> F:
    """Signed in to the console as an admin (staff accounts, audit log, rules)."""
    return _role_page(view, ("admin",), "admin")


def staff_page(view: F) -> F:
    """Signed in as any staff user: their own account (password, second factor)."""
    return _role_page(view, ("officer", "ops", "admin"), "staff")


def role_page(*roles: str) -> Callable[[F], F]:
    """Signed in to the console with one of ``roles`` (ops, admin); anyone else gets the polite 403 page."""

    def decorator(view: F) -> F:
        return _role_page(view, roles, ",".join(roles))

    return decorator


def public_page(view: F) -> F:
    setattr(view, CONSOLE_ACCESS, "public")
    return view
