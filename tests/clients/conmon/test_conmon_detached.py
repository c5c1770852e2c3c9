"""Heavy detached-container tests of tests/integration with conmon as the watcher (see conftest.py):
terminals attached and detached, health checks on their schedules."""

from __future__ import annotations

import os

import pytest

from tests.integration.test_lifecycle import (  # noqa: F401  (collected here with this directory's watcher)
    test_attach_to_a_detached_tty_container_and_detach_with_ctrl_p_ctrl_q,
    test_run_it_at_a_terminal_detaches_with_ctrl_p_ctrl_q_and_follows_the_window_size,
    test_run_rm_it_at_a_terminal_returns_the_exit_code_once_removed,
)
from tests.integration.test_services import (  # noqa: F401
    test_a_health_command_that_does_not_exist_makes_it_unhealthy,
    test_a_hung_probe_is_killed_at_its_timeout_and_leaves_no_process,
    test_health_goes_from_starting_to_healthy_and_unhealthy_in_inspect_and_ps,
    test_no_healthcheck_and_a_container_without_one,
    test_probes_count_against_the_containers_limits,
)

pytestmark = pytest.mark.root


def _watcher_of(busybox, name: str) -> str:
    pid = int(busybox("inspect", "--format", "{{.State.Pid}}", name, check=True).stdout)
    with open(f"/proc/{pid}/stat") as f:
        parent = int(f.read().rsplit(")", 1)[1].split()[1])
    with open(f"/proc/{parent}/cmdline") as f:
        return f.read().split("\0")[0]


def test_conmon_is_opt_in_and_refuses_a_log_it_cannot_keep(busybox, watcher):
    # named, conmon refuses Docker's rotation over several files: one line, exit 125, nothing made
    r = busybox("--network=none", "run", "-d", "--name", "rotated", "--log-opt", "max-size=1k",
                "--log-opt", "max-file=3", "busybox", "true")
    assert r.returncode == 125, r.stderr
    assert r.stderr.strip().count("\n") == 0 and "max-file=1" in r.stderr, r.stderr
    assert "rotated" not in busybox("ps", "-a").stdout
    # not named, a detached container keeps pyctr's own monitor, even where conmon is installed
    del busybox.env["PYCTR_RUNTIME"]
    busybox("--network=none", "run", "-d", "--name", "plain", "busybox", "sleep", "60", check=True)
    try:
        assert os.path.basename(_watcher_of(busybox, "plain")) != "conmon"
        busybox.env["PYCTR_RUNTIME"] = "conmon"
        busybox("--network=none", "run", "-d", "--name", "watched", "busybox", "sleep", "60", check=True)
        assert os.path.basename(_watcher_of(busybox, "watched")) == "conmon"
    finally:
        busybox("rm", "-f", "plain", "watched")
