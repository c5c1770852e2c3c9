"""Small helpers the tests share; they read the kernel's view, not pyctr's."""

from __future__ import annotations

import os
import pty
import select
import time

import pytest

#: a detached-container test run once per watcher: pyctr's own monitor, and conmon (the
#: ``watcher`` fixture in tests/conftest.py sets the runtime driver for the test's commands)
both_watchers = pytest.mark.parametrize("watcher", ["pyctr", "conmon"], indirect=True)


def install_hook_plugin(site, distribution: str, module: str, source: str) -> str:
    """A one-module hook plugin as a distribution of its own under ``site`` (a dist-info with
    an entry point in the ``pyctr`` group), exactly as pip would install it; ``site`` goes on
    the command's PYTHONPATH. Returns that path."""
    info = site / f"{module}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[pyctr]\n{distribution.removeprefix('pyctr-')} = {module}\n")
    (site / f"{module}.py").write_text(source)
    return str(site)


def find_container_process(marker: str, timeout: float = 10.0) -> int:
    """The host pid of the process whose command line contains ``marker``."""
    deadline = time.monotonic() + timeout
    me = os.getpid()
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline and "pyctr" not in cmdline:
                return int(entry)
        time.sleep(0.05)
    raise AssertionError(f"no process with {marker!r} appeared")


class Terminal:
    """A program on a real pty, read and typed into like a person would."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe(argv[0], argv, env)
        self.buffer = ""

    def expect(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} did not appear; screen so far: {self.buffer!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096).decode(errors="replace")
                except OSError:
                    chunk = ""
                if not chunk:
                    raise AssertionError(f"{text!r} did not appear before EOF; screen: {self.buffer!r}")
                self.buffer += chunk
        before, _, self.buffer = self.buffer.partition(text)
        return before

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\r")

    def resize(self, rows: int, cols: int) -> None:
        """As a terminal window does: the kernel then signals SIGWINCH to the program."""
        import fcntl
        import struct
        import termios

        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def wait(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.read(self.fd, 4096)
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(self.pid, 9)
        raise AssertionError("the program did not exit")
