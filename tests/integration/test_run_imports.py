"""The modules a ``pyctr run --rm --network none busybox true`` imports, and not one more.

Imports are most of a container start's own time (docs/performance.md), and
they creep in unnoticed: a convenient ``import`` in a module on the start
path can add milliseconds to every run. This test lists every module the
command's process imports (beyond what the interpreter had at start-up) and
fails on any module not in :data:`EXPECTED`, naming it. If the new module is
worth its cost, add it here in the same change, with the reason.

The command runs as a user with no third-party hook plugin has it (tests
install pyctr-example: ``PYCTR_DISABLE_PLUGIN_AUTOLOAD=1`` leaves it out), so
pluggy is not among them (pyctr.core.plugins).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.root

#: the standard library's modules a run imports, on Python 3.11, 3.12 and 3.13 (a module one of them
#: does not import is fine), and pyctr's own
EXPECTED_STDLIB = {
    "__future__", "_ctypes", "_json", "_socket", "_sqlite3", "_struct", "_typing", "collections.abc",
    "contextlib", "copyreg", "ctypes", "ctypes._endian", "enum", "errno", "fcntl", "fnmatch", "gc",
    "importlib", "ipaddress", "json", "json.decoder", "json.encoder", "json.scanner", "ntpath", "pathlib",
    "re", "re._casefix", "re._compiler", "re._constants", "re._parser", "_sre", "struct", "typing", "urllib",
    "urllib.parse", "warnings", "_winapi", "nt",
    # the interpreter's basics, which 3.11 imports only on first use when started with -c
    "_collections", "_functools", "_operator", "collections", "functools", "importlib._bootstrap",
    "importlib._bootstrap_external", "itertools", "keyword", "operator", "reprlib", "types",
    # 3.12 and 3.13
    "math", "pathlib._abc", "pathlib._local", "glob", "grp", "_opcode_metadata", "typing.io", "typing.re",
}
EXPECTED_PYCTR = {
    "pyctr", "pyctr.cli", "pyctr.cli.fastpath", "pyctr.cli.options", "pyctr.cli.runspec", "pyctr.cli.settings",
    "pyctr.core", "pyctr.core.background", "pyctr.core.config", "pyctr.core.container", "pyctr.core.drivers",
    "pyctr.core.engine", "pyctr.core.entrypoints", "pyctr.core.errors", "pyctr.core.filekeys",
    "pyctr.core.health", "pyctr.core.logconfig", "pyctr.runtime.runoptions",  # (small: the run's options)
    "pyctr.core.hookspecs", "pyctr.core.lifecycle", "pyctr.core.names", "pyctr.core.plugins",
    "pyctr.core.processes", "pyctr.core.records", "pyctr.core.rootless", "pyctr.core.selection", "pyctr.core.spec", "pyctr.core.state",
    "pyctr.core.trees", "pyctr.images", "pyctr.images.reference", "pyctr.images.store", "pyctr.kernel",
    "pyctr.kernel.linux", "pyctr.kernel.paths", "pyctr.network_plugins", "pyctr.network_plugins.bridge_prune",
    "pyctr.network_plugins.none", "pyctr.plugins", "pyctr.plugins.cgroupfs", "pyctr.plugins.cgroupfs.common",
    "pyctr.plugins.cgroupfs.resources", "pyctr.plugins.cgroupfs.v1", "pyctr.plugins.cgroupfs.v2",
    "pyctr.plugins.namespaces", "pyctr.runtime", "pyctr.runtime.child", "pyctr.runtime.driver",
    "pyctr.runtime.launch", "pyctr.runtime.seccomp", "pyctr.runtime.security", "pyctr.runtime.steps",
    "pyctr.runtime.plan",  # (oci: the process plan, built for every start)
    "pyctr.core.events",  # (the event journal: create, start, die, destroy are recorded on every run)
    # (the conmon runtime driver: auto-selection reads its class's priority; two small modules)
    "pyctr.runtime.conmon", "pyctr.runtime.conmon_files",
    "pyctr.storage_plugins",
    "pyctr.storage_plugins.overlay2",
}

# The command, with os._exit (how the fast path leaves) reporting what was imported first.
RUN = r"""
import os, sys
before = set(sys.modules)
out, real_exit, parent = sys.argv.pop(1), os._exit, os.getpid()
def report(code):
    if os.getpid() == parent:
        with open(out, "w") as f:
            f.write("\n".join(sorted(set(sys.modules) - before)))
    real_exit(code)
os._exit = report
sys.argv[0] = "pyctr"
from pyctr.cli import main
main()
"""


def test_a_run_imports_only_the_modules_it_imported_before(busybox, tmp_path):
    listing = tmp_path / "imported.txt"
    env = dict(busybox.env, PYCTR_DISABLE_PLUGIN_AUTOLOAD="1")
    # twice: the first run may build caches (entry-point index, seccomp filter) with more imports
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", RUN, str(listing), "run", "--rm", "--network", "none",
                               "busybox", "true"], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
    imported = set(listing.read_text().split())
    new = sorted(imported - EXPECTED_STDLIB - EXPECTED_PYCTR)
    assert not new, (f"pyctr run now imports {new}: keep them off the start path (import where used), or add "
                     f"them to this test's lists with the reason")
    assert "pluggy" not in imported and "click" not in imported
