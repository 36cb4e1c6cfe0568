"""The OpenAPI document lists every status an operation can answer with, and nothing catch-all.

flask-smorest puts a ``default`` error response on every operation; that would make every status code
"documented" and the contract check blind to an undocumented one, so it is switched off here. What the
routes cannot each declare for themselves is added to every operation it applies to:

- 414 on every operation (a URL over ``MAX_URL_BYTES``, see ``api/security.py``);
- 429 with ``Retry-After`` on every writing operation (the write-rate limiter runs before every one);
- 400 (a body that does not parse), 413 (``LSSO_MAX_BODY_BYTES``) and 415 (not the documented media type,
  or no body at all) on every operation that takes a request body;
- 401 and 403 come from ``Blueprint.access``; 404, 409, 415 and the rest from each route's own
  ``alt_response``; 422 from flask-smorest wherever a route parses input.
"""

from __future__ import annotations

from typing import Any

from apispec import BasePlugin
from flask import Flask
from flask_smorest import Api
from flask_smorest.error_handler import ErrorSchema as SmorestErrorSchema
from marshmallow import fields

from lsso_mobile.api.rate_limits import WRITING_METHODS as RATE_LIMITED_METHODS
from lsso_mobile.api.security import MAX_URL_BYTES

WRITING_METHODS = {method.lower() for method in RATE_LIMITED_METHODS}  # the spec spells methods in lower case

TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS_RETRY"
PAYLOAD_TOO_LARGE = "BODY_TOO_LARGE"
URI_TOO_LONG = "ADDRESS_TOO_LONG"
BAD_REQUEST = "UNREADABLE_BODY"
NOT_JSON = "NOT_JSON"


class CommonResponsesPlugin(BasePlugin):
    """Adds the statuses that apply by method or by body to each operation as it is registered."""

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            responses.setdefault("414", URI_TOO_LONG)
            if method not in WRITING_METHODS:
                continue
            responses.setdefault("429", TOO_MANY_REQUESTS)
            if "requestBody" in operation:
                responses.setdefault("400", BAD_REQUEST)
                responses.setdefault("415", NOT_JSON)
                responses.setdefault("413", PAYLOAD_TOO_LARGE)


class ErrorSchema(SmorestErrorSchema):
    """flask-smorest's error shape and a stable code where one applies (named Error in the document)."""

    error = fields.String(
        metadata={"description": "A stable machine-readable code the app can switch on, where one applies"}
    )


class LssoApi(Api):
    DEFAULT_ERROR_RESPONSE_NAME = None  # no catch-all ``default`` response; see the module docstring
    ERROR_SCHEMA = ErrorSchema


def build_api(app: Flask, description: str) -> LssoApi:
    api = LssoApi(app, spec_kwargs={"info": {"description": description}, "extra_plugins": [CommonResponsesPlugin()]})
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    api.spec.components.response(PAYLOAD_TOO_LARGE, {"description": "The request body is too large", "content": error})
    api.spec.components.response(
        BAD_REQUEST, {"description": "The body could not be read (not JSON, say)", "content": error}
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
            "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 1}}},
            "content": error,
        },
    )
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    return api
