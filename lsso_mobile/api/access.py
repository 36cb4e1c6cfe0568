"""Who may call each route. Every view declares it with ``@blp.access(...)``; a test walks the URL
map and fails for any route that has no declaration.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import flask_smorest
from flask import Request, g, request
from webargs.flaskparser import FlaskParser, is_json_request

from lsso_mobile.api.bodies import json_body
from lsso_mobile.api.context import db_session, keyring
from lsso_mobile.errors import Forbidden, NotAuthenticated, UnsupportedMediaType
from lsso_mobile.services.accounts import Principal, authenticate_access_token

PUBLIC = "public"
MEMBER = "member"
OFFICER = "officer"
PROMOTER = "promoter"  # a field registrar bound to one district
OPS = "ops"
ADMIN = "admin"
CORE = "core"  # the LSSO core system (client credentials)
STAFF_ROLES = (OFFICER, PROMOTER, OPS, ADMIN)
ALL_ROLES = (PUBLIC, MEMBER, OFFICER, PROMOTER, OPS, ADMIN, CORE)

ACCESS_ATTRIBUTE = "_lsso_access"

F = TypeVar("F", bound=Callable[..., Any])


def now() -> datetime:
    return datetime.now(UTC)


def client_ip() -> str:
    """The caller's address. Behind proxies, set LSSO_TRUSTED_PROXIES: ProxyFix then sets remote_addr."""
    return request.remote_addr or "unknown"


def current_principal() -> Principal:
    principal = g.get("principal")
    if principal is None:  # only reachable if a view forgot @access; fail closed
        raise NotAuthenticated("Sign in first.", error="not_authenticated")
    return principal


def bearer_token() -> str | None:
    """The token of ``Authorization: Bearer <token>``, or None if the header is missing or has no token."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def _authenticate() -> Principal:
    token = bearer_token()
    if token is None:
        raise NotAuthenticated(
            "Sign in first: send 'Authorization: Bearer <access token>'.",
            error="not_authenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return authenticate_access_token(db_session(), keyring(), token)


def require(*roles: str, restricted_ok: bool = False) -> Callable[[F], F]:
    """The check alone (no documentation); ``Blueprint.access`` is what views use. A staff sign-in that must
    first change its password or enrol a second factor (``Principal.restriction``) is refused everywhere
    except the routes that do that (``restricted_ok``)."""
    unknown = set(roles) - set(ALL_ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown roles {unknown}")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if PUBLIC not in roles:
                principal = _authenticate()
                if principal.role not in roles:
                    raise Forbidden("Your account may not do this.", error="role_not_allowed")
                if principal.restriction and not restricted_ok:
                    raise Forbidden(
                        "Change your password or set up the second factor first.",
                        error=principal.restriction + "_required",
                    )
                g.principal = principal
            return view(*args, **kwargs)

        setattr(wrapper, ACCESS_ATTRIBUTE, tuple(roles))
        return wrapper  # type: ignore[return-value]

    return decorator


class JsonBodyParser(FlaskParser):
    """webargs reads a body that is not ``application/json``, or an empty one, as ``{}``, and an all-optional
    schema then accepts it; a route that documents a JSON body refuses both with a 415."""

    def _raw_load_json(self, req: Request) -> Any:
        if not is_json_request(req) or not req.get_data(cache=True):
            raise UnsupportedMediaType(
                "Send the body as JSON (Content-Type: application/json).",
                error="body_not_json",
                params={"content_type": req.mimetype or "none"},
            )
        return json_body()


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with ``access(*roles)``: the check and its OpenAPI security/401/403."""

    ARGUMENTS_PARSER = JsonBodyParser()

    def access(self, *roles: str, restricted_ok: bool = False) -> Callable[[F], F]:
        check = require(*roles, restricted_ok=restricted_ok)

        def decorator(view: F) -> F:
            view = check(view)
            view = self.doc(**{"x-roles": list(roles)})(view)  # api/openapi.py says it in the description too
            if PUBLIC not in roles:
                view = self.doc(security=[{"bearerAuth": []}])(view)
                view = self.alt_response(401, response="NOT_SIGNED_IN")(view)  # api/openapi.py: WWW-Authenticate
                view = self.alt_response(403, response="DEFAULT_ERROR", description="Role not allowed")(view)
            return view

        return decorator


def declared_roles(view: Callable[..., Any]) -> tuple[str, ...] | None:
    return getattr(view, ACCESS_ATTRIBUTE, None)
