"""Attachment files: what a file really is (from its bytes, never its name or the client's content
type), and where its bytes are kept (a small storage interface; a local directory by default)."""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Protocol

from lsso_mobile.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

PNG = "image/png"
JPEG = "image/jpeg"
PDF = "application/pdf"
ALLOWED_TYPES = (JPEG, PNG, PDF)
EXTENSIONS = {PNG: "png", JPEG: "jpg", PDF: "pdf"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_SIDE = 20_000
# Active content a PDF viewer may run; members' documents are scans and never need it.
PDF_ACTIVE_CONTENT = (b"/JavaScript", b"/JS", b"/Launch", b"/EmbeddedFile", b"/RichMedia", b"/XFA")


def sniff_content_type(data: bytes) -> str:
    """The file's type from its content, after checking its structure; 415 with the reason otherwise."""
    if not data:
        raise InvalidInput("The file is empty.", errors={"file": ["empty"]})
    if data.startswith(PNG_SIGNATURE):
        _check_png(data)
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        _check_jpeg(data)
        return JPEG
    if data.startswith(b"%PDF-"):
        _check_pdf(data)
        return PDF
    raise UnsupportedMediaType(
        f"Only JPEG, PNG and PDF files are accepted; this file {_looks_like(data)}.",
        errors={"file": ["unsupported type"]},
    )


def _looks_like(data: bytes) -> str:
    known = (
        (b"MZ", "is a Windows program"),
        (b"\x7fELF", "is a Linux program"),
        (b"PK\x03\x04", "is a ZIP archive"),
        (b"GIF8", "is a GIF image"),
        (b"RIFF", "is a RIFF (WebP/AVI/WAV) file"),
        (b"#!", "is a script"),
        (b"<", "looks like HTML or XML"),
    )
    for prefix, what in known:
        if data.startswith(prefix):
            return what
    return "is of another or unknown type"


def _broken(kind: str, why: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"The file starts like a {kind} but is not a valid one ({why}).", errors={"file": [f"invalid {kind}"]}
    )


def _check_png(data: bytes) -> None:
    """Every chunk's length and CRC, an IHDR first with sane dimensions, IDAT data that inflates, IEND last."""
    offset = len(PNG_SIGNATURE)
    seen_ihdr = seen_iend = False
    idat = zlib.decompressobj()
    inflated = 0
    while offset < len(data):
        if offset + 12 > len(data):
            raise _broken("PNG", "truncated chunk")
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        chunk = data[offset + 8 : offset + 8 + length]
        if len(chunk) != length or offset + 12 + length > len(data):
            raise _broken("PNG", "truncated chunk")
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        if zlib.crc32(kind + chunk) & 0xFFFFFFFF != crc:
            raise _broken("PNG", "chunk checksum mismatch")
        if not seen_ihdr:
            if kind != b"IHDR" or length != 13:
                raise _broken("PNG", "no header")
            width, height = struct.unpack(">II", chunk[:8])
            if not (0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE):
                raise _broken("PNG", "bad dimensions")
            seen_ihdr = True
        elif kind == b"IDAT":
            try:  # inflate only a bounded amount: enough to prove it is image data, safe against bombs
                if inflated < 1_000_000:
                    inflated += len(idat.decompress(chunk, 1_000_000))
            except zlib.error:
                raise _broken("PNG", "image data does not decompress") from None
        elif kind == b"IEND":
            seen_iend = True
            offset += 12 + length
            break
        offset += 12 + length
    if not seen_iend or inflated == 0:
        raise _broken("PNG", "no image data or no end")
    if data[offset:].strip(b"\x00"):
        raise _broken("PNG", "data after the end of the image")


def _check_jpeg(data: bytes) -> None:
    """Markers walked from the start to the scan, a frame header with sane dimensions, an end marker."""
    offset = 2
    frame = False
    while True:
        if offset + 4 > len(data) or data[offset] != 0xFF:
            raise _broken("JPEG", "bad marker")
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            offset += 2
            continue
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        if length < 2 or offset + 2 + length > len(data):
            raise _broken("JPEG", "truncated segment")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if length < 8:
                raise _broken("JPEG", "short frame header")
            height, width = struct.unpack(">HH", data[offset + 5 : offset + 9])
            if not (0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE):
                raise _broken("JPEG", "bad dimensions")
            frame = True
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        offset += 2 + length
    if not frame:
        raise _broken("JPEG", "no frame header")
    # Some phones (Samsung's, for one) append their own data after the end marker, so look past the scan.
    if data.find(b"\xff\xd9", offset) == -1:
        raise _broken("JPEG", "no end of image")


def _check_pdf(data: bytes) -> None:
    if data[5:8] not in (b"1.0", b"1.1", b"1.2", b"1.3", b"1.4", b"1.5", b"1.6", b"1.7", b"2.0"):
        raise _broken("PDF", "unknown version")
    if b"%%EOF" not in data[-1024:]:
        raise _broken("PDF", "no end-of-file marker")
    for name in PDF_ACTIVE_CONTENT:
        index = data.find(name)
        # /JS must be a whole name (not /JSomething); the others are long enough to be unambiguous
        while index != -1:
            following = data[index + len(name) : index + len(name) + 1]
            if not following.isalnum():
                raise UnsupportedMediaType(
                    "PDF files with scripts, launch actions or embedded files are not accepted.",
                    errors={"file": ["active content"]},
                )
            index = data.find(name, index + 1)


def check_upload(data: bytes, max_bytes: int) -> str:
    """The sniffed content type of an acceptable upload; 413, 415 or 422 with the reason otherwise."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"The file is larger than {max_bytes} bytes ({max_bytes // (1024 * 1024)} MB).",
            errors={"file": [f"at most {max_bytes} bytes"]},
        )
    return sniff_content_type(data)


class AttachmentStore(Protocol):
    """Where attachment bytes live. Keys are made by the store; never the client's filename."""

    def put(self, data: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...

    def delete_if_older(self, key: str, cutoff: float) -> bool: ...


class LocalAttachmentStore:
    """Content-addressed files under one directory: ``ab/cd/<sha256>``; identical uploads share a file."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError("not a storage key")
        return self.root / key[:2] / key[2:4] / key

    def put(self, data: bytes) -> str:
        key = hashlib.sha256(data).hexdigest()
        path = self._path(key)
        if path.exists():
            os.utime(path)  # in use again: the purge of unsent uploads leaves recently touched files alone
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written under a temporary name and renamed: a reader never sees half a file.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def delete_if_older(self, key: str, cutoff: float) -> bool:
        """Remove the file unless it was written or uploaded again after ``cutoff`` (a Unix time)."""
        path = self._path(key)
        try:
            if path.stat().st_mtime >= cutoff:
                return False
            path.unlink()
        except FileNotFoundError:
            return False
        return True


_stores: dict[str, LocalAttachmentStore] = {}


def attachment_store(directory: str) -> AttachmentStore:
    store = _stores.get(directory)
    if store is None:
        store = _stores[directory] = LocalAttachmentStore(directory)
    return store
