"""The skip check reads real pytest JUnit XML, written here by real pytest runs."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from pyctr.testing import skipcheck

SUITE = '''
import os, pytest

LEG = os.environ["LEG"]

def test_everywhere():
    pass

@pytest.mark.skipif(LEG == "host", reason="no NFS client on host")
def test_nfs_only_in_guest():
    pass

@pytest.mark.skipif(True, reason="never runs")
def test_never():
    pass

@pytest.mark.skipif(LEG != "host", reason="host only")
def test_fails_on_host():
    assert False

@pytest.mark.xfail(reason="known")
def test_expected_failure():
    assert False

class TestGroup:
    def test_in_class(self):
        pass
'''


def run_leg(tmp_path: Path, leg: str, source: str = SUITE) -> Path:
    suite = tmp_path / "suite"
    suite.mkdir(exist_ok=True)
    (suite / "test_demo.py").write_text(source)
    xml = tmp_path / f"{leg}.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "-p", "no:pyctr", f"--junitxml={xml}", str(suite / "test_demo.py")],
                   cwd=suite, env={"LEG": leg, "PATH": "/usr/bin:/bin"}, capture_output=True)
    return xml


@pytest.fixture(scope="module")
def two_legs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("legs")
    return [run_leg(tmp, "host"), run_leg(tmp, "kernel-debian61")]


def test_counts_per_leg(two_legs: list[Path]):
    host, guest = (skipcheck.read_leg(p) for p in two_legs)
    assert host.name == "host" and guest.name == "kernel-debian61"
    assert host.counts() == {"passed": 2, "skipped": 2, "failed": 1, "xfailed": 1}
    assert guest.counts() == {"passed": 3, "skipped": 2, "xfailed": 1}
    assert host.reasons["test_demo.py::test_nfs_only_in_guest"] == "no NFS client on host"
    assert "test_demo.py::TestGroup::test_in_class" in host.outcomes


def test_a_test_skipped_on_every_leg_fails_the_check(two_legs: list[Path]):
    legs = [skipcheck.read_leg(p) for p in two_legs]
    assert list(skipcheck.skipped_everywhere(legs)) == ["test_demo.py::test_never"]
    out = io.StringIO()
    assert skipcheck.report(legs, out) == 1
    text = out.getvalue()
    assert "== host: 2 passed, 1 failed, 2 skipped, 1 xfailed" in text
    assert "skipped test_demo.py::test_nfs_only_in_guest: no NFS client on host" in text
    assert "FAILED  test_demo.py::test_fails_on_host" in text
    assert "test_demo.py::test_never\n       host: never runs\n       kernel-debian61: never runs" in text


def test_skips_covered_by_another_leg_pass(tmp_path: Path):
    source = SUITE.replace('@pytest.mark.skipif(True, reason="never runs")\n', "")
    legs = [run_leg(tmp_path, "host", source), run_leg(tmp_path, "kernel-debian61", source)]
    proc = subprocess.run([sys.executable, "-m", "pyctr.testing.skipcheck", *map(str, legs)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
    assert "every skipped test ran on another leg (2 legs)" in proc.stdout


def test_a_test_collected_on_one_leg_only_counts_there(tmp_path: Path):
    only_here = SUITE + '\n@pytest.mark.skipif(LEG == "host", reason="x")\ndef test_extra():\n    pass\n'
    legs = [skipcheck.read_leg(run_leg(tmp_path, "host", only_here))]
    assert "test_demo.py::test_extra" in skipcheck.skipped_everywhere(legs)


def test_a_missing_leg_is_an_error(tmp_path: Path):
    assert skipcheck.main([str(tmp_path / "absent.xml")]) == 2


PYTHONS_SUITE = '''
import os, pytest

LEG = os.environ["LEG"]

@pytest.mark.skipif(LEG != "host-py311", reason="only 3.11 has it")
def test_one_python_only():
    pass

@pytest.mark.skipif(LEG.startswith("host-"), reason="needs another kernel")
def test_on_no_python():
    pass
'''


def test_python_legs_count_as_legs(tmp_path: Path):
    # run on one Python of three is run; skipped on every Python (and no kernel leg) is not
    legs = [skipcheck.read_leg(run_leg(tmp_path, f"host-py{v}", PYTHONS_SUITE)) for v in (311, 312, 313)]
    nowhere = skipcheck.skipped_everywhere(legs)
    assert list(nowhere) == ["test_demo.py::test_on_no_python"]
    assert nowhere["test_demo.py::test_on_no_python"] == [f"host-py{v}: needs another kernel" for v in (311, 312, 313)]
    legs.append(skipcheck.read_leg(run_leg(tmp_path, "kernel-debian61", PYTHONS_SUITE)))
    assert skipcheck.skipped_everywhere(legs) == {}
