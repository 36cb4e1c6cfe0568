"""The OpenAPI document lists every status an operation can answer with, and nothing catch-all.

flask-smorest puts a ``default`` error response on every operation; that would make every status code
"documented" and the contract check blind to an undocumented one, so it is switched off here. What the
routes cannot each declare for themselves is added to every operation it applies to:

- 429 with ``Retry-After`` on every writing operation (the write-rate limiter runs before every one);
- 413 on every operation that takes a request body (``LSSO_MAX_BODY_BYTES``);
- 401 and 403 come from ``Blueprint.access``; 404, 409, 415 and the rest from each route's own
  ``alt_response``; 422 from flask-smorest wherever a route parses input.
"""

from __future__ import annotations

from typing import Any

from apispec import BasePlugin
from flask import Flask
from flask_smorest import Api

WRITING_METHODS = ("post", "put", "patch", "delete")

TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS_RETRY"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"  # flask-smorest registers one component per HTTP status name


class CommonResponsesPlugin(BasePlugin):
    """Adds the statuses that apply by method or by body to each operation as it is registered."""

    def operation_helper(self, path: str | None = None, operations: dict[str, Any] | None = None,
                         **kwargs: Any) -> None:
        for method, operation in (operations or {}).items():
            if method not in WRITING_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            responses.setdefault("429", TOO_MANY_REQUESTS)
            if "requestBody" in operation:
                responses.setdefault("413", PAYLOAD_TOO_LARGE)


class LssoApi(Api):
    DEFAULT_ERROR_RESPONSE_NAME = None  # no catch-all ``default`` response; see the module docstring


def build_api(app: Flask, description: str) -> LssoApi:
    api = LssoApi(app, spec_kwargs={"info": {"description": description},
                                    "extra_plugins": [CommonResponsesPlugin()]})
    api.spec.components.response(TOO_MANY_REQUESTS, {
        "description": "Too many requests; try again after the number of seconds in Retry-After",
        "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 1}}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    })
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    return api
