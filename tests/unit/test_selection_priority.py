"""Auto-selection follows each driver class's own ``priority`` (lower first, None: only when
named), including a third party's, not a list of pyctr's own names."""

from __future__ import annotations

import os
import subprocess
import sys


def _install(site, dist: str, module: str, source: str, group: str, name: str) -> None:
    info = site / f"{module}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{name} = {module}:Driver\n")
    (site / f"{module}.py").write_text(source)


CHECK = r"""
import sys, tempfile
from pathlib import Path
from pyctr.core import selection
from pyctr.core.drivers import DriverContext
print(selection.auto_order("volume"))
root = Path(tempfile.mkdtemp())
ctx = DriverContext(root=root / "root", runroot=root / "run", options={})
ctx.root.mkdir(); ctx.runroot.mkdir()
print(type(selection.select("volume", None, ctx)).__module__)
"""


def test_auto_selection_orders_by_the_classes_priorities(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    base = "from pyctr.plugins.volume_local import LocalVolumeDriver\n"
    _install(site, "pyctr-first", "first_volume", base + "class Driver(LocalVolumeDriver):\n    priority = -1\n",
             "pyctr.volume", "first")
    _install(site, "pyctr-later", "later_volume", base + "class Driver(LocalVolumeDriver):\n    priority = 5\n",
             "pyctr.volume", "alater")
    _install(site, "pyctr-named", "named_volume", base + "class Driver(LocalVolumeDriver):\n    priority = None\n",
             "pyctr.volume", "aaa")
    env = dict(os.environ, PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env,
                         check=True).stdout.splitlines()
    order = eval(out[0])  # noqa: S307  (our own print of a list of names)
    # (pyctr-example, installed for the tests, adds "example", which has no priority: only when named)
    assert order == ["first", "local", "alater"], order
    assert out[1] == "first_volume"
