"""Attachment storage shared between machines: a file stored through one app process is served by another
(the S3-compatible store, a local moto server started by the tests), and downloads stream from the store."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from lsso_mobile.config import child_environ
from lsso_mobile.services.files import STREAM_CHUNK_BYTES, S3AttachmentStore, store_for
from tests.messaging_support import member, pdf_bytes, png_bytes, upload
from tests.storage_support import S3_CREDENTIALS

BASE = "/api/v1/conversations"

SERVE_IN_ANOTHER_PROCESS = r"""
import hashlib, json, os, sys
from lsso_mobile import create_app
app = create_app()
client = app.test_client()
answer = client.get(os.environ["TEST_PATH"], headers={"Authorization": "Bearer " + os.environ["TEST_TOKEN"]})
print(json.dumps({"status": answer.status_code, "sha256": hashlib.sha256(answer.data).hexdigest(),
                  "type": answer.headers.get("Content-Type")}))
"""


@pytest.fixture
def storage_overrides(both_stores):
    return both_stores


def test_a_file_stored_by_one_process_is_served_by_another(app, client, sms_gateway, settings, tmp_path):
    alice = member(client, sms_gateway, "+8562055583001")
    document = pdf_bytes()
    stored = upload(client, alice, document, filename="receipt.pdf", content_type="application/pdf")
    assert stored.status_code == 201, stored.json
    if settings.storage_backend == "local":
        # Another process on another machine sees another (empty) directory: the local store cannot share.
        other = settings.replace(attachment_dir=str(tmp_path / "another-machine"))
    else:
        other = settings
        assert isinstance(store_for(settings), S3AttachmentStore)
    environ = child_environ(other) | S3_CREDENTIALS
    environ.update(TEST_PATH=f"{BASE}/attachments/{stored.json['id']}", TEST_TOKEN=alice["Authorization"][7:])
    result = subprocess.run(
        [sys.executable, "-c", SERVE_IN_ANOTHER_PROCESS], env=environ, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    if settings.storage_backend == "s3":
        assert served == {
            "status": 200,
            "sha256": hashlib.sha256(document).hexdigest(),
            "type": "application/pdf",
        }
    else:
        assert served["status"] == 500  # the file is on the first machine's disk only: why S3 exists


def test_downloads_stream_from_the_store_in_pieces(app, client, sms_gateway, settings):
    alice = member(client, sms_gateway, "+8562055583002")
    image = png_bytes(400, 300, noise=True)  # noise does not compress: several pieces once stored
    stored = upload(client, alice, image)
    assert stored.status_code == 201, stored.json
    response = client.get(f"{BASE}/attachments/{stored.json['id']}", headers=alice, buffered=False)
    assert response.status_code == 200 and response.is_streamed
    pieces = list(response.response)
    assert len(pieces) > 1 and max(len(piece) for piece in pieces) <= STREAM_CHUNK_BYTES
    body = b"".join(pieces)
    response.close()
    assert int(response.headers["Content-Length"]) == len(body) == stored.json["size"]
    assert body == store_for(settings).get(hashlib.sha256(body).hexdigest())
