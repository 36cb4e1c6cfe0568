"""Reading a JSON request body: once per request, and bounded in depth.

Python's JSON parser recurses once per nesting level: ``[`` x 50000 raises RecursionError (a 500, before
anyone is signed in) and a few thousand levels cost stack and time in every later walk of the value. A body
nested deeper than ``MAX_JSON_DEPTH`` (no API body needs more than a few levels) is a 400 in the common
shape, wherever it is read: the route's body parser, the rate limiter, or ``request.get_json`` (the app's
JSON provider uses the same parser).
"""

from __future__ import annotations

import json
from typing import Any

from flask import request
from flask.json.provider import DefaultJSONProvider

from lsso_mobile.errors import UnreadableBody

MAX_JSON_DEPTH = 64
_NOT_READ = object()
_CACHE_KEY = "lsso.json_body"


class UnreadableJson(ValueError):
    """Not JSON, not UTF-8, or nested deeper than MAX_JSON_DEPTH (a ValueError, as Flask expects)."""


def parse_json(data: bytes | str) -> Any:
    """``data`` as JSON, refusing nesting deeper than MAX_JSON_DEPTH."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        value = json.loads(text)
    except RecursionError:
        raise UnreadableJson(
            f"Nested deeper than {MAX_JSON_DEPTH} levels."
        ) from None  # "{max} levels" in the catalogue
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise UnreadableJson("Invalid JSON body.") from None
    if _brackets(text) > MAX_JSON_DEPTH and _deeper_than(value, MAX_JSON_DEPTH):
        raise UnreadableJson(f"Nested deeper than {MAX_JSON_DEPTH} levels.")
    return value


def _brackets(text: str) -> int:
    """An upper bound of the depth, counted in C: most bodies have fewer brackets than the limit."""
    return text.count("[") + text.count("{")


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict | list):
            continue
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def json_body() -> Any:
    """The request's JSON body, parsed once per request; UnreadableBody (400) if it cannot be read."""
    cached = request.environ.get(_CACHE_KEY, _NOT_READ)  # the request's own (g may outlive one request)
    if cached is _NOT_READ:
        try:
            cached = parse_json(request.get_data(cache=True))
        except UnreadableJson as exc:
            cached = exc
        request.environ[_CACHE_KEY] = cached
    if isinstance(cached, UnreadableJson):
        message = str(cached)
        raise UnreadableBody(
            "The body could not be read as JSON: {reason}",
            error="unreadable_json",
            params={"reason": message, "max_depth": MAX_JSON_DEPTH},
            errors={"json": [message]},
        )
    return cached


def json_body_or_none() -> Any:
    """The JSON body, or None if there is none that can be read (for code that only peeks at it)."""
    try:
        return json_body()
    except UnreadableBody:
        return None


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with the bounded parser, so ``request.get_json`` is bounded too."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return parse_json(s)
