"""The command line keeps Python's cyclic garbage collector off on the fast path and turns
it back on for click's commands; called in-process, it leaves the collector as it found it."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

import pyctr.cli as cli
from pyctr.cli import fastpath, group


def test_off_on_the_fast_path_and_back_on_for_click(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def fast(args: list[str]) -> None:
        seen["fast path"] = gc.isenabled()
        return None  # not a fast-path command: on to click

    def click(args: list[str]) -> None:
        seen["click"] = (gc.isenabled(), gc.get_freeze_count() > 0)

    monkeypatch.setattr(fastpath, "run", fast)
    monkeypatch.setattr(group, "run_click", click)
    assert gc.isenabled()
    cli.main(["ps"])
    assert seen == {"fast path": False, "click": (True, True)}
    assert gc.isenabled() and gc.get_freeze_count() == 0  # as found: nothing of the test process stays frozen


def test_left_off_if_it_was_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastpath, "run", lambda args: None)
    monkeypatch.setattr(group, "run_click", lambda args: None)
    gc.disable()
    try:
        cli.main(["ps"])
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_importing_pyctr_leaves_the_collector_on() -> None:
    out = subprocess.run([sys.executable, "-c", "import gc, pyctr; print(gc.isenabled())"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
