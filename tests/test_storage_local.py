"""Local-disk store specifics (containment, atomic writes, pruning) and the fault-injecting wrapper."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from app.storage import (
    FaultyObjectStore,
    InvalidKey,
    LocalObjectStore,
    ObjectNotFound,
    StorageError,
    create_object_store,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "objects"


@pytest.fixture
def store(root: Path) -> LocalObjectStore:
    return LocalObjectStore(root, "media")


def all_files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def test_objects_are_plain_files_under_root_and_bucket(store: LocalObjectStore, root: Path) -> None:
    store.put_bytes("videos/a.mp4", b"frames")

    assert (root / "media" / "videos" / "a.mp4").read_bytes() == b"frames"
    assert store.local_path("videos/a.mp4") == (root / "media" / "videos" / "a.mp4").resolve()


def test_symlink_planted_in_the_store_cannot_lead_outside(store: LocalObjectStore, root: Path,
                                                          tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    os.symlink(outside, root / "media" / "escape")
    os.symlink(outside / "secret.txt", root / "media" / "link.txt")

    for key in ("escape/secret.txt", "link.txt"):
        with pytest.raises(InvalidKey, match="outside bucket"):
            store.open_read(key)
        with pytest.raises(InvalidKey):
            store.head(key)
        with pytest.raises(InvalidKey):
            store.delete_many([key])
    with pytest.raises(InvalidKey):
        store.put_bytes("escape/new.txt", b"planted")
    with pytest.raises(InvalidKey):
        list(store.list("escape/"))

    assert list(store.list("")) == []
    assert all_files(outside) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == b"secret"


def test_symlinks_that_stay_inside_the_bucket_still_work(store: LocalObjectStore, root: Path) -> None:
    store.put_bytes("real/a.txt", b"inside")
    os.symlink(root / "media" / "real", root / "media" / "alias")

    assert store.head("alias/a.txt").size == 6


def test_writes_leave_no_temp_files(store: LocalObjectStore, root: Path, tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"x" * 3000)
    store.put_bytes("a/b.txt", b"bytes")
    store.put_file("a/c.bin", source)
    store.copy("a/c.bin", "d/e.bin", content_type="video/mp4")

    data_files = all_files(root / "media")
    meta_files = all_files(root / ".meta" / "media")

    assert data_files == ["a/b.txt", "a/c.bin", "d/e.bin"]
    assert meta_files == data_files


def test_a_failed_write_keeps_the_old_object_and_cleans_up(store: LocalObjectStore, root: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store.put_bytes("a.txt", b"old", content_type="text/plain")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StorageError, match="No space left") as caught:
        store.put_bytes("a.txt", b"new content", content_type="application/json")
    monkeypatch.undo()

    assert caught.value.code == "IOError"
    assert store.open_read("a.txt").read() == b"old"
    assert store.head("a.txt").content_type == "text/plain"
    assert all_files(root / "media") == ["a.txt"]


def test_list_hides_leftover_temp_files(store: LocalObjectStore, root: Path) -> None:
    store.put_bytes("dir/real.txt", b"r")
    (root / "media" / "dir" / f".real.txt.{'0' * 32}.tmp").write_bytes(b"half written")

    assert [info.key for info in store.list("")] == ["dir/real.txt"]


def test_keys_shaped_like_temp_files_are_refused(store: LocalObjectStore) -> None:
    with pytest.raises(InvalidKey, match="temp file"):
        store.put_bytes(f"dir/.x.{'a' * 32}.tmp", b"")


def test_segments_too_long_for_the_filesystem_are_invalid_keys(store: LocalObjectStore) -> None:
    with pytest.raises(InvalidKey, match="255"):
        store.put_bytes("d/" + "n" * 256, b"")


def test_deleting_prunes_emptied_directories(store: LocalObjectStore, root: Path) -> None:
    store.put_bytes("a/b/c/d.txt", b"1")
    store.put_bytes("a/x.txt", b"2")

    store.delete_many(["a/b/c/d.txt"])
    assert not (root / "media" / "a" / "b").exists()
    assert not (root / ".meta" / "media" / "a" / "b").exists()
    assert (root / "media" / "a" / "x.txt").exists()

    store.delete_many(["a/x.txt"])
    assert list((root / "media").iterdir()) == []
    assert list((root / ".meta" / "media").iterdir()) == []


def test_key_that_is_a_prefix_directory_of_another_is_a_conflict(store: LocalObjectStore) -> None:
    store.put_bytes("a/b", b"file")

    with pytest.raises(StorageError, match="clashes") as caught:
        store.put_bytes("a", b"would need a file where a directory is")
    with pytest.raises(StorageError, match="clashes"):
        store.put_bytes("a/b/c", b"would need a directory where a file is")

    assert caught.value.code == "KeyConflict"
    assert not store.exists("a")
    assert store.delete_many(["a"]) == 1
    assert store.exists("a/b")


def test_etag_follows_files_changed_behind_the_stores_back(store: LocalObjectStore) -> None:
    store.put_bytes("f.txt", b"original")
    path = store.local_path("f.txt")
    path.write_bytes(b"edited outside the store")

    assert store.head("f.txt").etag == hashlib.md5(b"edited outside the store").hexdigest()
    assert [info.etag for info in store.list("")] == [hashlib.md5(b"edited outside the store").hexdigest()]


def test_files_without_metadata_get_md5_etag_and_default_type(store: LocalObjectStore, root: Path) -> None:
    (root / "media" / "dropped").mkdir()
    (root / "media" / "dropped" / "in.bin").write_bytes(b"dropped in by hand")

    info = store.head("dropped/in.bin")

    assert info.etag == hashlib.md5(b"dropped in by hand").hexdigest()
    assert info.content_type == "application/octet-stream"


def test_two_buckets_under_one_root_are_separate(root: Path) -> None:
    first = LocalObjectStore(root, "one")
    second = LocalObjectStore(root, "two")
    first.put_bytes("k", b"1")

    assert not second.exists("k")
    assert list(second.list("")) == []


@pytest.mark.parametrize("bucket", ["", ".meta", "a/b", "..", "x y"])
def test_unsafe_bucket_names_are_refused(root: Path, bucket: str) -> None:
    with pytest.raises(ValueError):
        LocalObjectStore(root, bucket)


def test_create_object_store_builds_a_local_store_under_data_dir(tmp_path: Path) -> None:
    store = create_object_store("local", data_dir=tmp_path, bucket="media")
    store.put_bytes("k.txt", b"v")

    assert isinstance(store, LocalObjectStore)
    assert (tmp_path / "objects" / "media" / "k.txt").read_bytes() == b"v"


def test_create_object_store_rejects_unknown_backends(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown storage backend"):
        create_object_store("ftp", data_dir=tmp_path, bucket="media")


@pytest.fixture
def faulty(store: LocalObjectStore) -> FaultyObjectStore:
    return FaultyObjectStore(store)


def test_injected_throttle_raises_transient_errors_the_given_number_of_times(faulty: FaultyObjectStore) -> None:
    faulty.put_bytes("k", b"v")
    faulty.inject("head", "throttle", times=2)

    for _ in range(2):
        with pytest.raises(StorageError) as caught:
            faulty.head("k")
        assert caught.value.transient and caught.value.code == "SlowDown"
    assert faulty.head("k").size == 1
    assert faulty.calls["head"] == 3
    assert faulty.pending() == 0


@pytest.mark.parametrize("kind, code", [("server_error", "InternalError"), ("timeout", "RequestTimeout")])
def test_other_transient_faults_carry_their_codes(faulty: FaultyObjectStore, kind: str, code: str) -> None:
    faulty.inject("put_bytes", kind)

    with pytest.raises(StorageError) as caught:
        faulty.put_bytes("k", b"v")

    assert (caught.value.code, caught.value.transient) == (code, True)
    assert not faulty.exists("k")


def test_injected_permanent_error_is_not_transient(faulty: FaultyObjectStore) -> None:
    faulty.inject("delete_many", "error", code="AccessDenied")

    with pytest.raises(StorageError) as caught:
        faulty.delete_many(["k"])

    assert (caught.value.code, caught.value.transient) == ("AccessDenied", False)


def test_partial_list_stops_early_once(faulty: FaultyObjectStore) -> None:
    for n in range(5):
        faulty.put_bytes(f"p/{n}", b"")
    faulty.inject("list", "partial", after=2)

    assert [info.key for info in faulty.list("p/")] == ["p/0", "p/1"]
    assert len(list(faulty.list("p/"))) == 5


def test_truncated_read_ends_early_once(faulty: FaultyObjectStore) -> None:
    faulty.put_bytes("lines", b"".join(b"line %03d\n" % n for n in range(50)))
    faulty.inject("open_read", "truncate", at=25)

    with faulty.open_read("lines") as f:
        assert list(f) == [b"line 000\n", b"line 001\n", b"line 00"]
    with faulty.open_read("lines") as f:
        assert len(f.read()) == 450


def test_faults_are_consumed_in_order_per_method(faulty: FaultyObjectStore) -> None:
    faulty.put_bytes("k", b"v")
    faulty.inject("head", "throttle")
    faulty.inject("head", "error", code="AccessDenied")

    with pytest.raises(StorageError, match="SlowDown"):
        faulty.head("k")
    with pytest.raises(StorageError, match="AccessDenied"):
        faulty.head("k")
    assert faulty.exists("k")


def test_faults_can_be_given_up_front(store: LocalObjectStore) -> None:
    faulty = FaultyObjectStore(store, {"exists": [{"kind": "timeout", "times": 2}]})

    assert faulty.pending("exists") == 2
    with pytest.raises(StorageError):
        faulty.exists("k")


@pytest.mark.parametrize("method, kind, params", [
    ("uri", "throttle", {}),
    ("head", "explode", {}),
    ("head", "partial", {"after": 1}),
    ("list", "partial", {}),
    ("open_read", "truncate", {"at": -1}),
    ("head", "throttle", {"times": 0}),
])
def test_nonsense_faults_are_refused(faulty: FaultyObjectStore, method: str, kind: str,
                                     params: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        faulty.inject(method, kind, **params)


def test_wrapper_reports_the_wrapped_backend(faulty: FaultyObjectStore) -> None:
    assert (faulty.backend, faulty.bucket) == ("local", "media")
    with pytest.raises(ObjectNotFound):
        faulty.head("missing")
