"""seqdata.locations: the one URL test, local paths, file checks, reading, worker threads."""

import os
import threading

import pytest

from seqdata import locations
from seqdata.errors import MissingFilesError, SeqDataError
from seqdata.locations import (
    check_files,
    default_workers,
    is_url,
    local_path,
    open_filesystem,
    parallel_map,
    read_all,
    read_bytes,
)


@pytest.mark.parametrize("location, url", [
    ("s3://bucket/a.csv", True), ("file:///tmp/a.csv", True), ("memory://x/y", True),
    ("gs://b/%d.csv", True), ("hdfs://host:9000/p", True), ("a+b.c-d://x", True),
    ("data/a.csv", False), ("/abs/a.csv", False), ("C://data/a.csv", False),
    ("data/x://y.csv", False), ("://nothing", False), ("", False)])
def test_is_url(location, url):
    assert is_url(location) is url


def test_local_path_of_file_urls_and_paths():
    assert local_path("file:///data/a%20b.csv") == "/data/a b.csv"
    assert local_path("s3://bucket/a.csv") is None
    assert local_path("rel/a.csv") == "rel/a.csv"


def test_check_files_lists_every_problem_and_leaves_urls(tmp_path):
    (tmp_path / "ok.csv").write_text("1\n")
    (tmp_path / "dir.csv").mkdir()
    check_files([str(tmp_path / "ok.csv"), "s3://bucket/never-checked.csv"])
    with pytest.raises(MissingFilesError) as info:
        check_files([str(tmp_path / "ok.csv"), str(tmp_path / "dir.csv"),
                     str(tmp_path / "gone.csv")])
    message = str(info.value)
    assert "2 of 3 files" in message and "(a directory)" in message and "(missing)" in message


def test_read_bytes_local_file_url_and_missing(tmp_path):
    path = tmp_path / "a b.csv"
    path.write_bytes(b"1,2\n")
    assert read_bytes(str(path)) == b"1,2\n"
    assert read_bytes("file://" + str(path).replace(" ", "%20")) == b"1,2\n"
    with pytest.raises(MissingFilesError, match="gone.csv"):
        read_bytes(str(tmp_path / "gone.csv"))
    with pytest.raises(SeqDataError, match="cannot read"):
        read_bytes(str(tmp_path))       # a directory
    assert read_all([(str(path), str(path))] * 2) == [b"1,2\n"] * 2


def test_open_filesystem_local_and_unknown_scheme(tmp_path):
    fs, path = open_filesystem(str(tmp_path))
    assert fs.type_name == "local" and path == str(tmp_path)
    fs, path = open_filesystem("file://" + str(tmp_path))
    assert fs.type_name == "local"
    with pytest.raises(SeqDataError, match="no file system"):
        open_filesystem("nosuchscheme://bucket/x")


def test_default_workers_follows_cpu_affinity(monkeypatch):
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this platform")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert default_workers() == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    assert default_workers() == 8


def test_parallel_map_keeps_order_runs_nested_calls_and_raises():
    assert parallel_map(lambda a, b: a * b, range(20), range(20)) == [i * i for i in range(20)]
    # A call made on a pool thread runs inline instead of waiting on the pool it occupies.
    nested = parallel_map(lambda i: parallel_map(lambda j: (i, j), range(3)), range(12))
    assert nested == [[(i, j) for j in range(3)] for i in range(12)]
    names = parallel_map(lambda _: threading.current_thread().name, range(16))
    assert any(name.startswith("seqdata-read") for name in names)

    def fail(i):
        if i == 5:
            raise ValueError("five")
        return i

    with pytest.raises(ValueError, match="five"):
        parallel_map(fail, range(10))


def test_pool_is_forgotten_in_a_forked_child():
    locations._thread_pool()
    locations._forget_pool_after_fork()
    assert locations._pool_instance is None
