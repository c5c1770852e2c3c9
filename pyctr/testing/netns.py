"""Network test helpers: stand-in "containers" that are processes in fresh
network namespaces, and commands run inside them with ``nsenter``.

A network driver only needs a pid whose ``/proc/<pid>/ns/net`` is the
container's namespace, so these let driver tests run without images or the
runtime. Every process made here is killed by its owner (use
:func:`netns_process` as a context manager or kill it in a finalizer).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class NetnsProcess:
    """``unshare --net [--mount] --fork --kill-child sleep``; ``pid`` is the sleeper."""

    def __init__(self, mount: bool = False) -> None:
        argv = ["unshare", "--net", "--fork", "--kill-child"]
        if mount:
            argv.insert(2, "--mount")  # private propagation: bind mounts stay inside
        self.mount = mount
        self.popen = subprocess.Popen([*argv, "sleep", "3600"], stdin=subprocess.DEVNULL)
        self.pid = self._child()

    def _child(self) -> int:
        deadline = time.monotonic() + 5
        path = f"/proc/{self.popen.pid}/task/{self.popen.pid}/children"
        while time.monotonic() < deadline:
            try:
                kids = Path(path).read_text().split()
            except OSError:
                kids = []
            if kids:
                pid = int(kids[0])
                # wait until the child has exec'd in the new namespace
                if os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                    return pid
            time.sleep(0.005)
        self.kill()
        raise RuntimeError("unshare --net did not start")

    def nsenter(self, argv: list[str]) -> list[str]:
        ns = [f"--net=/proc/{self.pid}/ns/net"]
        if self.mount:
            ns.append(f"--mount=/proc/{self.pid}/ns/mnt")
        return ["nsenter", *ns, *argv]

    def run(self, argv: list[str], timeout: float = 20, check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.nsenter(argv), capture_output=True, text=True, timeout=timeout, check=check)

    def popen_in(self, argv: list[str], **kw: Any) -> subprocess.Popen[Any]:
        return subprocess.Popen(self.nsenter(argv), **kw)

    def links(self) -> list[str]:
        out = self.run(["ip", "-o", "link", "show"], check=True).stdout
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()


@contextlib.contextmanager
def netns_process(mount: bool = False) -> Iterator[NetnsProcess]:
    p = NetnsProcess(mount=mount)
    try:
        yield p
    finally:
        p.kill()


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fake_container(root: Path, name: str | None = None, network: dict[str, Any] | None = None,
                   hostname: str = "", driver: str = "bridge") -> Any:
    """A :class:`pyctr.core.container.Container` record with its directory made, as the runtime would."""
    from pyctr.core.container import Container
    from pyctr.core.spec import ContainerSpec

    cid = secrets.token_hex(32)
    c = Container(id=cid, name=name or f"net{cid[:8]}", image_id="",
                  spec=ContainerSpec(name=name or "", hostname=hostname or cid[:12], network=dict(network or {})),
                  drivers={"network": driver}, root=Path(root))
    c.dir.mkdir(parents=True, exist_ok=True)
    for f in ("hosts", "resolv.conf", "hostname"):
        (c.dir / f).touch()
    return c


def http_get(url: str, timeout: float = 2.0) -> str:
    """One GET with the standard library (imported here: tests only)."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_for(fn: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Call ``fn`` until it returns a truthy value without raising; re-raise the last error."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001
            last = e
        time.sleep(interval)
    if last is not None:
        raise last
    raise TimeoutError("condition not met in time")
