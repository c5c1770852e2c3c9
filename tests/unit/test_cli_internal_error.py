"""A bug (an unexpected exception) still ends in one line and exit 125; PYCTR_DEBUG=1 shows it whole."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# A hook plugin whose hook raises a plain Python error (not a PyctrError),
# registered in-process the way tests register plugins, then `pyctr info`
# (which asks every plugin for status lines) through the real main().
CODE = r"""
import sys
from pyctr import hookimpl
from pyctr.cli import main
from pyctr.core.plugins import plugins

class Broken:
    @hookimpl
    def pyctr_report_status(self):
        raise KeyError("no such thing")

plugins.register(Broken(), name="broken-test-plugin")
main(["--root", sys.argv[1], "--runroot", sys.argv[2], "info"])
"""


def run(tmp_path: Path, debug: bool) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYCTR_CONFIG": str(tmp_path / "none.toml"), "PYCTR_DISABLE_PLUGIN_AUTOLOAD": "1"}
    if debug:
        env["PYCTR_DEBUG"] = "1"
    return subprocess.run([sys.executable, "-c", CODE, str(tmp_path / "root"), str(tmp_path / "run")],
                          capture_output=True, text=True, env=env, check=False)


def test_an_unexpected_error_is_one_line_and_125(tmp_path: Path) -> None:
    r = run(tmp_path, debug=False)
    assert r.returncode == 125, r.stderr
    assert r.stderr.splitlines() == ["Error: internal error: KeyError: 'no such thing' (PYCTR_DEBUG=1 shows where)"]


def test_pyctr_debug_shows_the_traceback(tmp_path: Path) -> None:
    r = run(tmp_path, debug=True)
    assert r.returncode == 1
    assert "Traceback (most recent call last)" in r.stderr and "KeyError: 'no such thing'" in r.stderr


def test_log_level_debug_shows_the_traceback_too(tmp_path: Path) -> None:
    code = CODE.replace('main(["--root"', 'main(["--log-level=debug", "--root"')
    env = {"PATH": "/usr/bin:/bin", "PYCTR_CONFIG": str(tmp_path / "none.toml"), "PYCTR_DISABLE_PLUGIN_AUTOLOAD": "1"}
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "root"), str(tmp_path / "run")],
                       capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 1 and "Traceback (most recent call last)" in r.stderr, r.stderr
