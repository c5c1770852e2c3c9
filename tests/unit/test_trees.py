"""remove_tree: rm -rf of pyctr's own directories that never follows a link."""

from __future__ import annotations

import os

from pyctr.core.trees import remove_tree


def test_removes_a_tree_with_files_and_special_files(tmp_path):
    top = tmp_path / "top"
    (top / "a/b/c").mkdir(parents=True)
    (top / "a/b/c/file").write_text("x")
    (top / "a/file").write_text("y")
    os.mkfifo(top / "a/fifo")
    remove_tree(top)
    assert not top.exists() and tmp_path.exists()


def test_links_are_removed_not_followed(tmp_path):
    victim = tmp_path / "victim"
    (victim / "inner").mkdir(parents=True)
    (victim / "keep").write_text("keep")
    top = tmp_path / "top"
    (top / "d").mkdir(parents=True)
    os.symlink(victim, top / "d/to-dir")
    os.symlink(victim / "keep", top / "to-file")
    os.symlink("/nonexistent", top / "dangling")
    remove_tree(top)
    assert not top.exists()
    assert (victim / "keep").read_text() == "keep" and (victim / "inner").is_dir()


def test_a_link_given_as_the_path_is_removed_alone(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("keep")
    os.symlink(victim, tmp_path / "link")
    remove_tree(tmp_path / "link")
    assert not os.path.lexists(tmp_path / "link") and (victim / "keep").exists()


def test_missing_path_and_plain_file(tmp_path):
    remove_tree(tmp_path / "nothing")
    f = tmp_path / "file"
    f.write_text("x")
    remove_tree(f)
    assert not f.exists()


# --- hostile shapes: iterative, bounded descriptors (issue 16) ---------------------------

import time  # noqa: E402

import pytest  # noqa: E402

from pyctr.core import trees  # noqa: E402
from pyctr.testing.trees import make_deep, make_wide, open_fds  # noqa: E402


@pytest.fixture
def deep_dir(tmp_path):
    """A directory for a deep tree, removed whatever the test did (pytest's own clean-up of old
    temporary directories uses shutil.rmtree, which recursion-errors on such a tree)."""
    top = tmp_path / "deep"
    yield top
    trees.remove_tree(top)
    trees.remove_tree(tmp_path / "elsewhere")


def test_ten_thousand_deep_walk_remove_and_measure(deep_dir):
    top = deep_dir
    make_deep(top, 10_000)
    before = open_fds()
    most = 0
    depth = 0
    for level in trees.walk(top):
        depth = max(depth, level.depth)
        if level.depth % 500 == 0:
            most = max(most, open_fds() - before)
    assert depth == 10_000
    assert most <= trees.MAX_OPEN_FDS + 2, most
    assert open_fds() <= before  # nothing leaked
    assert trees.disk_usage(top)[1] == 10_001  # 10,000 directories and the leaf
    t = time.monotonic()
    assert trees.remove_tree(top) == []
    assert not top.exists() and open_fds() <= before
    assert time.monotonic() - t < 30


def test_bottom_up_deep_walk_yields_the_deepest_first_and_reopens_parents(deep_dir):
    top = deep_dir
    make_deep(top, 300)
    depths = [level.depth for level in trees.walk(top, topdown=False)]
    assert depths == list(range(300, -1, -1))
    deepest = next(iter(trees.walk(top, topdown=False)))
    assert deepest.path == "/".join(["d"] * 300)


def test_hundred_thousand_entries_in_one_directory(deep_dir):
    top = deep_dir
    make_wide(top, 100_000, dirs_every=10)
    levels = list(trees.walk(top, sort=True))
    assert len(levels) == 1 + 10_000
    assert trees.disk_usage(top)[1] == 100_000
    t = time.monotonic()
    assert trees.remove_tree(top) == []
    assert not top.exists()
    assert time.monotonic() - t < 60


def test_sorted_walk_is_byte_order_and_prunable(tmp_path):
    top = tmp_path / "t"
    for name in ("b", "a", "B", "é", "a/x", "a/x/y"):
        (top / name).mkdir(parents=True, exist_ok=True)
    (top / "z-file").write_text("z")
    seen = []
    for level in trees.walk(top, sort=True):
        seen.append(level.path)
        if level.path == "a":
            level.dirs.remove("x")  # pruned: never entered
    assert seen == ["", "B", "a", "b", "é"]


def test_a_moved_directory_stops_the_walk(deep_dir, tmp_path):
    top = deep_dir
    make_deep(top, trees.MAX_OPEN_FDS + 5)
    walker = trees.walk(top, topdown=True)
    for level in walker:
        if level.depth == trees.MAX_OPEN_FDS + 5:
            # move the top's first child away: going up, ".." no longer leads to what was walked
            os.rename(top / "d", tmp_path / "elsewhere")
            os.mkdir(top / "d")
            break
    with pytest.raises(trees.TreeChanged):
        for _ in walker:
            pass


def test_copy_tree_deep_and_special_files(deep_dir, tmp_path):
    src = deep_dir
    make_deep(src / "deep", 3000)
    (src / "f").write_bytes(b"data" * 1000)
    os.chmod(src / "f", 0o640)
    os.symlink("/etc/passwd", src / "link")
    os.mkfifo(src / "fifo")
    (src / "ro").mkdir()
    os.chmod(src / "ro", 0o555)
    dst = tmp_path / "elsewhere"
    dst.mkdir()
    before = trees.disk_usage(src)
    trees.copy_tree(src, dst)
    assert trees.disk_usage(dst) == before
    assert (dst / "f").read_bytes() == b"data" * 1000 and os.stat(dst / "f").st_mode & 0o777 == 0o640
    assert os.readlink(dst / "link") == "/etc/passwd"
    assert os.stat(dst / "ro").st_mode & 0o777 == 0o555
    import stat as st

    assert st.S_ISFIFO(os.lstat(dst / "fifo").st_mode)
    deepest = max(level.depth for level in trees.walk(dst))
    assert deepest == 3001


def test_the_drivers_staging_helper_removes_any_depth(deep_dir):
    """pyctr.core.drivers.remove_dead_staging (for third-party storage drivers) used a recursive
    rmtree: a staging tree deeper than Python's recursion limit raised RecursionError."""
    from pyctr.core.drivers import remove_dead_staging

    dead = f".tmp-{'a' * 64}-999999999-0badc0de"
    make_deep(deep_dir / dead, 3000)
    (deep_dir / "keep").mkdir()
    assert remove_dead_staging(deep_dir, [dead, "keep"]) == [dead]
    assert not (deep_dir / dead).exists() and (deep_dir / "keep").is_dir()
