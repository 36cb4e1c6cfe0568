"""Attachment files: what a file really is (from its bytes, never its name or the client's content
type), and where its bytes are kept (a small storage interface; a local directory by default)."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import struct
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lsso_mobile.config import Settings
from lsso_mobile.errors import DomainError, InvalidInput, PayloadTooLarge, UnsupportedMediaType

# Uploads are hostile input: pypdf's warnings about a malformed file would let anyone fill the log.
logging.getLogger("pypdf").setLevel(logging.ERROR)

PNG = "image/png"
JPEG = "image/jpeg"
PDF = "application/pdf"
ALLOWED_TYPES = (JPEG, PNG, PDF)
EXTENSIONS = {PNG: "png", JPEG: "jpg", PDF: "pdf"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_SIDE = 20_000


def sniff_content_type(data: bytes) -> str:
    """The file's type from its content, after checking its structure; 415 with the reason otherwise."""
    if not data:
        raise InvalidInput("The file is empty.", error="file_empty", errors={"file": ["empty"]})
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
        "Only JPEG, PNG and PDF files are accepted.",
        error="unsupported_file_type",
        params={"detected": _looks_like(data)},
        errors={"file": ["Not a JPEG, PNG or PDF file."]},
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
        "The file starts like a {kind} but is not a valid one.",
        error="file_invalid",
        params={"kind": kind, "reason": why},
        errors={"file": [f"Not a valid {kind}."]},
    )


def _check_png(data: bytes) -> tuple[int, int]:
    """Every chunk's length and CRC, an IHDR first with sane dimensions, IDAT data that inflates, IEND last;
    answers the width and height."""
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
    return width, height


def _check_jpeg(data: bytes) -> tuple[int, int]:
    """Markers walked from the start to the scan, a frame header with sane dimensions, an end marker;
    answers the width and height."""
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
    return width, height


def _check_pdf(data: bytes) -> None:
    if data[5:8] not in (b"1.0", b"1.1", b"1.2", b"1.3", b"1.4", b"1.5", b"1.6", b"1.7", b"2.0"):
        raise _broken("PDF", "unknown version")
    if b"%%EOF" not in data[-1024:]:
        raise _broken("PDF", "no end-of-file marker")
    _check_pdf_structure(data)


# Active content a PDF viewer may run or open; members' documents are scans and never need it. Names
# are compared after pypdf has parsed them, so ``/J#61vaScript`` is ``/JavaScript`` here.
PDF_ACTIVE_KEYS = {
    "/JS": "JavaScript",
    "/JavaScript": "JavaScript",
    "/AA": "additional actions",
    "/XFA": "an XFA form",
    "/EmbeddedFiles": "embedded files",
    "/EF": "an embedded file",
    "/RichMediaContent": "rich media",
    "/RichMediaSettings": "rich media",
}
PDF_ACTIVE_ACTIONS = {  # values of /S in an action dictionary
    "/JavaScript": "JavaScript",
    "/Launch": "a launch action",
    "/SubmitForm": "a form submission",
    "/ImportData": "a data import",
    "/GoToE": "a jump into an embedded file",
    "/GoToR": "a jump into another file",
    "/Rendition": "a media rendition",
    "/RichMediaExecute": "rich media",
}
PDF_ACTIVE_TYPES = {  # values of /Type or /Subtype
    "/EmbeddedFile": "an embedded file",
    "/FileAttachment": "a file attachment",
    "/RichMedia": "rich media",
    "/Screen": "a media screen",
    "/Movie": "a movie",
    "/Sound": "a sound",
    "/3D": "3D content",
}
MAX_PDF_PAGES = 500
MAX_PDF_NODES = 200_000  # dictionaries, arrays and objects visited; a 50-page scan has a few thousand
MAX_PDF_ORPHANS = 1_000  # object headers in the file that its cross-reference tables do not list
MAX_PDF_CHECK_SECONDS = 2.0  # CPU a hostile PDF may cost; a real scan of a few MB takes a fraction
# pypdf's own limits, far tighter than its defaults: an upload is at most a few MB.
_PDF_LIMITS: dict[str, Any] = {
    "maximum_declared_stream_length": 20_000_000,
    "zlib_maximum_output_length": 20_000_000,
    "lzw_maximum_output_length": 20_000_000,
    "run_length_maximum_output_length": 20_000_000,
    "array_based_stream_maximum_output_length": 20_000_000,
    "array_maximum_element_count": 50_000,
    "dictionary_maximum_element_count": 10_000,
    "page_tree_maximum_entries": 5_000,
    "page_tree_maximum_depth": 32,
    "page_tree_maximum_page_entries": 100_000,
    "jbig2dec_binary": None,  # never run an external decoder on an upload
}
_OBJECT_HEADER = re.compile(rb"(?<![0-9])([0-9]{1,10})\s+([0-9]{1,5})\s+obj\b\s*")


