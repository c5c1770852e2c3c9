"""Meta-tests, as datasette has them: every hook is documented and tested."""

from __future__ import annotations

import ast
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


def _hook_tests() -> tuple[ast.Module, dict[str, ast.FunctionDef]]:
    tree = ast.parse((ROOT / "tests" / "integration" / "test_hooks.py").read_text())
    return tree, {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name.startswith("test_")}


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_test(name):
    """Not a name match an empty test satisfies: tests/integration/test_hooks.py's recorder plugin
    implements the hook, and a test named after it asserts on what that implementation saw or did."""
    tree, tests = _hook_tests()
    recorder = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "RECORDER")
    implemented = {f.name for f in ast.parse(recorder.value.value).body if isinstance(f, ast.FunctionDef)}
    assert name in implemented, f"the recorder plugin of test_hooks.py does not implement {name}"
    named = [f for n, f in tests.items() if n.startswith(f"test_{name}")]
    assert named, f"no test in test_hooks.py is named after {name}"
    # what the recorder's implementation of the hook leaves: its report line (named after the hook),
    # the command it registers, the status line or prune line it returns, or the change it makes
    traces = {name, "hello from a plugin", "Recorder: listening", "recorder: nothing to clean", "RECORDED"}
    for test in named:
        asserts = [a for a in ast.walk(test) if isinstance(a, ast.Assert)]
        mentioned = {c.value for c in ast.walk(test) if isinstance(c, ast.Constant) and isinstance(c.value, str)}
        if asserts and any(t in m for m in mentioned for t in traces):
            return
    raise AssertionError(f"no test named after {name} asserts on what the recorder's {name} saw")


@pytest.mark.parametrize("name", HOOKS)
def test_hook_docstring_says_where_it_runs(name):
    assert "Runs in:" in (getattr(hookspecs, name).__doc__ or "")


def test_documented_hooks_all_exist():
    doc = (ROOT / "docs" / "plugins.md").read_text()
    documented = set(re.findall(r"### `(pyctr_\w+)\(", doc))
    assert documented == set(HOOKS)
