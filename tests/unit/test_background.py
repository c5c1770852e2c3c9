"""pyctr.core.background: one call in a thread, joined, its error re-raised."""

from __future__ import annotations

import os
import time

import pytest

from pyctr.core.background import Background


def test_join_waits_for_the_call_and_it_ran_concurrently() -> None:
    r, w = os.pipe()
    got: list[bytes] = []
    bg = Background(lambda: got.append(os.read(r, 1)))  # blocks until we write
    time.sleep(0.05)
    assert got == []  # still waiting in the thread while we go on
    os.write(w, b"x")
    bg.join()
    assert got == [b"x"]
    os.close(r)
    os.close(w)


def test_join_re_raises_the_error_once() -> None:
    def fail(message: str) -> None:
        raise ValueError(message)

    bg = Background(fail, "boom")
    with pytest.raises(ValueError, match="boom"):
        bg.join()
    bg.join()  # joined already: no second raise, no hang
