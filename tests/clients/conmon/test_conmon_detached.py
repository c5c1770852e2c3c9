"""Heavy detached-container tests of tests/integration with conmon as the watcher (see conftest.py):
terminals attached and detached, health checks on their schedules."""

from __future__ import annotations

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
