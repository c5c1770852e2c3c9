"""Trees of hostile shapes for tests: 10,000 directories deep, 100,000 entries wide.

Made through directory descriptors (``mkdir``/``open`` relative to the parent),
one level at a time: a path 10,000 levels deep is far longer than PATH_MAX,
so neither ``os.makedirs`` nor a shell could make or reach it.
"""

from __future__ import annotations

import os

import pytest

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def make_deep(top: str | os.PathLike[str], depth: int, name: str = "d", leaf: bytes | None = b"bottom\n") -> None:
    """``top/d/d/.../d`` ``depth`` directories deep, a file ``leaf`` at the bottom."""
    os.makedirs(top, exist_ok=True)
    fd = os.open(top, _DIR)
    try:
        for _ in range(depth):
            os.mkdir(name, 0o755, dir_fd=fd)
            child = os.open(name, _DIR, dir_fd=fd)
            os.close(fd)
            fd = child
        if leaf is not None:
            out = os.open("leaf", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644, dir_fd=fd)
            os.write(out, leaf)
            os.close(out)
    finally:
        os.close(fd)


def make_wide(top: str | os.PathLike[str], entries: int, dirs_every: int = 0) -> None:
    """``entries`` empty files in ``top`` (every ``dirs_every``-th an empty directory instead)."""
    os.makedirs(top, exist_ok=True)
    fd = os.open(top, _DIR)
    try:
        for i in range(entries):
            name = f"e{i:06d}"
            if dirs_every and i % dirs_every == 0:
                os.mkdir(name, 0o755, dir_fd=fd)
            else:
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644, dir_fd=fd))
    finally:
        os.close(fd)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def remove_deep_trees(tmp_path):
    """Deep layers are removed whatever the test did: pytest's own clean-up of old temporary
    directories (shutil.rmtree) recursion-errors on them, in every later session. A test module
    that makes deep trees imports this fixture (autouse: it then applies to each of its tests)."""
    yield
    from pyctr.core.trees import remove_tree

    for name in ("root", "rootfs", "corpus"):
        remove_tree(tmp_path / name)
