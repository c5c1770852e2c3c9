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
