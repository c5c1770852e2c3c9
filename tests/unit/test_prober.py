"""The health probes' schedule (runtime/prober.py), run on its own as it runs beside conmon."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from pyctr.runtime import prober


def _starttime(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def test_standalone_it_probes_on_schedule_and_ends_with_the_container(tmp_path):
    marks = tmp_path / "marks"
    watched = subprocess.Popen(["sleep", "1.3"])
    command = ["/bin/sh", "-c", f"echo $(cat /proc/uptime) >> {marks}; exit 1"]
    started = time.monotonic()
    assert prober.main([str(watched.pid), str(_starttime(watched.pid)), f"0.3,0,5,{time.time()}", "--", *command]) == 0
    took = time.monotonic() - started
    watched.wait()
    stamps = [float(line.split()[0]) for line in marks.read_text().split("\n") if line]
    assert 1.2 <= took < 2.0
    assert 3 <= len(stamps) <= 4  # every 0.3 s from the end of the last probe, none after the exit
    assert all(b - a >= 0.29 for a, b in zip(stamps, stamps[1:]))


def test_the_start_interval_holds_until_a_probe_passes():
    p = prober.Prober(["/bin/true"], f"30,60,0.5,{time.time()}")
    assert 0.4 < p.timeout() <= 0.5  # starting, in the start period: the start interval
    time.sleep(p.timeout())
    p.tick()
    assert p.pid and p.timeout() is None  # one at a time
    _, status = os.waitpid(p.pid, 0)
    assert p.reaped(p.pid, status)
    assert 29 < p.timeout() <= 30  # passed: the interval from now on
    assert not p.reaped(12345, 0)


def test_after_the_start_period_the_interval_applies():
    p = prober.Prober(["/bin/false"], f"2,10,0.5,{time.time() - 11}")
    assert 1.9 < p.timeout() <= 2


def test_the_file_needs_nothing_but_the_standard_library():
    code = ("import sys; sys.path.append(sys.argv[1]); import prober;"
            " print(sorted(m for m in sys.modules if m.startswith('pyctr')))")
    out = subprocess.run([sys.executable, "-S", "-I", "-c", code, os.path.dirname(prober.__file__)],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
