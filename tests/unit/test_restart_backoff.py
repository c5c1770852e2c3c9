"""Restart policies and Docker's back-off schedule (restartmanager), as numbers."""

from __future__ import annotations

import pytest

from pyctr.core import restarts
from pyctr.core.errors import UsageError


def test_the_delay_doubles_from_100ms_up_to_a_minute():
    delays, delay = [], 0.0
    for _ in range(12):
        delay = restarts.next_delay(delay, ran_for=0.5)
        delays.append(delay)
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 60.0, 60.0]


def test_ten_seconds_of_running_start_the_back_off_again():
    assert restarts.next_delay(60.0, ran_for=10.0) == 0.1
    assert restarts.next_delay(60.0, ran_for=9.9) == 60.0
    assert restarts.next_delay(0.4, ran_for=30) == 0.1


@pytest.mark.parametrize("policy, code, stopped, count, expected", [
    ("no", 1, False, 0, False),
    ("always", 0, False, 0, True),
    ("always", 0, True, 0, False),
    ("unless-stopped", 0, False, 5, True),
    ("on-failure", 0, False, 0, False),
    ("on-failure", 1, False, 100, True),
    ("on-failure:3", 1, False, 2, True),
    ("on-failure:3", 1, False, 3, False),
])
def test_policies_after_an_exit(policy, code, stopped, count, expected):
    assert restarts.should_restart(policy, code, stopped, count) is expected


@pytest.mark.parametrize("policy, code, stopped, expected", [
    ("always", 0, True, True),  # Docker: "always" comes back with the daemon even after a stop
    ("unless-stopped", 0, True, False),
    ("unless-stopped", 255, False, True),
    ("on-failure", 255, False, True),
    ("on-failure", 0, False, False),
    ("no", 255, False, False),
])
def test_policies_at_boot(policy, code, stopped, expected):
    assert restarts.should_start_at_boot(policy, code, stopped, 0) is expected


@pytest.mark.parametrize("text", ["sometimes", "always:3", "on-failure:x", "on-failure:", ""])
def test_bad_policies(text):
    with pytest.raises(UsageError):
        restarts.parse_policy(text)
