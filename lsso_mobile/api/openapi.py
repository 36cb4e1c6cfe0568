"""The OpenAPI document lists every status an operation can answer with, and nothing catch-all.

flask-smorest puts a ``default`` error response on every operation; that would make every status code
"documented" and the contract check blind to an undocumented one, so it is switched off here. What the
routes cannot each declare for themselves is added to every operation it applies to:

- 414 on every operation (a URL over ``MAX_URL_BYTES``, see ``api/security.py``);
- 429 with ``Retry-After`` on every writing operation (the write-rate limiter runs before every one);
- 400 (a body that does not parse, or is nested deeper than ``MAX_JSON_DEPTH``), 413
  (``LSSO_MAX_BODY_BYTES``) and 415 (not the documented media type, or no body at all) on every operation
  that takes a request body;
- 401 and 403 come from ``Blueprint.access``; 404, 409, 415 and the rest from each route's own
  ``alt_response``; 422 from flask-smorest wherever a route parses input.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from apispec import BasePlugin
from flask import Flask
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from lsso_mobile.api.bodies import MAX_JSON_DEPTH
from lsso_mobile.api.errors import MAX_ERROR_ENTRIES, http_exception_response
from lsso_mobile.api.push_data import push_data_component
from lsso_mobile.api.rate_limits import WRITING_METHODS as RATE_LIMITED_METHODS
from lsso_mobile.api.security import MAX_URL_BYTES

WRITING_METHODS = {method.lower() for method in RATE_LIMITED_METHODS}  # the spec spells methods in lower case

TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS_RETRY"
PAYLOAD_TOO_LARGE = "BODY_TOO_LARGE"
URI_TOO_LONG = "ADDRESS_TOO_LONG"
BAD_REQUEST = "UNREADABLE_BODY"
NOT_JSON = "NOT_JSON"
NOT_SIGNED_IN = "NOT_SIGNED_IN"

# Who each role is, for the "Who may call" line of every operation's description (from ``Blueprint.access``).
ROLE_WORDS = {
    "public": "anyone, signed in or not",
    "member": "members (their own records only)",
    "officer": "officers (their own office only)",
    "promoter": "promoters (field registrars: only the people they registered, in their district)",
    "ops": "ops staff of the central office",
    "admin": "admins of the central office",
    "core": "the LSSO core system (a client token from getClientToken)",
}


class CommonResponsesPlugin(BasePlugin):
    """Adds the statuses that apply by method or by body to each operation as it is registered."""

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        for method, operation in (operations or {}).items():
            roles = operation.get("x-roles")
            if roles and "Who may call:" not in operation.get("description", ""):
                who = "Who may call: " + "; ".join(ROLE_WORDS[role] for role in roles) + "."
                operation["description"] = "\n\n".join(filter(None, [operation.get("description", "").strip(), who]))
            responses = operation.setdefault("responses", {})
            responses.setdefault("414", URI_TOO_LONG)
            if "429" in responses:
                responses["429"] = TOO_MANY_REQUESTS  # every 429 says Retry-After
            if method not in WRITING_METHODS:
                continue
            responses.setdefault("429", TOO_MANY_REQUESTS)
            if "requestBody" in operation:
                responses.setdefault("400", BAD_REQUEST)
                responses.setdefault("415", NOT_JSON)
                responses.setdefault("413", PAYLOAD_TOO_LARGE)


class ErrorSchema(ma.Schema):
    """What ``api.errors.error_body`` sends (documentation only)."""

    error = ma.fields.String(metadata={"description": "A stable code the app can switch on, where one is defined"})
    code = ma.fields.Integer(metadata={"description": "The HTTP status"})
    status = ma.fields.String(metadata={"description": "The HTTP status phrase"})
    message = ma.fields.String(metadata={"description": "What went wrong, for people"})
    errors = ma.fields.Dict(metadata={"description": f"Problems by field; at most {MAX_ERROR_ENTRIES} entries"})
    errors_omitted = ma.fields.Integer(
        metadata={"description": f"How many more entries there were than the {MAX_ERROR_ENTRIES} listed"}
    )


class LssoApi(Api):
    DEFAULT_ERROR_RESPONSE_NAME = None  # no catch-all ``default`` response; see the module docstring
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Any:
        """flask-smorest's handler for every HTTPException, replaced so one function builds every error body."""
        return http_exception_response(error)


def build_api(app: Flask, description: str) -> LssoApi:
    api = LssoApi(app, spec_kwargs={"info": {"description": description}, "extra_plugins": [CommonResponsesPlugin()]})
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    api.spec.components.response(PAYLOAD_TOO_LARGE, {"description": "The request body is too large", "content": error})
    api.spec.components.response(
        BAD_REQUEST,
        {
            "description": f"The body could not be read (not JSON, or nested deeper than {MAX_JSON_DEPTH} levels)",
            "content": error,
        },
    )
    api.spec.components.response(
        NOT_JSON, {"description": "The body is missing or not of a media type given here", "content": error}
    )
    api.spec.components.response(
        URI_TOO_LONG, {"description": f"The URL is longer than {MAX_URL_BYTES} bytes", "content": error}
    )
    api.spec.components.response(
        TOO_MANY_REQUESTS,
        {
            "description": "Too many requests; try again after the number of seconds in Retry-After",
            "headers": {
                "Retry-After": {
                    "description": "Seconds to wait before trying again",
                    "schema": {"type": "integer", "minimum": 1, "example": 30},
                }
            },
            "content": error,
        },
    )
    api.spec.components.response(
        NOT_SIGNED_IN,
        {
            "description": "Not signed in, or the access token is expired or revoked: refresh it (refreshTokens) or "
            "sign in again",
            "headers": {
                "WWW-Authenticate": {
                    "description": "Always `Bearer`: send `Authorization: Bearer <access token>`",
                    "schema": {"type": "string", "example": "Bearer"},
                }
            },
            "content": error,
        },
    )
    api.spec.components.schema("PushData", push_data_component())
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    return api


def allow_null_in_nullable_enums(spec: Any) -> None:
    """OpenAPI 3.0: a nullable field's ``enum`` must list null too, or clients generated from the document
    (openapi-python-client) refuse the null the service sends."""

    def fix(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("nullable") and isinstance(node.get("enum"), list) and None not in node["enum"]:
                node["enum"].append(None)
            for value in node.values():
                fix(value)
        elif isinstance(node, list):
            for value in node:
                fix(value)

    fix(spec.components.schemas)
    fix(spec._paths)
