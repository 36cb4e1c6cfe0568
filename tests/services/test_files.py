"""Files are judged by their bytes: structure checked, never the name or the client's content type."""

from __future__ import annotations

import pytest

from lsso_mobile.errors import DomainError
from lsso_mobile.services.files import JPEG, PDF, PNG, LocalAttachmentStore, check_upload, sniff_content_type
from tests.messaging_support import jpeg_bytes, pdf_bytes, png_bytes


def test_real_files_are_recognised():
    assert sniff_content_type(png_bytes()) == PNG
    assert sniff_content_type(jpeg_bytes()) == JPEG
    assert sniff_content_type(pdf_bytes()) == PDF


@pytest.mark.parametrize(
    ("data", "reason", "status"),
    [
        (b"MZ\x90\x00" + b"\x00" * 100, "Windows program", 415),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "Linux program", 415),
        (b"<html><script>alert(1)</script>", "HTML", 415),
        (b"GIF89a....", "GIF", 415),
        (png_bytes()[:-8], "PNG", 415),  # truncated
        (png_bytes()[:30] + b"X" + png_bytes()[31:], "PNG", 415),  # a flipped byte breaks a checksum
        (png_bytes() + b"MZ-payload", "after the end", 415),
        (b"\xff\xd8\xff\xe0garbage", "JPEG", 415),
        (b"%PDF-1.4\n no end marker", "PDF", 415),
        (pdf_bytes(b"<< /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>\n"), "scripts", 415),
        (b"", "empty", 422),
    ],
)
def test_bad_files_are_refused_with_a_reason(data, reason, status):
    with pytest.raises(DomainError) as caught:
        check_upload(data, 1_000_000)
    assert caught.value.status == status and reason in caught.value.message


def test_size_limit():
    with pytest.raises(DomainError) as caught:
        check_upload(png_bytes(), 10)
    assert caught.value.status == 413


def test_store_is_content_addressed_and_refuses_other_keys(tmp_path):
    store = LocalAttachmentStore(tmp_path)
    key = store.put(png_bytes())
    assert store.put(png_bytes()) == key and store.get(key) == png_bytes()
    assert len(list(tmp_path.rglob("*"))) == 3  # two directory levels and one file
    with pytest.raises(ValueError):
        store.get("../../etc/passwd")


def test_phone_trailers_after_a_jpeg_are_accepted():
    """Some Android cameras append their own data after the end-of-image marker."""
    assert sniff_content_type(jpeg_bytes() + b"SEFH" + b"\x00" * 500 + b"SEFT") == JPEG


def test_a_file_uploaded_again_after_the_cutoff_is_kept(tmp_path):
    import os
    import time

    store = LocalAttachmentStore(tmp_path)
    key = store.put(png_bytes())
    old = time.time() - 3 * 86400
    os.utime(store._path(key), (old, old))
    cutoff = time.time() - 86400
    store.put(png_bytes())  # the same bytes again: the file is touched
    assert store.delete_if_older(key, cutoff) is False and store.get(key) == png_bytes()
    os.utime(store._path(key), (old, old))
    assert store.delete_if_older(key, cutoff) is True and store.delete_if_older(key, cutoff) is False
