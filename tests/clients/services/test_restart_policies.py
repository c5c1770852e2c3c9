"""Restart policies under failure: Docker's back-off timings, stop ending the loop, the boot pass.

In the `clients` leg (run once): the timings need tens of seconds of real restarts.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from pyctr.testing.waiting import until

pytestmark = pytest.mark.root

RUN = ("--network=none", "run", "-d")


def _starts(path):
    try:
        return [float(line.split()[0]) for line in open(path) if line.strip()]
    except FileNotFoundError:
        return []


def test_restart_back_off_follows_dockers_timings_and_stop_ends_it(busybox, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    busybox(*RUN, "--name", "crash", "--restart", "always", "-v", f"{data}:/data", "busybox", "sh", "-c",
            "cat /proc/uptime >> /data/starts; exit 3", check=True)
    try:
        starts = until(lambda: (s := _starts(data / "starts")) and len(s) >= 8 and s, timeout=60)
        gaps = [b - a for a, b in zip(starts, starts[1:])]  # start to start: the wait, plus exit and start
        delays = [0.1 * 2 ** i for i in range(len(gaps))]  # Docker's: 0.1 0.2 0.4 ... 6.4 s
        # what an exit and a start take besides the wait (Docker's take time too): the first three's median
        cost = sorted(g - d for g, d in zip(gaps[:3], delays[:3]))[1]
        for i, (gap, delay) in enumerate(zip(gaps, delays)):
            if delay >= 1.6:
                assert abs(gap - cost - delay) <= 0.2 * delay, (i, gaps, cost)
            if delay >= 1.6 and i + 1 < len(gaps):  # each wait doubles: consecutive gaps differ by the wait
                assert abs(gaps[i + 1] - gap - delay) <= 0.2 * delay, (i, gaps)
        count = int(busybox("inspect", "--format", "{{.RestartCount}}", "crash", check=True).stdout)
        assert count >= 7
        until(lambda: busybox("inspect", "--format", "{{.State.Status}}", "crash").stdout.strip() == "restarting")
        assert "Restarting (3)" in busybox("ps").stdout
        assert busybox("stop", "crash").returncode == 0
        assert busybox("inspect", "--format", "{{.State.Status}}", "crash").stdout.strip() == "exited"
        before = len(_starts(data / "starts"))
        time.sleep(13)  # past the next delay (6.4 s or 12.8 s): no restart comes
        assert len(_starts(data / "starts")) == before
        assert not [p for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(p, b"internal-restart")]
    finally:
        busybox("rm", "-f", "crash")


def _cmdline_has(pid, needle):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return needle in f.read()
    except OSError:
        return False


def test_ten_seconds_of_running_reset_the_back_off(busybox, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    script = ("n=$(cat /data/n 2>/dev/null || echo 0); echo $((n+1)) > /data/n; cat /proc/uptime >> /data/starts;"
              " if [ $n -eq 4 ]; then sleep 10.5; fi; exit 1")
    busybox(*RUN, "--name", "reset", "--restart", "on-failure:6", "-v", f"{data}:/data", "busybox", "sh", "-c", script,
            check=True)
    try:
        starts = until(lambda: (s := _starts(data / "starts")) and len(s) >= 7 and s, timeout=60)
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        # waits 0.1 0.2 0.4 0.8, then the fifth run lasts 10.5 s: the next wait is 0.1 s again
        assert gaps[4] >= 10.5 and gaps[4] - 10.5 < gaps[3]
        assert gaps[5] < gaps[3]
        until(lambda: busybox("inspect", "--format", "{{.State.Status}}", "reset").stdout.strip() == "exited")
        assert busybox("inspect", "--format", "{{.RestartCount}}", "reset").stdout.strip() == "6"
        time.sleep(1)
        assert len(_starts(data / "starts")) == 7  # on-failure:6 -> the first run and six restarts
    finally:
        busybox("rm", "-f", "reset")


def _kill_like_a_reboot(p, name):
    """The host goes down: the monitor and the container die, nobody records anything."""
    pid = int(p("inspect", "--format", "{{.State.Pid}}", name, check=True).stdout)
    with open(f"/proc/{pid}/stat") as f:
        monitor = int(f.read().rsplit(")", 1)[1].split()[1])
    os.kill(monitor, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    # Dead is dead: orphans go to PID 1, which on some machines (CI's among them) never reaps them,
    # so a zombie counts as gone, as it does for a rebooted host.
    until(lambda: _gone(pid) and _gone(monitor))


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_autostart_after_a_reboot_brings_back_what_the_policies_say(busybox):
    for name, policy in (("a", "always"), ("u", "unless-stopped"), ("n", "no"), ("s", "unless-stopped"),
                         ("t", "always")):
        busybox(*RUN, "--name", name, "--restart", policy, "busybox", "sleep", "300", check=True)
    try:
        busybox("stop", "-t", "0", "s", "t", check=True)
        for name in ("a", "u", "n"):
            _kill_like_a_reboot(busybox, name)
        r = busybox("system", "autostart")
        assert r.returncode == 0, r.stderr
        status = {n: busybox("inspect", "--format", "{{.State.Status}}", n, check=True).stdout.strip()
                  for n in ("a", "u", "n", "s", "t")}
        # as dockerd after a restart: always (even stopped by hand), unless-stopped unless stopped
        assert status == {"a": "running", "u": "running", "n": "exited", "s": "exited", "t": "running"}
        assert busybox("system", "autostart").stdout == ""  # nothing more to start
    finally:
        busybox("rm", "-f", "a", "u", "n", "s", "t")


def test_a_restarting_container_is_removed_only_by_force_and_its_sleeper_goes_with_it(busybox):
    busybox(*RUN, "--name", "rr", "--restart", "always", "busybox", "sh", "-c", "exit 1", check=True)
    try:
        # its fourth exit waits 0.8 s, long enough to be seen restarting
        until(lambda: busybox("inspect", "--format", "{{.State.Status}} {{.RestartCount}}", "rr").stdout.split()
               in (["restarting", "4"], ["restarting", "5"], ["restarting", "6"]), step=0.02)
        r = busybox("rm", "rr")
        assert r.returncode != 0 and "restarting" in r.stderr
        assert busybox("rm", "-f", "rr").returncode == 0
        time.sleep(0.5)
        assert not [p for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(p, b"internal-restart")
                    and _cmdline_has(p, str(busybox.root).encode())]
        assert busybox("ps", "-aq").stdout == ""
    finally:
        busybox("rm", "-f", "rr")
