"""The set-up's demo (scripts/demo.sh, run by scripts/setup.sh and so by CI) as a user's first
run: a container on the default bridge network. The leak check around the test (no_leaks:
the machine's default bridge pyctr0 and nft table, veths, mounts, cgroups) proves that it
leaves the machine as it found it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[2]


def test_the_set_up_demo_runs_a_container_on_the_default_bridge_and_leaves_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYCTR_NETWORK_OPT", "PYCTR_NETWORK", "PYCTR_ROOT", "PYCTR_RUNROOT")}
    env.update(PYTHON=sys.executable, TMPDIR=str(tmp_path))  # the store under the test's own tmp
    done = subprocess.run(["bash", str(REPO / "scripts/demo.sh")], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines[0]) == 12 and all(c in "0123456789abcdef" for c in lines[0]), lines  # the short id
    assert any(line.split()[:3] == ["1", "root", "sh"] for line in lines), lines  # sh is PID 1
    assert lines[-1].startswith("uid=0(root)"), lines
    assert list(tmp_path.iterdir()) == []  # the throwaway store is gone
