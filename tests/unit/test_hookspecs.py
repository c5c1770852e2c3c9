"""Meta-tests, as datasette has them: every hook is documented and tested."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from pyctr.core import hookspecs

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(n for n in dir(hookspecs) if n.startswith("pyctr_"))


def test_there_are_hooks():
    assert len(HOOKS) >= 10


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_with_its_exact_signature(name):
    params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
    doc = (ROOT / "docs" / "plugins.md").read_text()
    assert f"### `{name}({params})`" in doc


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_test(name):
    tests = "".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py") if p.name != "test_hookspecs.py")
    assert re.search(rf"def test_\w*{name}", tests), f"no test function is named after {name}"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_docstring_says_where_it_runs(name):
    assert "Runs in:" in (getattr(hookspecs, name).__doc__ or "")


def test_documented_hooks_all_exist():
    doc = (ROOT / "docs" / "plugins.md").read_text()
    documented = set(re.findall(r"### `(pyctr_\w+)\(", doc))
    assert documented == set(HOOKS)
