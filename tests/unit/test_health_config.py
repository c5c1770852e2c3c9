"""Health checks: Docker's flags and durations, the merge with the image's HEALTHCHECK, the state machine."""

from __future__ import annotations

import pytest

from pyctr.core import health
from pyctr.core.errors import UsageError

S = health.SECOND


@pytest.mark.parametrize("text, ns", [
    ("30s", 30 * S), ("1m30s", 90 * S), ("500ms", S // 2), ("1.5s", 3 * S // 2), ("2h", 7200 * S),
    ("0", 0), ("-5s", -5 * S), ("10us", 10_000), ("1h2m3s4ms", 3723 * S + 4_000_000),
])
def test_durations_parse_as_go_parses_them(text, ns):
    assert health.parse_duration(text, "--health-interval") == ns


@pytest.mark.parametrize("text", ["10", "s", "1x", "", "1 s", "1s2"])
def test_bad_durations_are_errors(text):
    with pytest.raises(UsageError):
        health.parse_duration(text, "--health-interval")


def _opts(**kw):
    base = {"health_cmd": None, "health_interval": None, "health_timeout": None, "health_retries": None,
            "health_start_period": None, "health_start_interval": None, "no_healthcheck": False}
    base.update(kw)
    return base


IMAGE = {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 10 * S, "Retries": 5}


def test_flags_override_the_image_and_unset_flags_keep_it():
    assert health.from_options(_opts(), IMAGE) == IMAGE
    assert health.from_options(_opts(), None) is None
    merged = health.from_options(_opts(health_cmd="true", health_interval="1s"), IMAGE)
    assert merged == {"Test": ["CMD-SHELL", "true"], "Interval": S, "Retries": 5}
    assert health.from_options(_opts(health_timeout="2s"), IMAGE)["Test"] == IMAGE["Test"]
    assert health.from_options(_opts(no_healthcheck=True), IMAGE) == {"Test": ["NONE"]}
    assert not health.active({"Test": ["NONE"]}) and health.active(IMAGE) and not health.active(None)


@pytest.mark.parametrize("kw, message", [
    ({"health_cmd": "true", "health_interval": "0"}, "--health-interval must be at least 1ms"),
    ({"health_cmd": "true", "health_interval": "-1s"}, "--health-interval cannot be negative"),
    ({"health_cmd": "true", "health_timeout": "0s"}, "--health-timeout must be at least 1ms"),
    ({"health_cmd": "true", "health_retries": "-1"}, "--health-retries cannot be negative"),
    ({"health_cmd": "true", "health_retries": "three"}, "invalid --health-retries"),
    ({"health_cmd": "true", "health_interval": "5"}, "invalid --health-interval"),
    ({"health_cmd": "true", "no_healthcheck": True}, "--no-healthcheck conflicts with --health-* options"),
    ({"health_interval": "5s"}, "need a health check"),
])
def test_bad_health_flags_are_one_line_errors(kw, message):
    with pytest.raises(UsageError) as e:
        health.from_options(_opts(**kw), None)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_zero_start_period_is_the_default_not_an_error():
    check = health.from_options(_opts(health_cmd="true", health_start_period="0s"), None)
    assert health.timings(check) == (30.0, 30.0, 0.0, 5.0, 3)


def test_commands_of_both_forms():
    assert health.command({"Test": ["CMD-SHELL", "wget -q -O- localhost"]}) == ["/bin/sh", "-c", "wget -q -O- localhost"]
    assert health.command({"Test": ["CMD", "/bin/check", "--deep"]}) == ["/bin/check", "--deep"]


def _run(results, check, started=0.0, starts=None):
    state = {"Status": health.STARTING, "FailingStreak": 0, "Log": []}
    history = []
    for i, code in enumerate(results):
        t = starts[i] if starts else started + i + 1
        state = health.apply_result(state, health.result(code, "", t, t), check, started)
        history.append(state["Status"])
    return state, history


def test_retries_failures_in_a_row_make_it_unhealthy_and_one_success_healthy():
    check = {"Test": ["CMD", "x"], "Retries": 3}
    state, history = _run([1, 1, 1, 0, 1, 1, 0], check)
    assert history == ["starting", "starting", "unhealthy", "healthy", "healthy", "healthy", "healthy"]
    assert state["FailingStreak"] == 0
    assert len(state["Log"]) == 5 and [e["ExitCode"] for e in state["Log"]] == [1, 0, 1, 1, 0]


def test_failures_within_the_start_period_do_not_count_while_starting():
    check = {"Test": ["CMD", "x"], "Retries": 1, "StartPeriod": 10 * S}
    state, history = _run([1, 1, 1], check, started=100.0, starts=[101.0, 105.0, 111.0])
    assert history == ["starting", "starting", "unhealthy"]
    # once healthy, the start period no longer shelters a failure
    state, history = _run([0, 1], check, started=100.0, starts=[101.0, 102.0])
    assert history == ["healthy", "unhealthy"]


def test_the_start_interval_applies_only_while_starting_in_the_start_period():
    check = {"Test": ["CMD", "x"], "Interval": 30 * S, "StartPeriod": 60 * S, "StartInterval": 2 * S}
    assert health.next_interval(check, 5.0, health.STARTING) == 2.0
    assert health.next_interval(check, 5.0, health.HEALTHY) == 30.0
    assert health.next_interval(check, 61.0, health.STARTING) == 30.0
    assert health.next_interval({"Test": ["CMD", "x"], "StartInterval": S}, 0.0, health.STARTING) == 30.0


def test_ps_shows_the_status_as_docker_does():
    assert health.ps_suffix("starting") == " (health: starting)"
    assert health.ps_suffix("healthy") == " (healthy)"
    assert health.ps_suffix(None) == ""
