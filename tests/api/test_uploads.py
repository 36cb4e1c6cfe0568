"""Uploads over HTTP: images re-encoded under a pixel cap (no EXIF, no GPS), hostile PDFs refused, and a
quota on uploads not yet sent, held under parallel uploads."""

from __future__ import annotations

import io
import struct
import threading
import zlib
from datetime import datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select, update

from lsso_mobile.models import Attachment
from lsso_mobile.services.working_time import VIENTIANE
from tests.messaging_support import jpeg_bytes, member, pdf_bytes, pdf_with_object_stream, pixels, png_bytes, start
from tests.messaging_support import upload as post_file
from tests.storage_support import age_file, stored_files
from tests.support import field_codes

BASE = "/api/v1/conversations"
GPS_IFD = 0x8825
ORIENTATION = 0x0112


def _count(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Attachment))


@pytest.fixture
def storage_overrides(both_stores):
    """Every test here runs on the local directory and on the S3-compatible store (a local moto server)."""
    return both_stores


def _stored_files(settings) -> int:
    """Files in the attachment store (the directory is shared by the session's tests: compare before and after)."""
    return stored_files(settings)


def _common_shape(body: dict, status: int) -> None:
    assert body["code"] == status and isinstance(body["status"], str) and body["message"]


def huge_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid grey PNG that is small on disk (about 390 KB) and 400 megapixels once decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer = zlib.compressobj(9)
    row = bytes(width + 1)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def photo_with_gps() -> bytes:
    """A 40 x 20 phone photo taken turned (EXIF orientation 6), with the camera and a GPS position."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (17.0, 58.0, 12.5), 3: "E", 4: (102.0, 36.0, 1.0)})
    return jpeg_bytes(40, 20, exif=exif.tobytes())


# -- images ----------------------------------------------------------------------------------------


def test_a_small_file_that_decodes_to_a_huge_image_is_refused(client, sms_gateway, db, settings):
    alice = member(client, sms_gateway, "+8562055581001")
    bomb = huge_png()
    assert len(bomb) < 500_000 < settings.attachment_max_bytes
    files = _stored_files(settings)
    refused = post_file(client, alice, bomb)
    assert refused.status_code == 413, refused.json
    _common_shape(refused.json, 413)
    assert refused.json["error"] == "image_too_large"
    assert "20000 x 20000" in refused.json["params"]["found"]
    assert field_codes(refused.json) == {"file": ["too_large"]}
    assert refused.json["params"]["max_pixels"] == settings.upload_max_pixels
    assert _count(db) == 0 and _stored_files(settings) == files


@pytest.mark.parametrize("settings_overrides", [{"upload_max_pixels": 1000}])
def test_the_pixel_cap_is_a_setting(client, sms_gateway, db):
    alice = member(client, sms_gateway, "+8562055581002")
    assert post_file(client, alice, png_bytes(40, 25)).status_code == 201  # 1000 pixels
    assert post_file(client, alice, png_bytes(41, 25)).status_code == 413
    assert post_file(client, alice, jpeg_bytes(41, 25), filename="p.jpg").status_code == 413
    assert _count(db) == 1


def test_photos_lose_exif_and_gps_and_are_turned_upright(client, sms_gateway, db, settings):
    alice = member(client, sms_gateway, "+8562055581003")
    original = photo_with_gps()
    with Image.open(io.BytesIO(original)) as sent:
        assert sent.getexif().get_ifd(GPS_IFD)  # the upload does carry a position
    uploaded = post_file(client, alice, original, filename="IMG_0001.jpg", content_type="image/jpeg")
    assert uploaded.status_code == 201, uploaded.json
    served = client.get(f"{BASE}/attachments/{uploaded.json['id']}", headers=alice)
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    with Image.open(io.BytesIO(served.data)) as stored:
        assert stored.format == "JPEG"
        exif = stored.getexif()
        assert not exif.get_ifd(GPS_IFD) and ORIENTATION not in exif and len(exif) == 0
        assert "exif" not in stored.info
        assert stored.size == (20, 40)  # orientation 6 applied: the pixels are upright now
    assert b"PhoneMaker" not in served.data
    row = db.get(Attachment, uploaded.json["id"])
    import hashlib

    assert (
        row.size == len(served.data) == uploaded.json["size"] and row.sha256 == hashlib.sha256(served.data).hexdigest()
    )
    # the same photo again gives the same attachment (the re-encoding is deterministic)
    again = post_file(client, alice, original, filename="IMG_0001.jpg", content_type="image/jpeg")
    assert again.status_code == 201 and again.json["id"] == uploaded.json["id"] and _count(db) == 1


def test_a_png_keeps_its_format_and_pixels_and_loses_hidden_chunks(client, sms_gateway):
    alice = member(client, sms_gateway, "+8562055581004")
    original = png_bytes(6, 4)
    text_chunk = b"tEXt" + b"Comment\x00<script>alert(1)</script>"
    with_text = (
        original[:33]
        + struct.pack(">I", len(text_chunk) - 4)
        + text_chunk
        + struct.pack(">I", zlib.crc32(text_chunk) & 0xFFFFFFFF)
        + original[33:]
    )
    uploaded = post_file(client, alice, with_text)
    assert uploaded.status_code == 201, uploaded.json
    served = client.get(f"{BASE}/attachments/{uploaded.json['id']}", headers=alice)
    assert served.mimetype == "image/png" and pixels(served.data) == pixels(original)
    assert b"<script>" not in served.data


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        # structurally a JPEG (markers, frame, scan, end) but its scan data cannot be decoded
        (
            b"\xff\xd8\xff\xc0"
            + struct.pack(">HBHHB", 11, 8, 8, 8, 1)
            + b"\x01\x11\x00\xff\xda"
            + struct.pack(">HB", 8, 1)
            + b"\x01\x00\x00\x3f\x00\x12\x34\x56\xff\xd9",
            "JPEG",
        ),
        # a PNG whose chunks, checksums and compressed data are right, but whose rows use an unknown filter
        (
            b"\x89PNG\r\n\x1a\n"
            + b"".join(
                struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
                for kind, data in (
                    (b"IHDR", struct.pack(">IIBBBBB", 4, 2, 8, 2, 0, 0, 0)),
                    (b"IDAT", zlib.compress((b"\x09" + b"\x07" * 12) * 2)),
                    (b"IEND", b""),
                )
            ),
            "PNG",
        ),
    ],
    ids=["jpeg-undecodable", "png-bad-filter"],
)
def test_an_image_that_does_not_decode_is_refused(client, sms_gateway, db, settings, data, kind):
    alice = member(client, sms_gateway, "+8562055581005")
    files = _stored_files(settings)
    refused = post_file(client, alice, data)
    assert refused.status_code == 415, refused.json
    _common_shape(refused.json, 415)
    assert refused.json["params"]["kind"] == kind and "does not decode" in refused.json["params"]["reason"]
    assert _count(db) == 0 and _stored_files(settings) == files


# -- PDFs ------------------------------------------------------------------------------------------


def test_hostile_pdfs_are_refused_and_a_clean_one_is_served_as_sent(client, sms_gateway, db):
    alice = member(client, sms_gateway, "+8562055581006")
    hidden = pdf_with_object_stream(
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 3 0 R >>",
        b"<< /Type /Pages /Kids [] /Count 0 >>",
        b"<< /S /JavaScript /JS (app.alert(1)) >>",
    )
    escaped = pdf_bytes(b"/OpenAction << /S /L#61unch /F (cmd.exe) >> ")
    for data in (hidden, escaped):
        refused = post_file(client, alice, data, filename="form.pdf", content_type="application/pdf")
        assert refused.status_code == 415 and refused.json["error"] == "pdf_active_content", refused.json
    clean = pdf_bytes()
    accepted = post_file(client, alice, clean, filename="form.pdf", content_type="application/pdf")
    assert accepted.status_code == 201 and accepted.json["size"] == len(clean)
    assert client.get(f"{BASE}/attachments/{accepted.json['id']}", headers=alice).data == clean
    assert _count(db) == 1


# -- quota on uploads not yet sent -------------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{"unsent_uploads_max_files": 3}])
def test_unsent_uploads_are_limited_in_number(client, sms_gateway, db, settings):
    alice = member(client, sms_gateway, "+8562055581010")
    ids = [post_file(client, alice, png_bytes(i + 1, 2)).json["id"] for i in range(3)]
    files = _stored_files(settings)
    refused = post_file(client, alice, png_bytes(33, 3, noise=True))
    assert refused.status_code == 429, refused.json
    _common_shape(refused.json, 429)
    assert refused.json["error"] == "unsent_uploads_quota"
    assert refused.json["params"]["files"] == 3 and refused.json["params"]["unsent_files"] == 3
    retry_after = int(refused.headers["Retry-After"])
    assert settings.unsent_upload_minutes * 60 <= retry_after <= settings.unsent_upload_minutes * 60 + 700
    assert _count(db) == 3 and _stored_files(settings) == files  # nothing stored for the refused one
    # the same file again is no new upload: it is answered, not counted
    assert post_file(client, alice, png_bytes(1, 2)).json["id"] == ids[0]
    # another member has their own quota
    bob = member(client, sms_gateway, "+8562055581011")
    assert post_file(client, bob, png_bytes(9, 2)).status_code == 201
    # sending frees the quota
    assert start(client, alice, attachment_ids=ids[:2]).status_code == 201
    assert post_file(client, alice, png_bytes(9, 2)).status_code == 201
    assert post_file(client, alice, png_bytes(10, 2)).status_code == 201
    assert post_file(client, alice, png_bytes(11, 2)).status_code == 429


@pytest.mark.parametrize("settings_overrides", [{"attachment_max_bytes": 40_000, "unsent_uploads_max_bytes": 70_000}])
def test_unsent_uploads_are_limited_in_bytes(client, sms_gateway, db, settings):
    alice = member(client, sms_gateway, "+8562055581012")
    photos = [png_bytes(100, 100 + i, noise=True) for i in range(3)]  # about 30 KB each, re-encoded too
    first = post_file(client, alice, photos[0])
    second = post_file(client, alice, photos[1])
    assert first.status_code == second.status_code == 201
    assert first.json["size"] + second.json["size"] <= 70_000 < first.json["size"] + second.json["size"] + 30_000
    refused = post_file(client, alice, photos[2])
    assert refused.status_code == 429 and refused.json["error"] == "unsent_uploads_quota", refused.json
    assert refused.json["params"]["unsent_bytes"] == first.json["size"] + second.json["size"]
    assert _count(db) == 2
    assert post_file(client, alice, png_bytes(2, 2)).status_code == 201  # a small one still fits


@pytest.mark.parametrize("settings_overrides", [{"unsent_uploads_max_files": 3, "messages_per_minute": 100}])
def test_parallel_uploads_cannot_pass_the_quota(app, client, sms_gateway, db, settings):
    alice = member(client, sms_gateway, "+8562055581013")
    workers = 10
    barrier = threading.Barrier(workers)
    statuses: list[int] = []
    files = _stored_files(settings)

    def upload_one(index: int) -> None:
        own_client = app.test_client()  # its own request, app context and database session
        photo = png_bytes(20 + index, 20, noise=True)
        barrier.wait()
        statuses.append(post_file(own_client, alice, photo).status_code)

    threads = [threading.Thread(target=upload_one, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 3 + [429] * (workers - 3)
    assert _count(db) == 3 and _stored_files(settings) == files + 3


# -- lifetime ----------------------------------------------------------------------------------------


def test_unsent_uploads_expire_after_the_configured_lifetime(client, sms_gateway, db, settings):
    from lsso_mobile.services.attachments import purge_unsent_uploads, remove_unused_files

    assert settings.unsent_upload_minutes == 120  # the default: two hours, not a day
    alice = member(client, sms_gateway, "+8562055581020")
    stale = post_file(client, alice, png_bytes(3, 3)).json["id"]
    fresh = post_file(client, alice, png_bytes(4, 4)).json["id"]
    now = datetime.now(VIENTIANE)
    db.execute(update(Attachment).where(Attachment.id == stale).values(created_at=now - timedelta(minutes=121)))
    db.execute(update(Attachment).where(Attachment.id == fresh).values(created_at=now - timedelta(minutes=90)))
    db.commit()
    store_key = db.get(Attachment, stale).storage_key
    age_file(settings, store_key, (now - timedelta(minutes=121)).timestamp())

    unused = purge_unsent_uploads(db, settings, now)
    db.commit()
    assert unused == [store_key]
    assert remove_unused_files(settings, unused, now) == 1
    assert {a.id for a in db.scalars(select(Attachment))} == {fresh}
    assert start(client, alice, attachment_ids=[stale]).status_code == 422  # gone


def test_the_new_settings_are_strictly_parsed():
    from lsso_mobile.config import ConfigError, load_settings

    loaded = load_settings(
        {
            "LSSO_UPLOAD_MAX_PIXELS": "12000000",
            "LSSO_UNSENT_UPLOADS_MAX_FILES": "4",
            "LSSO_UNSENT_UPLOADS_MAX_BYTES": "10485760",
            "LSSO_UNSENT_UPLOAD_MINUTES": "30",
        }
    )
    assert (loaded.upload_max_pixels, loaded.unsent_uploads_max_files) == (12_000_000, 4)
    assert (loaded.unsent_uploads_max_bytes, loaded.unsent_upload_minutes) == (10_485_760, 30)
    for name, value in (("LSSO_UPLOAD_MAX_PIXELS", "0"), ("LSSO_UNSENT_UPLOAD_MINUTES", "2h")):
        with pytest.raises(ConfigError, match=name):
            load_settings({name: value})
    with pytest.raises(ConfigError, match="LSSO_UNSENT_UPLOADS_MAX_BYTES"):
        load_settings({"LSSO_UNSENT_UPLOADS_MAX_BYTES": "1000"})  # less than one file may weigh


@pytest.mark.parametrize("settings_overrides", [{"attachment_max_bytes": 78, "unsent_uploads_max_bytes": 78}])
def test_one_image_grown_by_re_encoding_over_the_bytes_quota_is_a_413(client, sms_gateway, db, settings):
    from lsso_mobile.services.files import reencode_image

    original = png_bytes(3, 2)
    assert len(original) <= 78 < len(reencode_image(original, "image/png", settings.upload_max_pixels))
    alice = member(client, sms_gateway, "+8562055581030")
    refused = post_file(client, alice, original)
    assert refused.status_code == 413 and field_codes(refused.json) == {"file": ["too_large"]}, refused.json
    assert _count(db) == 0
