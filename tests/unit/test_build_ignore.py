""".dockerignore matching as moby's patternmatcher does it (not gitignore's)."""

import pytest

from pyctr.build.errors import BuildError
from pyctr.build.ignore import Matcher, clean, read_ignore_file


@pytest.mark.parametrize(("pattern", "path", "excluded"), [
    ("*.log", "a.log", True),
    ("*.log", "sub/a.log", False),  # anchored at the root, unlike gitignore
    ("**/*.log", "sub/a.log", True),
    ("**/*.log", "a.log", True),
    ("foo", "foo/bar/baz", True),  # a matched directory takes its subtree
    ("foo/", "foo/x", True),
    ("foo", "sub/foo", False),
    ("**/foo", "sub/deep/foo", True),
    ("**/foo", "foo/file", True),  # docker-py misses this one
    ("**file", "a/b/file", True),
    ("a**/*.txt", "a/dir/file.txt", True),  # pathspec misses this one
    ("a**/*.txt", "b/dir/file.txt", False),
    ("dir/**", "dir", False),
    ("dir/**", "dir/x/y", True),
    ("a?c", "abc", True),
    ("a?c", "a/c", False),
    ("a[b-d]e", "ace", True),
    ("a[^b-d]e", "aze", True),  # docker-py misses this one
    ("a[^b-d]e", "ace", False),
    ("abc.def", "abcxdef", False),
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
    ("./x/../y", "y", True),
    (".*", ".git", True),
    (".*", "a/.git", False),
])
def test_single_pattern(pattern, path, excluded):
    assert Matcher([pattern]).excluded(path) is excluded


def test_last_match_wins_and_exceptions_reinclude():
    m = Matcher(["*.md", "!README.md", "README*"])
    assert m.excluded("notes.md")
    assert m.excluded("README.md")  # the last pattern that matched excludes it again
    m = Matcher(["docs", "!docs/keep.txt"])
    assert m.excluded("docs/other.txt")
    assert not m.excluded("docs/keep.txt")
    assert m.may_include_below("docs")
    assert not Matcher(["docs"]).may_include_below("docs")


def test_exception_inside_excluded_tree_with_wildcards():
    m = Matcher(["**", "!src/**/*.py"])
    assert not m.excluded("src/a/b.py")
    assert m.excluded("src/a/b.txt")
    assert m.may_include_below("src")


def test_read_ignore_file():
    text = "\ufeff# comment\n  *.pyc  \n\n/abs/path\n!/keep\n! spaced\nsub/../other/\n #not a comment\r\n"
    assert read_ignore_file(text.encode()) == ["*.pyc", "abs/path", "!keep", "!spaced", "other", "#not a comment"]


@pytest.mark.parametrize("bad", ["[", "a[", "!", "a]"])
def test_bad_patterns(bad):
    with pytest.raises(BuildError):
        Matcher([bad])


def test_clean_is_go_filepath_clean():
    assert clean("") == "."
    assert clean("a//b/./c/..") == "a/b"
    assert clean("/../a") == "/a"
    assert clean("../a") == "../a"
    assert clean("//a") == "/a"
