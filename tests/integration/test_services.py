"""Long-running containers: health checks and rotated logs (restart policies: tests/clients/services)."""

from __future__ import annotations

import gzip
import json
import os
import time

import pytest

from pyctr.testing.waiting import until

pytestmark = pytest.mark.root

RUN = ("--network=none", "run", "-d")


def _health(p, name):
    out = p("inspect", "--format", "{{json .State.Health}}", name, check=True).stdout
    return json.loads(out)


def _cmdline_has(pid, needle):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return needle in f.read()
    except OSError:
        return False


def _container_pids(p, name):
    """Every process in the container's PID namespace, by host pid."""
    pid = int(p("inspect", "--format", "{{.State.Pid}}", name, check=True).stdout)
    ns = os.readlink(f"/proc/{pid}/ns/pid")
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        found.append((int(entry), f.read().replace(b"\0", b" ").decode().strip()))
            except OSError:
                continue
    return found


# -- health checks ----------------------------------------------------------------


def test_health_goes_from_starting_to_healthy_and_unhealthy_in_inspect_and_ps(busybox, watcher):
    busybox(*RUN, "--name", "h", "--health-cmd", "test -e /tmp/ok && echo fine", "--health-interval", "300ms",
            "--health-retries", "2", "busybox", "sleep", "300", check=True)
    try:
        assert _health(busybox, "h")["Status"] == "starting"
        assert "(health: starting)" in busybox("ps").stdout
        until(lambda: _health(busybox, "h")["Status"] == "unhealthy")
        state = _health(busybox, "h")
        assert state["FailingStreak"] >= 2 and state["Log"][-1]["ExitCode"] == 1
        assert "(unhealthy)" in busybox("ps").stdout
        assert busybox("ps", "-q", "--filter", "health=unhealthy").stdout.strip()
        busybox("exec", "h", "touch", "/tmp/ok", check=True)
        until(lambda: _health(busybox, "h")["Status"] == "healthy")
        state = until(lambda: (h := _health(busybox, "h")) and len(h["Log"]) == 5 and h)
        assert state["FailingStreak"] == 0 and state["Log"][-1]["Output"] == "fine\n"
        assert state["Log"][-1]["Start"] <= state["Log"][-1]["End"]
        assert "(healthy)" in busybox("ps").stdout
        config = json.loads(busybox("inspect", "--format", "{{json .Config.Healthcheck}}", "h", check=True).stdout)
        assert config == {"Test": ["CMD-SHELL", "test -e /tmp/ok && echo fine"], "Interval": 300_000_000, "Retries": 2}
        r = busybox("healthcheck", "run", "h")
        assert r.returncode == 0 and r.stdout == ""
    finally:
        busybox("rm", "-f", "h")


def test_a_health_command_that_does_not_exist_makes_it_unhealthy(busybox, watcher):
    r = busybox(*RUN, "--name", "nx", "--health-cmd", "/no/such/check", "--health-interval", "200ms",
                "--health-retries", "1", "busybox", "sleep", "300")
    assert r.returncode == 0, r.stderr  # not bad input, as in Docker: the check fails
    try:
        until(lambda: _health(busybox, "nx")["Status"] == "unhealthy")
        last = _health(busybox, "nx")["Log"][-1]
        assert last["ExitCode"] == 127 and "not found" in last["Output"]
        r = busybox("healthcheck", "run", "nx")
        assert (r.returncode, r.stdout) == (1, "unhealthy\n")
    finally:
        busybox("rm", "-f", "nx")


def test_a_hung_probe_is_killed_at_its_timeout_and_leaves_no_process(busybox, watcher):
    busybox(*RUN, "--name", "hung", "--health-cmd", "sleep 1000 & sleep 1001; echo never",
            "--health-interval", "1h", "--health-timeout", "1s", "busybox", "sleep", "300", check=True)
    busybox(*RUN, "--name", "bg", "--health-cmd", "sleep 1002 & echo started",
            "--health-interval", "1h", "busybox", "sleep", "300", check=True)
    try:
        started = time.monotonic()
        r = busybox("healthcheck", "run", "hung")
        took = time.monotonic() - started
        assert r.returncode == 1 and r.stdout == "unhealthy\n"
        assert 1.0 <= took < 4.0, took
        last = _health(busybox, "hung")["Log"][-1]
        assert last["ExitCode"] == -1 and last["Output"].startswith("Health check exceeded timeout (1s)")
        assert [cmd for _, cmd in _container_pids(busybox, "hung") if "sleep 100" in cmd] == []
        # a probe that passes but leaves a background job running leaves nothing either
        assert busybox("healthcheck", "run", "bg").returncode == 0
        assert _health(busybox, "bg")["Log"][-1]["Output"] == "started\n"
        assert [cmd for _, cmd in _container_pids(busybox, "bg") if "sleep 1002" in cmd] == []
    finally:
        busybox("rm", "-f", "hung", "bg")


