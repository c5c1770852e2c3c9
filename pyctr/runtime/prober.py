"""The health-check schedule of one container: standard library only, no daemon.

Whatever watches a container starts its probes: the Python monitor of a
detached container imports this module into its own loop (it runs under
``python -S -I``, so this file must stay as small and plain as the monitor);
beside another watcher (conmon, or a foreground ``pyctr run``) it runs on its
own, ``python -S -I prober.py PID STARTTIME SCHEDULE -- COMMAND...``, and
ends when the container's init does (a pidfd says so, no polling).

Each probe is ``pyctr healthcheck run ID`` (COMMAND), which runs the check in
the container, records the result and the status, and exits 0 when the check
passed. The schedule is Docker's: the first probe one interval after the
start, each next one an interval after the previous one ended; the start
interval instead while the container is in its start period and has not yet
passed a check. One probe at a time; a probe never outlives the container's
init (it is killed when the init exits).
"""

import os
import select
import sys
import time


class Prober:
    def __init__(self, command, schedule):
        # schedule: "INTERVAL,START_PERIOD,START_INTERVAL,STARTED" (seconds; STARTED: the start's Unix time)
        interval, start_period, start_interval, started = (float(x) for x in schedule.split(","))
        self.command = command
        self.interval = interval
        self.start_period = start_period
        self.start_interval = start_interval
        self.started = started
        self.passed = False  # a check has passed since the start: no longer "starting"
        self.pid = 0
        self.due = time.monotonic() + self._wait()

    def _wait(self):
        if self.passed or time.time() - self.started >= self.start_period:
            return self.interval
        return self.start_interval

    def timeout(self):
        """Seconds until the next probe is due; None while one runs."""
        if self.pid:
            return None
        return max(0.0, self.due - time.monotonic())

    def tick(self):
        """Start the probe if it is due."""
        if self.pid or time.monotonic() < self.due:
            return
        pid = os.fork()
        if pid == 0:
            try:
                os.closerange(3, 65536)  # nothing of the watcher's (its pipes, its socket) goes along
                import _signal

                _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)  # (the monitor ignores it; exec would keep that)
                os.execv(self.command[0], self.command)
            finally:
                os._exit(127)
        self.pid = pid

    def reaped(self, pid, status):
        """A child of the watcher was reaped: if it was the probe, schedule the next one."""
        if pid != self.pid or not pid:
            return False
        self.pid = 0
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            self.passed = True
        self.due = time.monotonic() + self._wait()
        return True

    def stop(self):
        """The init exited: end a probe still running (its process in the container is gone already)."""
        if self.pid:
            try:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.pid = 0


def _alive(pid, starttime):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] not in ("Z", "X") and (not starttime or int(fields[19]) == starttime)


def main(argv):
    """Standalone: ``PID STARTTIME SCHEDULE -- COMMAND...``; returns when the init has exited."""
    pid, starttime, schedule = int(argv[0]), int(argv[1]), argv[2]
    command = argv[argv.index("--") + 1:]
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return 0
    if not _alive(pid, starttime):  # (the pid was reused before the pidfd was taken)
        return 0
    prober = Prober(command, schedule)
    probe_fd = -1  # a pidfd of the running probe: its end wakes the loop, no polling
    while True:
        readers = [pidfd] + ([probe_fd] if probe_fd >= 0 else [])
        ready, _, _ = select.select(readers, [], [], prober.timeout())
        if probe_fd in ready:
            os.close(probe_fd)
            probe_fd = -1
            done, status = os.waitpid(prober.pid, 0)
            prober.reaped(done, status)
        if pidfd in ready:
            prober.stop()
            return 0
        prober.tick()
        if prober.pid and probe_fd < 0:
            probe_fd = os.pidfd_open(prober.pid)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
