"""Response headers as the OpenAPI document declares them, shared by the routes that send them."""

from __future__ import annotations

from typing import Any

from flask import Response

IDEMPOTENT_REPLAYED: dict[str, Any] = {
    "Idempotent-Replayed": {
        "description": "`true` when this answer repeats the one given to an earlier request with the same "
        "idempotency_key (nothing new was stored), `false` otherwise",
        "schema": {"type": "string", "enum": ["true", "false"], "example": "false"},
    }
}


def file_headers(cache_control: str) -> dict[str, Any]:
    """What a stored file (attachment, ID-card photo) is sent with."""
    return {
        "Content-Disposition": {
            "description": "`inline` or `attachment` with a file name the service made (never the uploader's)",
            "schema": {"type": "string", "example": 'inline; filename="attachment-42.jpg"'},
        },
        "X-Content-Type-Options": {
            "description": "`nosniff`: the Content-Type given is the one sniffed at upload; do not guess another",
            "schema": {"type": "string", "example": "nosniff"},
        },
        "Content-Security-Policy": {
            "description": "`default-src 'none'; sandbox`: a browser opening the file runs nothing in it",
            "schema": {"type": "string", "example": "default-src 'none'; sandbox"},
        },
        "Cache-Control": {
            "description": f"`{cache_control}`",
            "schema": {"type": "string", "example": cache_control},
        },
    }


def binary_response(data: bytes, content_type: str, name: str, disposition: str = "inline") -> Response:
    """A generated file (a card or bill QR, a PDF) for one member: a file name we made, no type sniffing, nothing
    run if a browser opens it, not cached."""
    response = Response(data, status=200, content_type=content_type)
    response.headers["Content-Disposition"] = f'{disposition}; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response
