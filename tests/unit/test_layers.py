"""The architecture, checked: the import-linter contract (.importlinter) holds,
and no module imports another that (directly or through others) imports it back.

Every import counts, a lazy one inside a function too; only imports under
``if TYPE_CHECKING:`` (annotations) do not.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_layering_contract_holds():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is a test dependency (setup.cfg [test])"
    result = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every group of modules that import each other in a circle (Tarjan's strongly
    connected components, iteratively: no recursion limit to meet)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph.find_modules_directly_imported_by(succ)))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        cycles.append(sorted(group))
    return cycles


def test_no_import_cycles_between_modules():
    graph = grimp.build_graph("pyctr", exclude_type_checking_imports=True)
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle(tmp_path, monkeypatch):
    # (so that the test above cannot pass by finding nothing)
    pkg = tmp_path / "cyclic_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from cyclic_pkg import b\n")
    (pkg / "b.py").write_text("from cyclic_pkg import c\n")
    (pkg / "c.py").write_text("import cyclic_pkg.a\n")
    (pkg / "d.py").write_text("import cyclic_pkg.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("cyclic_pkg", cache_dir=None)
    assert import_cycles(graph) == [["cyclic_pkg.a", "cyclic_pkg.b", "cyclic_pkg.c"]]


@pytest.mark.parametrize("package", ["pyctr.core", "pyctr.kernel", "pyctr.layers"])
def test_the_lower_layers_import_nothing_above_them(package):
    # The contract, once more in plain Python for the three lowest layers: what
    # they import from pyctr stays at their level or below.
    below = {"pyctr.core": ("pyctr.core", "pyctr.kernel"), "pyctr.kernel": ("pyctr.kernel",),
             "pyctr.layers": ("pyctr.layers", "pyctr.core", "pyctr.kernel")}[package]
    graph = grimp.build_graph("pyctr", exclude_type_checking_imports=True)
    for module in graph.find_children(package) | graph.find_descendants(package) | {package}:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported == "pyctr":
                continue  # the package root: __version__ and the hookimpl marker
            assert imported.startswith(below), f"{module} imports {imported}"
