"""The detach keys as Docker reads them: held back while being typed, text again when they turn out not to be."""

from __future__ import annotations

import pytest

from pyctr.core.errors import UsageError
from pyctr.runtime.attaching import DETACH_KEYS, parse_detach_keys, split_keys


def test_the_whole_sequence_detaches_and_what_came_before_is_sent() -> None:
    assert split_keys(b"", b"ls\x10\x11", DETACH_KEYS) == (b"ls", b"", True)


def test_a_beginning_is_held_back_until_the_next_key_decides() -> None:
    assert split_keys(b"", b"\x10", DETACH_KEYS) == (b"", b"\x10", False)
    assert split_keys(b"\x10", b"\x11", DETACH_KEYS) == (b"", b"", True)
    assert split_keys(b"\x10", b"p", DETACH_KEYS) == (b"\x10p", b"", False)


def test_a_repeated_first_key_starts_again() -> None:
    assert split_keys(b"", b"\x10\x10\x11", DETACH_KEYS) == (b"\x10", b"", True)


def test_other_keys_and_no_keys() -> None:
    keys = parse_detach_keys("ctrl-a,x")
    assert keys == b"\x01x"
    assert split_keys(b"", b"a\x01y\x01x", keys) == (b"a\x01y", b"", True)
    assert split_keys(b"", b"\x10\x11", b"") == (b"\x10\x11", b"", False)


@pytest.mark.parametrize("text", ["ctrl-1", "ctrl-", "abc"])
def test_bad_keys(text: str) -> None:
    with pytest.raises(UsageError):
        parse_detach_keys(text)
