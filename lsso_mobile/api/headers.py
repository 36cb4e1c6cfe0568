"""Response headers as the OpenAPI document declares them, shared by the routes that send them."""

from __future__ import annotations

from typing import Any

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
