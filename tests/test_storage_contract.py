"""Behaviour every ObjectStore backend must share, run against local, S3 (moto) and the fault wrapper."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from app.storage import (
    FaultyObjectStore,
    InvalidKey,
    LocalObjectStore,
    ObjectNotFound,
    ObjectStore,
    StorageError,
)
from app.storage.s3 import S3ObjectStore
from helpers import fake_aws_env

BUCKET = "media-test"
PAGE_SIZE = 7  # small S3 pages so a handful of objects already spans several requests


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Fake credentials and a moto-mocked AWS for the duration of one test."""
    fake_aws_env(monkeypatch, tmp_path)
    with mock_aws():
        yield


@cache
def shared_boto_session() -> boto3.session.Session:
    """One session for the whole module: building a client from it skips reloading the S3 model."""
    return boto3.session.Session()


@pytest.fixture(params=["local", "s3", "faulty"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    """Each backend on a fresh, empty bucket."""
    if request.param == "local":
        yield LocalObjectStore(tmp_path / "objects", BUCKET)
    elif request.param == "faulty":
        # With no faults queued the wrapper must be indistinguishable from what it wraps.
        yield FaultyObjectStore(LocalObjectStore(tmp_path / "objects", BUCKET))
    else:
        request.getfixturevalue("aws_env")
        client = shared_boto_session().client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        s3 = S3ObjectStore(BUCKET, client=client, page_size=PAGE_SIZE)
        yield s3


def read_all(store: ObjectStore, key: str) -> bytes:
    with store.open_read(key) as f:
        return f.read()


def test_put_bytes_then_head_reports_size_md5_etag_and_content_type(store: ObjectStore) -> None:
    data = b'{"hello": "world"}\n'
    store.put_bytes("docs/a.json", data, content_type="application/json")

    info = store.head("docs/a.json")

    assert info.key == "docs/a.json"
    assert info.size == len(data)
    assert info.etag == hashlib.md5(data).hexdigest()
    assert info.content_type == "application/json"
    assert info.last_modified is not None and info.last_modified.tzinfo is not None


def test_put_file_stores_the_file_contents_with_default_content_type(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "clip.bin"
    source.write_bytes(bytes(range(256)) * 100)

    store.put_file("videos/clip.bin", source)

    assert read_all(store, "videos/clip.bin") == source.read_bytes()
    info = store.head("videos/clip.bin")
    assert info.size == 25600
    assert info.content_type == "application/octet-stream"


def test_put_file_of_a_missing_source_raises_file_not_found(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        store.put_file("videos/none.bin", tmp_path / "missing.bin")
    assert not store.exists("videos/none.bin")


def test_putting_an_existing_key_replaces_content_and_type(store: ObjectStore) -> None:
    store.put_bytes("k.txt", b"first", content_type="text/plain")
    store.put_bytes("k.txt", b"second version", content_type="application/x-custom")

    assert read_all(store, "k.txt") == b"second version"
    assert store.head("k.txt").content_type == "application/x-custom"
    assert [info.key for info in store.list("")] == ["k.txt"]


def test_open_read_iterates_lines_keeping_newlines(store: ObjectStore) -> None:
    lines = [b'{"n": %d}\n' % n for n in range(1000)] + [b"tail without newline"]
    store.put_bytes("out/records.jsonl", b"".join(lines))

    with store.open_read("out/records.jsonl") as f:
        assert list(f) == lines


def test_open_read_supports_sized_reads(store: ObjectStore) -> None:
    store.put_bytes("blob", b"0123456789")

    with store.open_read("blob") as f:
        assert f.read(4) == b"0123"
        assert f.readline() == b"456789"
        assert f.read(4) == b""


def test_exists_tells_present_from_absent_keys(store: ObjectStore) -> None:
    store.put_bytes("here.txt", b"x")

    assert store.exists("here.txt")
    assert not store.exists("not-here.txt")
    assert not store.exists("here")


def test_missing_objects_raise_object_not_found_naming_bucket_and_key(store: ObjectStore) -> None:
    for operation in (store.head, store.open_read):
        with pytest.raises(ObjectNotFound) as caught:
            operation("nope/missing.txt")
        message = str(caught.value)
        assert BUCKET in message and "nope/missing.txt" in message
        assert isinstance(caught.value, StorageError) and not caught.value.transient


def test_list_returns_only_prefixed_keys_in_lexicographic_order(store: ObjectStore) -> None:
    # '-' and '.' sort before '/', '0' after it: a naive directory walk gets this wrong.
    keys = ["a/bb", "a/b/c", "a-c", "a.d", "a0", "ab", "b", "a/a", "a/é", "a/z"]
    for key in keys:
        store.put_bytes(key, key.encode())

    assert [info.key for info in store.list("")] == sorted(keys)
    assert [info.key for info in store.list("a/")] == ["a/a", "a/b/c", "a/bb", "a/z", "a/é"]
    assert [info.key for info in store.list("a/b")] == ["a/b/c", "a/bb"]
    assert [info.key for info in store.list("a")] == sorted(k for k in keys if k.startswith("a"))
    assert list(store.list("zzz/")) == []


def test_list_reports_size_and_etag_like_head_but_no_content_type(store: ObjectStore) -> None:
    store.put_bytes("x/one.txt", b"one", content_type="text/plain")

    (listed,) = store.list("x/")
    head = store.head("x/one.txt")

    assert (listed.key, listed.size, listed.etag) == (head.key, head.size, head.etag)
    assert listed.content_type is None
    assert listed.last_modified is not None


def test_list_returns_every_object_across_many_pages(store: ObjectStore) -> None:
    keys = [f"batch/{n:03d}.json" for n in range(3 * PAGE_SIZE + 2)]
    for key in keys:
        store.put_bytes(key, b"{}")
    store.put_bytes("other/000.json", b"{}")

    assert [info.key for info in store.list("batch/")] == keys


def test_copy_duplicates_content_and_keeps_content_type(store: ObjectStore) -> None:
    store.put_bytes("src/a.txt", b"payload", content_type="text/plain")

    store.copy("src/a.txt", "dst/b.txt")

    assert read_all(store, "dst/b.txt") == b"payload"
    assert store.head("dst/b.txt").content_type == "text/plain"
    assert store.head("dst/b.txt").etag == store.head("src/a.txt").etag
    assert read_all(store, "src/a.txt") == b"payload"


def test_copy_with_content_type_replaces_it_on_the_copy_only(store: ObjectStore) -> None:
    store.put_bytes("src/a.jsonl", b"{}\n", content_type="application/octet-stream")

    store.copy("src/a.jsonl", "dst/a.jsonl", content_type="application/jsonl")
    store.copy("src/a.jsonl", "src/a.jsonl", content_type="text/plain")

    assert store.head("dst/a.jsonl").content_type == "application/jsonl"
    assert store.head("src/a.jsonl").content_type == "text/plain"
    assert read_all(store, "src/a.jsonl") == b"{}\n"


def test_copy_of_a_missing_source_raises_object_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound, match="src/missing"):
        store.copy("src/missing", "dst/x")
    assert not store.exists("dst/x")


def test_delete_many_removes_keys_and_counts_missing_ones_as_deleted(store: ObjectStore) -> None:
    store.put_bytes("d/1", b"1")
    store.put_bytes("d/2", b"2")
    store.put_bytes("keep", b"k")

    deleted = store.delete_many(["d/1", "d/2", "d/never-existed", "d/1"])

    assert deleted == 3
    assert [info.key for info in store.list("")] == ["keep"]


def test_delete_many_handles_more_keys_than_one_batch(store: ObjectStore) -> None:
    keys = [f"many/{n:03d}" for n in range(2 * PAGE_SIZE + 3)]
    for key in keys:
        store.put_bytes(key, b"")

    assert store.delete_many(iter(keys)) == len(keys)
    assert list(store.list("many/")) == []


def test_delete_many_of_nothing_deletes_nothing(store: ObjectStore) -> None:
    assert store.delete_many([]) == 0


def test_uri_and_key_from_uri_round_trip(store: ObjectStore) -> None:
    key = "batch/job 1/input, part 2.jsonl"

    uri = store.uri(key)

    assert uri == f"s3://{BUCKET}/{key}"
    assert store.key_from_uri(uri) == key


@pytest.mark.parametrize("uri", [
    "s3://another-bucket/a.txt",
    f"https://{BUCKET}/a.txt",
    f"s3://{BUCKET}",
    f"s3://{BUCKET}/",
    f"s3://{BUCKET}/../etc/passwd",
    "a.txt",
])
def test_key_from_uri_rejects_foreign_or_malformed_uris(store: ObjectStore, uri: str) -> None:
    with pytest.raises(InvalidKey):
        store.key_from_uri(uri)


@pytest.mark.parametrize("key, problem", [
    ("", "empty"),
    ("/abs/path.txt", "starts with '/'"),
    ("a/../b", "'..'"),
    ("..", "'..'"),
    ("a/./b", "'.'"),
    ("a//b", "empty path segment"),
    ("dir/", "empty path segment"),
    ("a\\b", "backslash"),
    ("a\x00b", "control character"),
    ("line\nbreak", "control character"),
    ("x" * 1025, "limit is 1024"),
])
def test_invalid_keys_are_rejected_with_a_reason(store: ObjectStore, key: str, problem: str) -> None:
    with pytest.raises(InvalidKey, match=problem.replace(".", r"\.")):
        store.put_bytes(key, b"x")
    for operation in (store.head, store.open_read, store.uri, store.local_path):
        with pytest.raises(InvalidKey):
            operation(key)
    with pytest.raises(ValueError):
        store.delete_many([key])
    assert list(store.list("")) == []


@pytest.mark.parametrize("prefix", ["/abs", "a//", "../", "a/../b/", "a\\"])
def test_invalid_list_prefixes_are_rejected(store: ObjectStore, prefix: str) -> None:
    with pytest.raises(InvalidKey):
        list(store.list(prefix))


@pytest.mark.parametrize("key", [
    "videos/my clip, take 2.mp4",
    "ünïcødé/日本語 ファイル.txt",
    "odd/a+b=c&d;e@f%20g#h?i.json",
    ".hidden/..dots.../x",
    "/".join(["s" * 200] * 5),  # 1004 bytes: long but within S3's 1024-byte limit
])
def test_unusual_but_valid_keys_round_trip(store: ObjectStore, key: str) -> None:
    store.put_bytes(key, key.encode("utf-8"), content_type="text/plain")

    assert read_all(store, key) == key.encode("utf-8")
    assert store.head(key).size == len(key.encode("utf-8"))
    assert [info.key for info in store.list("")] == [key]
    assert store.key_from_uri(store.uri(key)) == key
    assert store.delete_many([key]) == 1
    assert not store.exists(key)


def test_local_path_is_a_file_only_for_the_local_backend(store: ObjectStore) -> None:
    store.put_bytes("p/file.txt", b"on disk?")

    path = store.local_path("p/file.txt")

    if store.backend == "local":
        assert path is not None and path.read_bytes() == b"on disk?"
    else:
        assert store.backend == "s3" and path is None