def test_a_foreground_run_is_probed_too_and_its_prober_ends_with_it(busybox):
    import subprocess
    import sys

    run = subprocess.Popen([sys.executable, "-m", "pyctr", "--network=none", "run", "--name", "fg", "--health-cmd",
                            "true", "--health-interval", "200ms", "busybox", "sleep", "3"],
                           env=busybox.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        until(lambda: busybox("inspect", "--format", "{{.State.Status}}", "fg").stdout.strip() == "running")
        until(lambda: _health(busybox, "fg")["Status"] == "healthy")
        assert run.wait(timeout=30) == 0, run.stderr.read()
        assert not [p for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(p, b"prober.py")
                    and _cmdline_has(p, str(busybox.root).encode())]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        busybox("rm", "-f", "fg")


def test_probes_count_against_the_containers_limits(busybox, watcher):
    busybox(*RUN, "--name", "lim", "--pids-limit", "3", "--health-cmd", "sleep 0.5 & sleep 0.5 & sleep 0.5 & wait",
            "--health-interval", "1h", "busybox", "sleep", "300", check=True)
    try:
        r = busybox("healthcheck", "run", "lim")
        assert r.returncode == 1  # the probe's fourth process is refused: it is in the container's cgroup
        assert _health(busybox, "lim")["Log"][-1]["ExitCode"] != 0
    finally:
        busybox("rm", "-f", "lim")


def test_no_healthcheck_and_a_container_without_one(busybox, watcher):
    busybox(*RUN, "--name", "plain", "busybox", "sleep", "300", check=True)
    try:
        assert busybox("inspect", "--format", "{{json .State.Health}}", "plain").stdout.strip() in ("null", "<no value>")
        r = busybox("healthcheck", "run", "plain")
        assert r.returncode == 125 and "has no defined healthcheck" in r.stderr
    finally:
        busybox("rm", "-f", "plain")


@pytest.mark.parametrize("args, message", [
    (("--health-cmd", "true", "--health-interval", "0"), "--health-interval must be at least 1ms"),
    (("--health-cmd", "true", "--health-interval", "-5s"), "cannot be negative"),
    (("--health-cmd", "true", "--health-timeout", "soon"), "invalid --health-timeout"),
    (("--no-healthcheck", "--health-cmd", "true"), "conflicts"),
    (("--log-driver", "syslogd"), "unknown log driver 'syslogd'"),
    (("--log-opt", "max-size=lots"), "invalid max-size"),
    (("--log-opt", "max-file=0", "--log-opt", "max-size=1m"), "max-file"),
    (("--log-opt", "colour=blue"), "unknown log opt 'colour'"),
    (("--restart", "sometimes"), "invalid restart policy"),
])
def test_bad_input_is_one_line_and_exit_125_and_nothing_is_created(busybox, args, message):
    r = busybox(*RUN, "--name", "bad", *args, "busybox", "true")
    assert r.returncode == 125
    assert message in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert busybox("ps", "-aq").stdout == ""


# -- logs -------------------------------------------------------------------------------


SPEW = "i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); done; sleep 300"


def test_logs_rotate_as_dockers_and_are_read_across_the_rotated_files(busybox):
    busybox(*RUN, "--name", "rot", "--log-opt", "max-size=10k", "--log-opt", "max-file=3",
            "--log-opt", "compress=true", "busybox", "sh", "-c", SPEW, check=True)
    try:
        cid = busybox("inspect", "--format", "{{.Id}}", "rot", check=True).stdout.strip()
        directory = busybox.root / "containers" / cid
        until(lambda: "line 2999" in busybox("logs", "--tail", "1", "rot").stdout)
        names = sorted(n for n in os.listdir(directory) if "-json.log" in n)
        assert names == [f"{cid}-json.log", f"{cid}-json.log.1.gz", f"{cid}-json.log.2.gz"]
        with gzip.open(directory / names[1]) as f:
            sizes = len(f.read())
        assert 10_000 <= sizes < 10_200
        lines = busybox("logs", "rot").stdout.splitlines()
        numbers = [int(line.split()[1]) for line in lines]
        assert numbers == list(range(numbers[0], 3000)) and numbers[0] > 0  # the oldest went, in order
        assert len(numbers) > 10_000 * 2 // 60
        assert busybox("logs", "--tail", "3", "rot").stdout.splitlines() == ["line 2997", "line 2998", "line 2999"]
        config = json.loads(busybox("inspect", "--format", "{{json .HostConfig.LogConfig}}", "rot", check=True).stdout)
        assert config == {"Type": "json-file", "Config": {"max-size": "10k", "max-file": "3", "compress": "true"}}
    finally:
        busybox("rm", "-f", "rot")


def test_logs_follow_goes_on_across_a_rotation(busybox):
    busybox(*RUN, "--name", "fol", "--log-opt", "max-size=2k", "--log-opt", "max-file=2", "busybox", "sh", "-c",
            "sleep 1; i=0; while [ $i -lt 400 ]; do echo line $i; i=$((i+1)); sleep 0.005; done", check=True)
    try:
        r = busybox("logs", "-f", "fol", timeout=60)
        numbers = [int(line.split()[1]) for line in r.stdout.splitlines()]
        assert numbers == list(range(400))  # ~14 rotations, every line once
    finally:
        busybox("rm", "-f", "fol")


def test_logs_details_and_until_and_the_none_driver(busybox):
    busybox(*RUN, "--name", "det", "--label", "app=shop", "--log-opt", "labels=app", "--log-opt", "tag={{.Name}}",
            "busybox", "sh", "-c", "echo first; sleep 2; echo second; sleep 300", check=True)
    try:
        until(lambda: "second" in busybox("logs", "det").stdout)
        assert busybox("logs", "--details", "det").stdout.splitlines() == ["app=shop,tag=det first", "app=shop,tag=det second"]
        stamps = busybox("logs", "-t", "det").stdout.splitlines()
        middle = stamps[0].split()[0][:19] + "Z"  # the first line's second, before the second line
        assert busybox("logs", "--until", middle, "det").stdout.strip() in ("", "first")
        assert busybox("logs", "--until", stamps[1].split()[0], "det").stdout == "first\nsecond\n"
    finally:
        busybox("rm", "-f", "det")
    busybox(*RUN, "--name", "quiet", "--log-driver", "none", "busybox", "echo", "hi", check=True)
    try:
        r = busybox("logs", "quiet")
        assert r.returncode == 125 and "does not support reading" in r.stderr
        cid = busybox("inspect", "--format", "{{.Id}}", "quiet", check=True).stdout.strip()
        assert not any("json.log" in n for n in os.listdir(busybox.root / "containers" / cid))
    finally:
        busybox("rm", "-f", "quiet")


def test_the_configured_log_default_applies(busybox, tmp_path):
    config = tmp_path / "pyctr.toml"
    config.write_text('log-driver = "json-file"\n[log-opts]\nmax-size = "5k"\nmax-file = "2"\n')
    busybox.env["PYCTR_CONFIG"] = str(config)
    busybox(*RUN, "--name", "cfg", "busybox", "sh", "-c", SPEW, check=True)
    try:
        opts = json.loads(busybox("inspect", "--format", "{{json .HostConfig.LogConfig.Config}}", "cfg", check=True).stdout)
        assert opts == {"max-size": "5k", "max-file": "2"}
        cid = busybox("inspect", "--format", "{{.Id}}", "cfg", check=True).stdout.strip()
        until(lambda: "line 2999" in busybox("logs", "--tail", "1", "cfg").stdout)
        total = sum(os.path.getsize(busybox.root / "containers" / cid / n)
                    for n in os.listdir(busybox.root / "containers" / cid) if "json.log" in n)
        assert total < 2 * 5_200
    finally:
        busybox("rm", "-f", "cfg")
