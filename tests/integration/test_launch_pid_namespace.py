"""The init is forked straight into its PID namespace: the parent's own namespace for
children is set back at once, a new namespace or a joined one alike (root: unshare, setns)."""

from __future__ import annotations

import os
import types

import pytest

from pyctr.kernel import linux
from pyctr.runtime.launch import _fork_in_pid_namespace

pytestmark = [pytest.mark.root, pytest.mark.matrix]  # kernel-dependent: runs on every kernel leg


def _children_ns() -> str:
    return os.readlink("/proc/thread-self/ns/pid_for_children")


def _fork_and_report(launch: types.SimpleNamespace, hold: bool = False) -> tuple[int, int, str]:
    """(host pid, the pid the child saw for itself, its pid namespace); with ``hold`` the
    child stays until its pipe closes."""
    r, w = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = _fork_in_pid_namespace(launch)
    if pid == 0:  # pragma: no cover  (the child)
        try:
            os.close(r)
            os.close(hold_w)
            os.write(w, f"{os.getpid()} {os.readlink('/proc/self/ns/pid')}".encode())
            os.close(w)
            if hold:
                os.read(hold_r, 1)
        finally:
            os._exit(0)
    os.close(w)
    os.close(hold_r)
    seen, ns = os.read(r, 100).decode().split()
    os.close(r)
    if not hold:
        os.close(hold_w)
        os.waitpid(pid, 0)
        return pid, int(seen), ns
    return pid, int(seen), f"{ns} {hold_w}"


def test_a_new_pid_namespace_for_the_init_only() -> None:
    before = _children_ns()
    pid, seen, ns = _fork_and_report(types.SimpleNamespace(joins={}, flags=linux.CLONE_NEWPID))
    assert seen == 1 and pid != 1  # PID 1 inside, an ordinary pid outside
    assert ns != os.readlink("/proc/self/ns/pid")
    assert _children_ns() == before  # set back: the next child is the host's again
    pid, seen, _ = _fork_and_report(types.SimpleNamespace(joins={}, flags=0))
    assert seen == pid


def test_joining_the_pid_namespace_of_another_process() -> None:
    before = _children_ns()
    first, _, info = _fork_and_report(types.SimpleNamespace(joins={}, flags=linux.CLONE_NEWPID), hold=True)
    ns, hold_w = info.split()
    try:
        joined = types.SimpleNamespace(joins={"pid": f"/proc/{first}/ns/pid"}, flags=0)
        pid, seen, ns2 = _fork_and_report(joined)
        assert ns2 == ns and seen == 2  # the second process of that namespace
        assert _children_ns() == before
    finally:
        os.close(int(hold_w))
        os.waitpid(first, 0)
