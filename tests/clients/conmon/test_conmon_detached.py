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


def test_conmon_is_the_default_and_a_log_it_cannot_keep_falls_back_or_is_refused(busybox, watcher):
    del busybox.env["PYCTR_RUNTIME"]  # nothing named: the default
    assert busybox("info", "--format", "{{.DefaultRuntime}}", check=True).stdout.strip() == "conmon"
    assert " Default Runtime: conmon" in busybox("info", check=True).stdout.splitlines()
    made = ["plain", "rotated", "named"]
    try:
        busybox("--network=none", "run", "-d", "--name", "plain", "busybox", "sleep", "60", check=True)
        assert os.path.basename(_watcher_of(busybox, "plain")) == "conmon"
        # Docker's rotation over several files, which conmon cannot keep: pyctr's own monitor
        busybox("--network=none", "run", "-d", "--name", "rotated", "--log-opt", "max-size=1k",
                "--log-opt", "max-file=3", "busybox", "sleep", "60", check=True)
        assert os.path.basename(_watcher_of(busybox, "rotated")) != "conmon"
        # the built-in driver named: pyctr's own monitor, conmon installed or not
        busybox("--runtime", "pyctr", "--network=none", "run", "-d", "--name", "named", "busybox", "sleep",
                "60", check=True)
        assert os.path.basename(_watcher_of(busybox, "named")) != "conmon"
        # conmon named, the same log is refused: one line, exit 125, nothing made
        busybox.env["PYCTR_RUNTIME"] = "conmon"
        r = busybox("--network=none", "run", "-d", "--name", "refused", "--log-opt", "max-size=1k",
                    "--log-opt", "max-file=3", "busybox", "true")
        assert r.returncode == 125, r.stderr
        assert r.stderr.strip().count("\n") == 0 and "max-file=1" in r.stderr, r.stderr
        assert "refused" not in busybox("ps", "-a").stdout
    finally:
        busybox("rm", "-f", *made)
