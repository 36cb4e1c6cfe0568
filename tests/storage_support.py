"""A local S3-compatible server for the attachment tests (moto's ThreadedMotoServer on a free port, started
and stopped by the tests), and helpers that look at stored files whichever store holds them."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lsso_mobile.config import Settings
from lsso_mobile.services.files import TOUCHED_METADATA, LocalAttachmentStore, S3AttachmentStore, store_for

S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "lsso-test",
    "AWS_SECRET_ACCESS_KEY": "lsso-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class LocalS3:
    endpoint_url: str

    def new_bucket(self) -> str:
        import boto3

        name = f"lsso-test-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1").create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def local_s3() -> Iterator[LocalS3]:
    from moto.server import ThreadedMotoServer

    previous = {name: os.environ.get(name) for name in S3_CREDENTIALS}
    os.environ.update(S3_CREDENTIALS)  # boto3's credential chain, in this process and the ones it starts
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield LocalS3(f"http://{host}:{port}")
    finally:
        server.stop()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def s3_overrides(s3: LocalS3) -> dict[str, object]:
    return {
        "storage_backend": "s3",
        "s3_bucket": s3.new_bucket(),
        "s3_endpoint_url": s3.endpoint_url,
        "s3_region": "us-east-1",
        "s3_prefix": "attachments/",
    }


def stored_files(settings: Settings) -> int:
    """Files (objects) the attachment store holds now."""
    store = store_for(settings)
    if isinstance(store, S3AttachmentStore):
        pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=store.prefix)
        return sum(len(page.get("Contents", [])) for page in pages)
    return sum(1 for path in Path(settings.attachment_dir).rglob("*") if path.is_file() and "." not in path.name[:1])


def age_file(settings: Settings, key: str, when: float) -> None:
    """Make a stored file look last uploaded at ``when`` (a Unix time)."""
    store = store_for(settings)
    if isinstance(store, S3AttachmentStore):
        name = store.object_name(key)
        store.client.copy_object(
            Bucket=store.bucket,
            Key=name,
            CopySource={"Bucket": store.bucket, "Key": name},
            Metadata={TOUCHED_METADATA: str(int(when))},
            MetadataDirective="REPLACE",
        )
        return
    assert isinstance(store, LocalAttachmentStore)
    os.utime(store._path(key), (when, when))


@pytest.fixture(params=["local", "s3"])
def both_stores(request: pytest.FixtureRequest) -> dict[str, object]:
    """``storage_overrides = both_stores`` in a module runs each of its tests on both stores."""
    if request.param == "local":
        return {}
    return s3_overrides(request.getfixturevalue("local_s3"))
