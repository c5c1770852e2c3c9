"""Pieces of the pull path that need no registry: gzip stream, progress display, staging names."""

from __future__ import annotations

import gzip
import io
import os
import zlib

import pytest

from pyctr.core.drivers import staging_in_use
from pyctr.images.progress import PlainProgress, TerminalProgress, bar
from pyctr.layers.streams import _GzipStream, open_layer_stream


def read_all(f, n=1 << 16) -> bytes:
    return b"".join(iter(lambda: f.read(n), b""))


def test_gzip_stream_matches_gzip_module_and_follows_members():
    a, b = os.urandom(300_000) + b"x" * 500_000, b"second member" * 1000
    blob = gzip.compress(a) + gzip.compress(b) + b"\0" * 1024  # padding after the last member is allowed
    assert read_all(open_layer_stream(io.BytesIO(blob))) == a + b


def test_gzip_stream_output_per_read_is_bounded():
    bomb = gzip.compress(b"\0" * (64 << 20))  # 64 MiB from ~64 KiB
    s = _GzipStream(io.BytesIO(bomb))
    sizes = [len(s.read(4096)) for _ in range(10)]
    assert max(sizes) <= 4096 and sum(sizes) == 40960
    assert s.read(0) == b""


def test_gzip_stream_truncated_or_garbage_is_an_error():
    blob = gzip.compress(os.urandom(100_000))
    with pytest.raises(EOFError):
        read_all(_GzipStream(io.BytesIO(blob[: len(blob) // 2])))
    with pytest.raises(zlib.error):
        read_all(_GzipStream(io.BytesIO(blob + b"garbage!")))


def test_progress_bar_like_docker():
    # Docker's JSONProgress.String() on a terminal wider than 110 columns
    assert bar(0, 100) == "[>" + " " * 50 + "] " + "      0B/100B"
    assert bar(50, 100) == "[" + "=" * 25 + ">" + " " * 25 + "] " + "     50B/100B"
    assert bar(100, 100) == "[" + "=" * 50 + ">] " + "    100B/100B"
    assert bar(3_400_000, 0) == "   3.4MB"
    assert bar(0, 0) == ""
    # the time left, as Go prints a Duration, while not done
    assert bar(25, 100, elapsed=10.0).endswith("100B 30s")
    assert bar(1, 100, elapsed=10.0).endswith(" 16m30s")


def test_progress_fits_an_80_column_terminal():
    assert bar(1_200_000, 3_400_000, width=80) == "   1.2MB/3.4MB"
    out = io.StringIO()
    p = TerminalProgress(out, interval=0, width=80)
    p.layer("0123456789ab", "Downloading", 1_200_000, 3_400_000)
    p.layer("0123456789ab", "Extracting " + "x" * 100, 1, 2)
    p.close()
    lines = [line.split("\r")[-1] for line in out.getvalue().split("\n") if line]
    assert lines and all(len(line) < 80 for line in lines)
    assert "0123456789ab: Downloading    1.2MB/3.4MB" in out.getvalue()


def test_plain_progress_prints_status_changes_only():
    out = io.StringIO()
    p = PlainProgress(out)
    p.layer("abc", "Pulling fs layer")
    for i in range(5):
        p.layer("abc", "Downloading", i, 10)
    p.layer("abc", "Pull complete")
    assert out.getvalue().splitlines() == ["abc: Pulling fs layer", "abc: Downloading", "abc: Pull complete"]


def test_terminal_progress_rewrites_lines_in_place():
    out = io.StringIO()
    p = TerminalProgress(out, interval=0, width=120)
    p.layer("aaa", "Pulling fs layer")
    p.layer("bbb", "Pulling fs layer")
    p.layer("aaa", "Downloading", 5, 10)
    p.close()
    text = out.getvalue()
    assert "\x1b[2A" in text and "aaa: Downloading [" in text and "5B/10B" in text


def test_staging_in_use_reads_the_pid_after_the_layer_id():
    lid = "a" * 64
    assert staging_in_use(f".tmp-{lid}-{os.getpid()}-ab12cd34")
    assert staging_in_use(f".tmp-rm-{lid}-{os.getpid()}")
    assert not staging_in_use(f".tmp-{lid}-999999999-ab12cd34")
    assert not staging_in_use(".tmp-garbage")


def test_a_zombie_does_not_hold_its_staging_directory():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    import time

    deadline = time.monotonic() + 5
    lid = "b" * 64
    try:
        while staging_in_use(f".tmp-{lid}-{pid}-00000000") and time.monotonic() < deadline:
            time.sleep(0.01)  # until the child is a zombie
        assert not staging_in_use(f".tmp-{lid}-{pid}-00000000")
    finally:
        os.waitpid(pid, 0)
