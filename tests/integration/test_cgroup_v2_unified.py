"""The v2 backend on whatever cgroup2 mount this host has.

On a hybrid host that is /sys/fs/cgroup/unified, usually without controllers:
there the parts of v2 that need none are tested directly (cgroup.procs,
cgroup.freeze, cgroup.kill, cgroup.events, a missing memory.events). Where the
cgroup2 mount offers the memory controller, the whole conformance suite runs
against the v2 backend as well.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import pytest

from pyctr.core.drivers import DriverContext
from pyctr.core.errors import DriverNotSupported
from pyctr.plugins.cgroupfs import CgroupfsCgroupDriver
from pyctr.plugins.cgroupfs.common import (
    CGROUP2_SUPER_MAGIC,
    Records,
    fs_magic,
    read_keyed,
)
from pyctr.plugins.cgroupfs.v2 import V2Backend
from pyctr.testing.conformance.cgroup import (
    BUSY,
    FORK_BOMB,
    SLEEPER,
    CgroupDriverConformance,
    Harness,
    cpu_rate,
    runs_again,
)

pytestmark = pytest.mark.root
MiB = 1024 * 1024


def cgroup2_mount() -> Path | None:
    for cand in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        if fs_magic(cand) == CGROUP2_SUPER_MAGIC:
            return cand
    return None


def make_driver(tmp_path: Path) -> CgroupfsCgroupDriver:
    if os.geteuid() != 0:
        pytest.skip("needs root to write cgroups")
    mount = cgroup2_mount()
    if mount is None:
        pytest.skip("no cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified")
    parent = "cg-v2-" + secrets.token_hex(5)
    backend = V2Backend(mount, Records(tmp_path / "run"), parent)
    return CgroupfsCgroupDriver(DriverContext(tmp_path, tmp_path / "run", {"parent": parent}), backend=backend)


def finish(driver: CgroupfsCgroupDriver) -> None:
    """Fail when a pyctr-* cgroup is left under the test's parent; remove the parent."""
    base = driver.backend.parent_dirs()["unified"]
    left = sorted(n for n in os.listdir(base) if n.startswith("pyctr-")) if base.is_dir() else []
    driver.cleanup_orphans(set())  # also removes the now empty private parent
    assert not left, f"test left cgroups behind in {base}: {left}"
    assert not base.exists(), f"cleanup_orphans left the private parent {base}"


@pytest.fixture
def v2(tmp_path: Path):
    driver = make_driver(tmp_path)
    yield driver
    finish(driver)


@pytest.fixture
def cg(v2):
    h = Harness(v2)
    yield h
    h.close()


def events(handle: dict) -> dict[str, int]:
    return read_keyed(Path(handle["paths"]["unified"]) / "cgroup.events")


def test_procs_and_populated_event(cg: Harness) -> None:
    handle = cg.create()
    assert handle["version"] == 2
    assert events(handle)["populated"] == 0
    p = cg.spawn(SLEEPER, handle)
    assert cg.driver.pids(handle) == [p.pid]
    assert str(p.pid) in (Path(handle["paths"]["unified"]) / "cgroup.procs").read_text().split()
    assert events(handle)["populated"] == 1
    assert f"0::/{handle['paths']['unified'].split('/', 4)[-1]}" in Path(f"/proc/{p.pid}/cgroup").read_text() \
        or Path(handle["paths"]["unified"]).name in Path(f"/proc/{p.pid}/cgroup").read_text()


def test_freeze_and_thaw_through_cgroup_events(cg: Harness) -> None:
    handle = cg.create()
    p = cg.spawn(BUSY, handle)
    time.sleep(0.2)
    cg.driver.freeze(handle)
    assert events(handle)["frozen"] == 1
    assert cpu_rate(cg.driver, handle, 0.5) < 0.02  # cpu.stat usage_usec exists without controllers
    cg.driver.thaw(handle)
    assert events(handle)["frozen"] == 0
    assert runs_again(cg.driver, handle)
    assert p.poll() is None


def test_destroy_kills_the_whole_tree_with_cgroup_kill(cg: Harness) -> None:
    handle = cg.create()
    path = Path(handle["paths"]["unified"])
    if not (path / "cgroup.kill").exists():
        pytest.skip("this kernel has no cgroup.kill (Linux 5.14+); the SIGKILL loop is used instead")
    bomb = cg.spawn(FORK_BOMB, handle, stdout=True)
    assert bomb.stdout is not None
    ok, _fail = map(int, bomb.stdout.readline().split())
    assert ok == 100  # no pids limit here
    pids = cg.driver.pids(handle)
    assert len(pids) == 101
    cg.driver.freeze(handle)  # cgroup.kill also kills frozen tasks
    assert cg.driver.destroy(handle) == {"oom": 0, "oom_kill": 0}
    assert bomb.wait(timeout=10) == -9
    assert not path.exists()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() and _state(p) != "Z" for p in pids):
        time.sleep(0.05)
    assert not [p for p in pids if Path(f"/proc/{p}").exists() and _state(p) != "Z"]
    cg.driver.destroy(handle)  # idempotent


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"


def test_oom_events_without_memory_events_read_zero(cg: Harness) -> None:
    handle = cg.create()
    has = (Path(handle["paths"]["unified"]) / "memory.events").exists()
    assert cg.driver.oom_events(handle) == {"oom": 0, "oom_kill": 0}
    assert cg.driver.destroy(handle) == {"oom": 0, "oom_kill": 0}
    assert has or not (Path(handle["paths"]["unified"]) / "memory.events").exists()


def test_limits_without_their_controller_are_refused_in_one_line(cg: Harness) -> None:
    base = cg.driver.backend.parent_dirs()["unified"]
    have = (base.parent / "cgroup.controllers").read_text().split()
    if "memory" in have:
        pytest.skip("the memory controller is available here: the conformance suite below covers limits")
    cid = cg.new_id()
    with pytest.raises(DriverNotSupported) as err:
        cg.driver.create(cid, None, {"memory": 32 * MiB})
    msg = str(err.value)
    assert "memory controller is not available" in msg and "\n" not in msg
    assert not (base / f"pyctr-{cid}").exists()
    with pytest.raises(DriverNotSupported, match="kernel-memory"):
        cg.driver.create(cid, None, {"kernel_memory": 32 * MiB})


def test_status_says_version_2(v2) -> None:
    lines = dict(v2.status())
    assert lines["Cgroup Version"] == "2"
    own = v2.backend.parent_dirs()["unified"].parent
    assert lines["Cgroup Controllers"] == " ".join((own / "cgroup.controllers").read_text().split())


class TestV2Conformance(CgroupDriverConformance):
    """The whole suite against the v2 backend. A test whose limits need a
    controller this cgroup2 mount does not offer skips with the driver's reason
    (on a hybrid host's unified mount: memory, pids, cpu)."""

    @pytest.fixture
    def cgroup_driver(self, tmp_path: Path):
        driver = make_driver(tmp_path)
        yield driver
        finish(driver)