def _active(what: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        "PDF files with scripts, actions, forms that run code or embedded files are not accepted.",
        params={"found": what},
        errors={"file": ["The PDF holds active content."]},
        error="pdf_active_content",
    )


def _check_pdf_structure(data: bytes) -> None:
    """Parse the PDF and walk every object it holds: everything reachable from the trailer (catalog, pages,
    annotations, name trees, forms), every object of the cross-reference tables and object streams, and
    any object whose header is in the file but not in those tables (a lenient viewer would find it).
    Refuse active content found anywhere, a PDF that cannot be parsed, and one that takes too much work."""
    from pypdf import PdfReader, apply_configuration
    from pypdf.generic import IndirectObject, read_object

    deadline = time.thread_time() + MAX_PDF_CHECK_SECONDS  # CPU time of this thread: load elsewhere does not count
    try:
        with apply_configuration(**_PDF_LIMITS):
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                raise _broken("PDF", "it is encrypted or password-protected")
            if len(reader.pages) > MAX_PDF_PAGES:
                raise PayloadTooLarge(
                    "A PDF may have at most {max} pages.",
                    error="pdf_too_many_pages",
                    params={"max": MAX_PDF_PAGES},
                    errors={"file": [f"At most {MAX_PDF_PAGES} pages."]},
                )
            roots: list[Any] = [reader.trailer]
            known: set[int] = set(reader.xref_objStm)
            for generation, entries in reader.xref.items():
                known.update(entries)
                roots.extend(IndirectObject(number, generation, reader) for number in entries)
            roots.extend(IndirectObject(number, 0, reader) for number in reader.xref_objStm)
            _within_budget(deadline)
            stream = io.BytesIO(data)
            orphans = 0
            for found in _OBJECT_HEADER.finditer(data):
                if int(found.group(1)) in known:
                    continue
                orphans += 1
                _within_budget(deadline, over=orphans > MAX_PDF_ORPHANS)
                stream.seek(found.end())
                try:
                    roots.append(read_object(stream, reader))
                except Exception:  # noqa: BLE001, S112 - not an object a viewer could use either
                    continue
            _walk_pdf(roots, deadline)
    except DomainError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a hostile file makes the parser raise, it is refused
        raise _broken("PDF", f"it cannot be read: {type(exc).__name__}") from None


def _within_budget(deadline: float, *, over: bool = False) -> None:
    if over or time.thread_time() > deadline:
        raise PayloadTooLarge(
            "This PDF is too complex to check; print it to a new PDF or scan it again.",
            error="pdf_too_complex",
            errors={"file": ["too complex"]},
        )


def _walk_pdf(roots: list[Any], deadline: float) -> None:
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    stack = list(roots)
    seen: set[tuple[int, int]] = set()
    nodes = 0
    while stack:
        item = stack.pop()
        if isinstance(item, IndirectObject):
            key = (item.idnum, item.generation)
            if key in seen:
                continue
            seen.add(key)
            item = item.get_object()
        nodes += 1
        if nodes % 1000 == 0 or nodes > MAX_PDF_NODES:
            _within_budget(deadline, over=nodes > MAX_PDF_NODES)
        if isinstance(item, DictionaryObject):
            raw = list(dict.items(item))  # as stored: references stay references, resolved once via the stack
            for name, value in raw:
                if name in PDF_ACTIVE_KEYS:
                    raise _active(PDF_ACTIVE_KEYS[name])
                if name in ("/S", "/Type", "/Subtype"):
                    kind = value.get_object() if isinstance(value, IndirectObject) else value
                    if not isinstance(kind, str):
                        continue
                    if name == "/S" and kind in PDF_ACTIVE_ACTIONS:
                        raise _active(PDF_ACTIVE_ACTIONS[kind])
                    if name != "/S" and kind in PDF_ACTIVE_TYPES:
                        raise _active(PDF_ACTIVE_TYPES[kind])
            stack.extend(value for _name, value in raw)
        elif isinstance(item, ArrayObject):
            stack.extend(list.__iter__(item))


