"""S3 store specifics: managed multipart transfers, paging and batching, and error mapping (moto + Stubber)."""
from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from app.storage import ObjectNotFound, StorageError, create_object_store
from app.storage.s3 import S3ObjectStore
from helpers import fake_aws_env

BUCKET = "media-test"
MIB = 1024 * 1024


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Fake credentials and a moto-mocked AWS holding an empty bucket."""
    fake_aws_env(monkeypatch, tmp_path)
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield


@pytest.fixture
def store(aws_env: None) -> S3ObjectStore:
    return S3ObjectStore(BUCKET, region="us-east-1", multipart_threshold=5 * MIB,
                         multipart_chunksize=5 * MIB, max_concurrency=2, page_size=3)


def count_calls(store: S3ObjectStore, operation: str) -> list[str]:
    """Record every completed call of an S3 operation on the store's client."""
    seen: list[str] = []
    store.client.meta.events.register(f"after-call.s3.{operation}", lambda **_: seen.append(operation))
    return seen


def test_files_above_the_threshold_are_uploaded_in_parts(store: S3ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "big.mp4"
    source.write_bytes(b"\x01" * (6 * MIB))

    store.put_file("videos/big.mp4", source, content_type="video/mp4")

    info = store.head("videos/big.mp4")
    assert info.etag is not None and info.etag.endswith("-2")
    assert (info.size, info.content_type) == (6 * MIB, "video/mp4")


def test_files_below_the_threshold_are_uploaded_whole(store: S3ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "small.bin"
    source.write_bytes(b"small")

    store.put_file("small.bin", source)

    assert "-" not in (store.head("small.bin").etag or "")


def test_large_copies_use_multipart_copy_and_keep_content_type(store: S3ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "big.mp4"
    source.write_bytes(b"\x02" * (6 * MIB))
    store.put_file("videos/big.mp4", source, content_type="video/mp4")
    parts_copied = count_calls(store, "UploadPartCopy")

    store.copy("videos/big.mp4", "backup/big.mp4")

    assert len(parts_copied) == 2
    info = store.head("backup/big.mp4")
    assert (info.size, info.content_type) == (6 * MIB, "video/mp4")


def test_listing_fetches_one_page_per_page_size_objects(store: S3ObjectStore) -> None:
    for n in range(7):
        store.put_bytes(f"p/{n}", b"")
    requests = count_calls(store, "ListObjectsV2")

    assert len(list(store.list("p/"))) == 7
    assert len(requests) == 3


def test_deleting_sends_one_request_per_batch(store: S3ObjectStore) -> None:
    keys = [f"d/{n}" for n in range(7)]
    for key in keys:
        store.put_bytes(key, b"")
    requests = count_calls(store, "DeleteObjects")

    assert store.delete_many(keys) == 7
    assert len(requests) == 3


def test_per_key_delete_errors_are_raised_after_all_batches(aws_env: None) -> None:
    store = S3ObjectStore(BUCKET, region="us-east-1", page_size=2)
    with Stubber(store.client) as stub:
        stub.add_response("delete_objects", {"Errors": [
            {"Key": "a", "Code": "AccessDenied", "Message": "Access Denied"}]})
        stub.add_response("delete_objects", {})

        with pytest.raises(StorageError, match="1 of 3 key") as caught:
            store.delete_many(["a", "b", "c"])
        stub.assert_no_pending_responses()

    assert "'a': AccessDenied" in str(caught.value)
    assert (caught.value.code, caught.value.transient) == ("AccessDenied", False)


def test_throttling_is_a_transient_error(store: S3ObjectStore) -> None:
    with Stubber(store.client) as stub:
        stub.add_client_error("head_object", service_error_code="SlowDown",
                              service_message="Please reduce your request rate.", http_status_code=503)
        with pytest.raises(StorageError) as caught:
            store.head("videos/a.mp4")

    assert not isinstance(caught.value, ObjectNotFound)
    assert (caught.value.code, caught.value.transient) == ("SlowDown", True)


def test_server_errors_are_transient_whatever_their_code(store: S3ObjectStore) -> None:
    with Stubber(store.client) as stub:
        stub.add_client_error("put_object", service_error_code="WeirdNewError", http_status_code=502)
        with pytest.raises(StorageError) as caught:
            store.put_bytes("k", b"v")

    assert caught.value.transient


def test_access_denied_is_permanent_and_names_operation_bucket_and_key(store: S3ObjectStore) -> None:
    with Stubber(store.client) as stub:
        stub.add_client_error("get_object", service_error_code="AccessDenied",
                              service_message="Access Denied", http_status_code=403)
        with pytest.raises(StorageError) as caught:
            store.open_read("private/a.json")

    message = str(caught.value)
    assert "open_read" in message and BUCKET in message and "private/a.json" in message
    assert (caught.value.code, caught.value.transient) == ("AccessDenied", False)


def test_upload_errors_keep_their_s3_error_code(store: S3ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "f.bin"
    source.write_bytes(b"data")
    with Stubber(store.client) as stub:
        stub.add_client_error("put_object", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(StorageError) as caught:
            store.put_file("f.bin", source)

    assert (caught.value.code, caught.value.transient) == ("AccessDenied", False)


def test_missing_key_from_moto_is_object_not_found(store: S3ObjectStore) -> None:
    with pytest.raises(ObjectNotFound, match="absent.txt"):
        store.open_read("absent.txt")
    with pytest.raises(ObjectNotFound, match="absent.txt"):
        store.head("absent.txt")


def test_missing_bucket_is_a_permanent_error_not_a_missing_object(aws_env: None) -> None:
    store = S3ObjectStore("no-such-bucket", region="us-east-1")

    with pytest.raises(StorageError) as caught:
        list(store.list(""))

    assert not isinstance(caught.value, ObjectNotFound)
    assert (caught.value.code, caught.value.transient) == ("NoSuchBucket", False)


def test_connection_failures_are_transient(aws_env: None) -> None:
    client = boto3.client("s3", region_name="us-east-1",
                          config=botocore.config.Config(retries={"max_attempts": 1}))

    def refuse(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://s3.amazonaws.com")

    client.meta.events.register_first("before-send.s3.HeadObject", refuse)
    store = S3ObjectStore(BUCKET, client=client)

    with pytest.raises(StorageError) as caught:
        store.head("k")

    assert caught.value.transient and BUCKET in str(caught.value)


class CountingRaw(io.RawIOBase):
    """An HTTP body stand-in that records how much was read and can fail mid-stream."""

    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        self._data = io.BytesIO(data)
        self.consumed = 0
        self._fail_after = fail_after

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._fail_after is not None and self.consumed >= self._fail_after:
            raise ReadTimeoutError(endpoint_url="https://s3.amazonaws.com")
        n = self._data.readinto(buffer)
        self.consumed += n
        return n


def stub_body(store: S3ObjectStore, stub: Stubber, raw: CountingRaw, size: int) -> None:
    stub.add_response("get_object", {"Body": StreamingBody(io.BufferedReader(raw), size), "ContentLength": size})


def test_reading_a_line_streams_instead_of_downloading_everything(store: S3ObjectStore) -> None:
    data = b"first line\n" + b"x" * (8 * MIB) + b"\n"
    raw = CountingRaw(data)
    with Stubber(store.client) as stub:
        stub_body(store, stub, raw, len(data))
        with store.open_read("big.jsonl") as f:
            assert next(iter(f)) == b"first line\n"

    assert raw.consumed < MIB


def test_a_stream_that_breaks_off_raises_a_transient_error(store: S3ObjectStore) -> None:
    data = b"line\n" * 200_000
    with Stubber(store.client) as stub:
        stub_body(store, stub, CountingRaw(data, fail_after=300_000), len(data))
        with store.open_read("big.jsonl") as f, pytest.raises(StorageError) as caught:
            for _ in f:
                pass

    assert caught.value.transient and "big.jsonl" in str(caught.value)


def test_page_size_outside_s3_limits_is_refused(aws_env: None) -> None:
    with pytest.raises(ValueError):
        S3ObjectStore(BUCKET, region="us-east-1", page_size=1001)


def test_create_object_store_builds_a_working_s3_store(aws_env: None, tmp_path: Path) -> None:
    store = create_object_store("s3", data_dir=tmp_path, bucket=BUCKET, region="us-east-1")
    store.put_bytes("k.txt", b"v")

    assert isinstance(store, S3ObjectStore)
    assert store.head("k.txt").size == 1
    assert not (tmp_path / "objects").exists()
