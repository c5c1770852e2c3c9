"""pyctr's pytest11 entry point is opt-in: another project's pytest session gets only the
``--pyctr-driver`` option, and a conformance kit cannot silently test nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

OTHER_PROJECT = '''
def test_no_pyctr_fixtures(request):
    for name in ("storage_driver", "registry", "nfs_server", "volume_options"):
        try:
            request.getfixturevalue(name)
        except Exception as e:
            assert type(e).__name__ == "FixtureLookupError", e
        else:
            raise AssertionError(name + " is a fixture here")
    assert not [m for m in request.config.getini("markers") if m.startswith("root:")]
'''


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    # a project of its own: no setup.cfg/conftest of pyctr's; the entry point is the installed one
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    # (a private --basetemp: pytest's clean-up of the shared one is not this test's business)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"--basetemp={tmp_path / 'basetemp'}", *args],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)


def test_another_projects_session_gets_no_fixtures_nor_markers(tmp_path):
    (tmp_path / "test_other.py").write_text(OTHER_PROJECT)
    proc = _pytest(tmp_path, "test_other.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # with -p, the same session has them
    proc = _pytest(tmp_path, "-p", "pyctr.testing.pytest_plugin", "test_other.py")
    assert proc.returncode == 1 and "no storage driver chosen" in proc.stdout, proc.stdout


def test_a_kit_without_or_with_a_misspelled_driver_fails(tmp_path):
    kit = ("--pyargs", "pyctr.testing.conformance.volume")
    missing = _pytest(tmp_path, "-p", "pyctr.testing.pytest_plugin", *kit)
    assert missing.returncode != 0 and "no volume driver chosen" in missing.stdout, missing.stdout
    without_plugin = _pytest(tmp_path, *kit)  # the fixtures do not exist: errors, never a pass
    assert without_plugin.returncode != 0 and " passed" not in without_plugin.stdout.splitlines()[-1]
    typo = _pytest(tmp_path, "--pyctr-driver=volume:locl", *kit)
    assert typo.returncode == 4 and "no volume driver named 'locl'" in typo.stderr, typo.stderr
    kind = _pytest(tmp_path, "--pyctr-driver=volumes:local", *kit)
    assert kind.returncode == 4 and "KIND one of" in kind.stderr, kind.stderr


def test_the_documented_command_runs_the_kit(tmp_path):
    import pyctr

    documented = [line for line in pyctr.__doc__.splitlines() if "--pyctr-driver" in line]
    assert documented and all("--pyargs pyctr.testing.conformance" in line for line in documented), documented
    proc = _pytest(tmp_path, "--pyctr-driver=volume:local", "--pyargs", "pyctr.testing.conformance.volume")
    assert proc.returncode == 0 and " passed" in proc.stdout.splitlines()[-1], proc.stdout
