"""Helpers for the messaging tests: small real files, and a member who writes to an office."""

from __future__ import annotations

import random
import struct
import uuid
import zlib
from typing import Any

from flask.testing import FlaskClient

from tests.conftest import STAFF_PASSWORD
from tests.support import bearer, sign_up, staff_sign_in


def png_bytes(width: int = 3, height: int = 2, noise: bool = False) -> bytes:
    """A valid PNG (8-bit RGB), built by hand: signature, IHDR, zlib-compressed IDAT, IEND, CRCs."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    pixels = random.Random(width * height)

    def row(y: int) -> bytes:
        return pixels.randbytes(3 * width) if noise else bytes([200, (30 * y) % 256, 10]) * width

    rows = b"".join(b"\x00" + row(y) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def jpeg_bytes(width: int = 8, height: int = 8) -> bytes:
    """A structurally valid baseline JPEG: SOI, a frame header, a scan header, some data, EOI."""
    frame = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    scan = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + frame + scan + b"\x12\x34\x56" + b"\xff\xd9"


def pdf_bytes(extra: bytes = b"") -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        + extra
        + b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )


def new_key() -> str:
    return str(uuid.uuid4())


def member(client: FlaskClient, gateway: Any, phone: str, language: str = "lo") -> dict[str, str]:
    return bearer(sign_up(client, gateway, phone, language=language)["access_token"])


def officer(client: FlaskClient, username: str) -> dict[str, str]:
    return bearer(staff_sign_in(client, username, STAFF_PASSWORD)["access_token"])


def upload(
    client: FlaskClient,
    headers: dict[str, str],
    data: bytes,
    filename: str = "photo.png",
    content_type: str = "image/png",
    path: str = "/api/v1/conversations/attachments",
) -> Any:
    import io

    return client.post(
        path,
        headers=headers,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(data), filename, content_type)},
    )


def start(
    client: FlaskClient, headers: dict[str, str], body: str = "When is my contribution for May recorded?", **fields: Any
) -> Any:
    payload = {
        "office_code": "D0101",
        "category": "contributions",
        "subject": "May contribution",
        "body": body,
        "idempotency_key": new_key(),
    }
    payload.update(fields)
    return client.post("/api/v1/conversations", json=payload, headers=headers)