@dataclass(frozen=True)
class PreparedUpload:
    """What to store for an upload: its sniffed type and its bytes (images re-encoded)."""

    content_type: str
    data: bytes


def prepare_upload(data: bytes, max_bytes: int, max_pixels: int) -> PreparedUpload:
    """Check an upload and answer what to store: PDFs as sent (once their structure passed), images decoded
    under a pixel cap and encoded again, which drops EXIF (GPS, camera, owner) and anything hidden in the
    file. 413, 415 or 422 with the reason otherwise."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            "The file is larger than {max_bytes} bytes ({max_mb} MB).",
            error="file_too_large",
            params={"max_bytes": max_bytes, "max_mb": max_bytes // (1024 * 1024)},
            errors={"file": [f"At most {max_bytes} bytes."]},
        )
    content_type = sniff_content_type(data)
    if content_type == PDF:
        return PreparedUpload(content_type, data)
    return PreparedUpload(content_type, reencode_image(data, content_type, max_pixels))


JPEG_QUALITY = 85
_PNG_MODES = ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA")
_JPEG_MODES = ("L", "RGB", "CMYK")


def _too_many_pixels(what: str, max_pixels: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        "The image is too large: at most {max_pixels} pixels are accepted. Send a smaller photo.",
        params={"max_pixels": max_pixels, "found": what},
        errors={"file": [f"At most {max_pixels} pixels."]},
        error="image_too_large",
    )


def reencode_image(data: bytes, content_type: str, max_pixels: int) -> bytes:
    """The image decoded (at most ``max_pixels``), turned upright by its EXIF orientation, and encoded again
    in its own format (JPEG at quality 85, PNG lossless) with no metadata but its colour profile."""
    from PIL import Image, ImageOps

    kind = "JPEG" if content_type == JPEG else "PNG"
    width, height = _check_jpeg(data) if kind == "JPEG" else _check_png(data)  # from the header, not decoded
    if width * height > max_pixels:
        raise _too_many_pixels(f"{width} x {height} pixels", max_pixels)
    # Pillow's own guard, for any image it would find bigger than its header says: it refuses what is over
    # twice this (and warns over once); it never decodes a bomb.
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as image:
            if image.size[0] * image.size[1] > max_pixels:
                raise _too_many_pixels(f"{image.size[0]} x {image.size[1]} pixels", max_pixels)
            image.load()
            upright = ImageOps.exif_transpose(image)
            icc_profile = image.info.get("icc_profile")
            out = io.BytesIO()
            if kind == "JPEG":
                if upright.mode not in _JPEG_MODES:
                    upright = upright.convert("RGB")
                upright.save(out, "JPEG", quality=JPEG_QUALITY, icc_profile=icc_profile)
            else:
                if upright.mode not in _PNG_MODES or (upright.mode == "P" and "transparency" in upright.info):
                    upright = upright.convert("RGBA")
                upright.save(out, "PNG", icc_profile=icc_profile)
            return out.getvalue()
    except DomainError:
        raise
    except Image.DecompressionBombError:
        raise _too_many_pixels("too many pixels", max_pixels) from None
    except Exception as exc:  # noqa: BLE001 - whatever a broken or hostile file makes the decoder raise
        raise _broken(kind, f"the image does not decode: {type(exc).__name__}") from None


STREAM_CHUNK_BYTES = 64 * 1024  # a download is sent in pieces of this size, never held whole


class AttachmentStore(Protocol):
    """Where attachment bytes live. Keys are made by the store (the SHA-256 of the content), never the
    client's filename; identical uploads share one stored object."""

    def put(self, data: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...

    def open(self, key: str) -> Iterator[bytes]:
        """The content in pieces of at most STREAM_CHUNK_BYTES (a download streams it)."""
        ...

    def delete_if_older(self, key: str, cutoff: float) -> bool: ...


def _checked_key(key: str) -> str:
    if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
        raise ValueError("not a storage key")
    return key


class LocalAttachmentStore:
    """Content-addressed files under one directory: ``ab/cd/<sha256>``; identical uploads share a file."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        _checked_key(key)
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

    def open(self, key: str) -> Iterator[bytes]:
        handle = self._path(key).open("rb")  # opened now: a missing file fails here, not mid-response

        def chunks() -> Iterator[bytes]:
            with handle:
                while piece := handle.read(STREAM_CHUNK_BYTES):
                    yield piece

        return chunks()

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


TOUCHED_METADATA = "touched"  # Unix time of the last upload of this content (S3 objects cannot be utime'd)


class S3AttachmentStore:
    """Content-addressed objects in an S3-compatible bucket (``<prefix>ab/cd/<sha256>``), shared by every
    machine that serves the API. An upload of content already stored only refreshes its ``touched``
    metadata (a copy onto itself), which the purge of unsent uploads reads instead of a file's mtime."""

    def __init__(self, bucket: str, *, endpoint_url: str | None = None, region: str | None = None, prefix: str = ""):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=20),
        )

    def object_name(self, key: str) -> str:
        _checked_key(key)
        return f"{self.prefix}{key[:2]}/{key[2:4]}/{key}"

    def _exists(self, name: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def put(self, data: bytes) -> str:
        key = hashlib.sha256(data).hexdigest()
        name = self.object_name(key)
        metadata = {TOUCHED_METADATA: str(int(time.time()))}
        if self._exists(name):
            self.client.copy_object(
                Bucket=self.bucket,
                Key=name,
                CopySource={"Bucket": self.bucket, "Key": name},
                Metadata=metadata,
                MetadataDirective="REPLACE",
            )
            return key
        # One PUT: the object appears whole or not at all. The body is read from the bytes already in
        # memory (the upload was decoded and checked there), not copied again.
        self.client.put_object(
            Bucket=self.bucket, Key=name, Body=io.BytesIO(data), ContentLength=len(data), Metadata=metadata
        )
        return key

    def get(self, key: str) -> bytes:
        return b"".join(self.open(key))

    def open(self, key: str) -> Iterator[bytes]:
        answer = self.client.get_object(Bucket=self.bucket, Key=self.object_name(key))
        body = answer["Body"]

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(STREAM_CHUNK_BYTES)
            finally:
                body.close()

        return chunks()

    def touched_at(self, key: str) -> float | None:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.object_name(key))
        except ClientError:
            return None
        raw = (head.get("Metadata") or {}).get(TOUCHED_METADATA)
        return float(raw) if raw else float(head["LastModified"].timestamp())

    def delete_if_older(self, key: str, cutoff: float) -> bool:
        touched = self.touched_at(key)
        if touched is None or touched >= cutoff:
            return False
        self.client.delete_object(Bucket=self.bucket, Key=self.object_name(key))
        return True


_stores: dict[tuple[str, ...], AttachmentStore] = {}


def attachment_store(directory: str) -> AttachmentStore:
    """The local store under ``directory``."""
    store = _stores.get(("local", directory))
    if store is None:
        store = _stores[("local", directory)] = LocalAttachmentStore(directory)
    return store


def store_for(settings: Settings) -> AttachmentStore:
    """The store ``LSSO_STORAGE_BACKEND`` names: the local directory, or the S3-compatible bucket."""
    if settings.storage_backend != "s3":
        return attachment_store(settings.attachment_dir)
    identity = ("s3", settings.s3_bucket, settings.s3_endpoint_url, settings.s3_region, settings.s3_prefix)
    store = _stores.get(identity)
    if store is None:
        store = _stores[identity] = S3AttachmentStore(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            prefix=settings.s3_prefix,
        )
    return store
