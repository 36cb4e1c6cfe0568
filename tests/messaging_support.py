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


def pixels(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    """What an image shows (mode, size, pixel bytes), whatever its encoding: stored images are re-encoded."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.mode, image.size, image.tobytes()


def jpeg_bytes(width: int = 8, height: int = 8, exif: bytes | None = None) -> bytes:
    """A real baseline JPEG (Pillow), with the given EXIF block if any."""
    import io

    from PIL import Image

    out = io.BytesIO()
    image = Image.new("RGB", (width, height), (200, 40, 10))
    image.save(out, "JPEG", quality=90, **({"exif": exif} if exif is not None else {}))
    return out.getvalue()


def pdf_document(*objects: bytes, trailer: bytes = b"") -> bytes:
    """A PDF 1.4 with a classic cross-reference table and correct offsets: the objects are numbered from 1 in
    the order given, object 1 is the catalog."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer, xref)
    return bytes(out)


def pdf_bytes(catalog: bytes = b"", page: bytes = b"", *more: bytes) -> bytes:
    """A clean one-page PDF with a line of text; ``catalog`` and ``page`` entries are added to those
    dictionaries, and further objects are numbered from 6."""
    text = b"BT /F1 12 Tf 72 720 Td (Contribution receipt, May) Tj ET"
    return pdf_document(
        b"<< /Type /Catalog /Pages 2 0 R " + catalog + b">>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> " + page + b">>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        *more,
    )


def pdf_with_object_stream(*objects: bytes) -> bytes:
    """A PDF 1.5 whose objects (numbered from 1, object 1 the catalog) all sit in one Flate-compressed object
    stream, found through a cross-reference stream: none of their bytes appear in the file as written."""
    count = len(objects)
    bodies = b""
    header = b""
    for number, body in enumerate(objects, start=1):
        header += b"%d %d " % (number, len(bodies))
        bodies += body + b"\n"
    packed = zlib.compress(header + bodies)
    stream_number, xref_number = count + 1, count + 2
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    stream_offset = len(out)
    out += b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n" % (
        stream_number,
        count,
        len(header),
        len(packed),
    )
    out += packed + b"\nendstream\nendobj\n"
    xref_offset = len(out)
    rows = struct.pack(">BIH", 0, 0, 65535)
    rows += b"".join(struct.pack(">BIH", 2, stream_number, index) for index in range(count))
    rows += struct.pack(">BIH", 1, stream_offset, 0) + struct.pack(">BIH", 1, xref_offset, 0)
    out += b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n" % (
        xref_number,
        xref_number + 1,
        len(rows),
    )
    out += rows + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_offset
    return bytes(out)


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
