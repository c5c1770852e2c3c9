"""Conformance suite for runc-compatible OCI runtimes (runc's command line, runtime-spec 1.1).

The same tests run against ``pyctr-runtime`` and against Debian's ``runc``
(and ``crun``), which proves the tests: a test that runc fails tests the
wrong thing. Run it against any runtime without writing a test::

    OCI_RUNTIME=/usr/sbin/runc pytest --pyargs pyctr.testing.conformance.oci

or subclass :class:`OciRuntimeConformance` and provide an ``oci_runtime``
fixture (a :class:`Runtime`). Everything is real: bundles on a busybox
rootfs, the runtime's own processes, the kernel's view read back from /proc
and the cgroup filesystem. The test process is a child subreaper, as
containerd's shim and conmon are, so it reaps the containers' inits and
reads their exit status. Cgroups go below the test's own cgroup (a relative
``cgroupsPath``) in a parent made for the test and removed after it.

Where runtimes legitimately differ in wording, :attr:`Runtime.runc_words`
says whether to check runc's exact words (``does not exist``).
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import select
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from pyctr.testing.leaks import remove_cgroup

PR_SET_CHILD_SUBREAPER = 36
CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
        "CAP_AUDIT_WRITE"]


def set_subreaper() -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def base_config(args: list[str], cgroups_path: str) -> dict[str, Any]:
    """A config.json as containerd's default spec looks (runc's ``spec`` with a real cgroup)."""
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False, "user": {"uid": 0, "gid": 0}, "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(CAPS) for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": False},
        "hostname": "oci-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "resources": {"devices": [{"allow": False, "access": "rwm"},
                                      {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                                      {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
                                      {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
                                      {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
                                      {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
                                      {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
                                      {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
                                      {"allow": True, "type": "c", "major": 136, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


class Runtime:
    """One runtime binary on a private ``--root``."""

    def __init__(self, path: str, root: Path, *, runc_words: bool = True, name: str = "") -> None:
        self.path = path
        self.root = root
        self.runc_words = runc_words
        self.name = name or os.path.basename(path)

    def __call__(self, *args: str, input: bytes | None = None, timeout: float = 60, stdin: Any = None,
                 stdout: Any = None, stderr: Any = None,
                 global_args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        """Run the runtime; its output is read from files, not pipes: a container created
        without a terminal inherits them and may hold them open long after we return."""
        import tempfile

        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run([self.path, "--root", str(self.root), *global_args, *args], input=input,
                               stdin=subprocess.DEVNULL if stdin is None and input is None else stdin,
                               stdout=out if stdout is None else stdout, stderr=err if stderr is None else stderr,
                               timeout=timeout, check=False)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())

    def ok(self, *args: str, **kw: Any) -> subprocess.CompletedProcess:
        p = self(*args, **kw)
        assert p.returncode == 0, f"{self.name} {' '.join(args)} exited {p.returncode}: {p.stderr!r}"
        return p

    def state(self, cid: str) -> dict[str, Any]:
        return json.loads(self.ok("state", cid).stdout)


class Bundle:
    """A bundle directory: ``rootfs`` (a copy of the busybox rootfs) and config.json."""

    def __init__(self, path: Path, rootfs: Path, config: dict[str, Any]) -> None:
        self.path = path
        self.rootfs = path / "rootfs"
        if not self.rootfs.exists():
            shutil.copytree(rootfs, self.rootfs, symlinks=True)
        self.config = config

    def write(self) -> Bundle:
        (self.path / "config.json").write_text(json.dumps(self.config))
        return self


def reap(pid: int, timeout: float = 30) -> int:
    """Exit status of ``pid`` (re-parented to us, the subreaper), 128+N for a signal."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
        if time.monotonic() > deadline:
            raise AssertionError(f"pid {pid} did not exit within {timeout}s")
        time.sleep(0.01)


def process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


class OciRuntimeConformance:
    """The tests; a subclass or the module provides the ``oci_runtime`` and ``busybox_rootfs`` fixtures."""

    # ------------------------------------------------------------ fixtures

    @pytest.fixture
    def cgroup_parent(self) -> Any:
        name = "pyctr-oci-" + secrets.token_hex(4)
        yield name
        left = remove_cgroup(name)
        assert not left, f"{left} is left (a container's cgroup was not removed)"

    @pytest.fixture
    def make_bundle(self, tmp_path: Path, busybox_rootfs: Path, cgroup_parent: str) -> Any:
        set_subreaper()
        count = [0]

        def make(args: list[str], *, base: Path | None = None, **changes: Any) -> Bundle:
            count[0] += 1
            cid = f"c{count[0]}-{secrets.token_hex(3)}"
            config = base_config(args, f"{cgroup_parent}/{cid}")
            b = Bundle((base or tmp_path) / cid, busybox_rootfs, config)
            b.id = cid  # type: ignore[attr-defined]
            for key, value in changes.items():
                _set(config, key, value)
            return b.write()

        yield make

    @pytest.fixture
    def open_tmp(self) -> Any:
        import tempfile

        path = Path(tempfile.mkdtemp(prefix="pyctr-oci-"))
        path.chmod(0o755)
        yield path
        shutil.rmtree(path, ignore_errors=True)

    @pytest.fixture(autouse=True)
    def _cleanup(self, oci_runtime: Runtime) -> Any:
        yield
        # whatever a failed test left: killed, deleted, reaped
        for name in (os.listdir(oci_runtime.root) if oci_runtime.root.exists() else []):
            if name.startswith("c"):
                oci_runtime("delete", "--force", name)
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break

    def run_to_end(self, rt: Runtime, b: Bundle, stdin: bytes = b"") -> tuple[int, bytes, bytes]:
        """create with pipes as the container's stdio (containerd's way), start, reap, delete."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe()
        pidfile = b.path / "init.pid"
        try:
            p = subprocess.run([rt.path, "--root", str(rt.root), "create", "--bundle", str(b.path), "--pid-file",
                                str(pidfile), b.id], stdin=in_r, stdout=out_w, stderr=err_w, timeout=60)
        finally:
            os.close(out_w)
            os.close(err_w)
            os.close(in_r)
        try:
            if p.returncode != 0:
                return p.returncode, _drain(out_r), _drain(err_r)
            os.write(in_w, stdin)
            os.close(in_w)
            in_w = -1
            pid = int(pidfile.read_text())
            rt.ok("start", b.id)
            code = reap(pid)
            out, err = _drain(out_r), _drain(err_r)
            rt.ok("delete", b.id)
            return code, out, err
        finally:
            if in_w >= 0:
                os.close(in_w)
            os.close(out_r)
            os.close(err_r)

    def output(self, rt: Runtime, b: Bundle) -> str:
        code, out, err = self.run_to_end(rt, b)
        assert code == 0, f"exit {code}: {err!r}"
        return out.decode()

    # --------------------------------------------------------------- basics

    def test_version(self, oci_runtime: Runtime) -> None:
        p = oci_runtime.ok("--version")
        assert b"spec: 1." in p.stdout

    def test_create_leaves_one_waiting_process(self, oci_runtime: Runtime, make_bundle: Any) -> None:
        b = make_bundle(["sh", "-c", "echo started"])
        pidfile = b.path / "init.pid"
        p = oci_runtime("create", "--bundle", str(b.path), "--pid-file", str(pidfile), b.id,
                        stdin=subprocess.DEVNULL)
        assert p.returncode == 0, p.stderr
        assert p.stdout == b""  # create prints nothing: stdout is the container's
        text = pidfile.read_text()
        assert text.isdigit(), f"pid file {text!r} is not bare digits"
        pid = int(text)
        assert process_alive(pid)
        assert os.getppid() != pid
        with open(f"/proc/{pid}/stat") as f:
            assert int(f.read().rsplit(")", 1)[1].split()[1]) == os.getpid(), "the init is not re-parented to the caller"
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        assert children == [], "the waiting init has children (a wrapper process?)"
        s = oci_runtime.state(b.id)
        assert s["status"] == "created" and s["pid"] == pid and s["id"] == b.id
        assert s["bundle"] == str(b.path)
        assert s["ociVersion"]
        oci_runtime.ok("delete", b.id)  # a created container is killed and removed
        assert reap(pid) == 128 + signal.SIGKILL
        assert oci_runtime("state", b.id).returncode != 0

    def test_start_runs_the_process_and_state_follows(self, oci_runtime: Runtime, make_bundle: Any) -> None:
        b = make_bundle(["sh", "-c", "read x; exit 7"])
        r, w = os.pipe()
        try:
            p = oci_runtime("create", "--bundle", str(b.path), "--pid-file", str(b.path / "pid"), b.id, stdin=r)
            assert p.returncode == 0, p.stderr
            pid = int((b.path / "pid").read_text())
            oci_runtime.ok("start", b.id)
            assert oci_runtime.state(b.id)["status"] == "running"
            assert oci_runtime("start", b.id).returncode != 0  # only a created container starts
            os.write(w, b"go\n")
        finally:
            os.close(r)
            os.close(w)
        assert reap(pid) == 7
        s = oci_runtime.state(b.id)
        assert s["status"] == "stopped"
        oci_runtime.ok("delete", b.id)

    def test_zombie_is_stopped(self, oci_runtime: Runtime, make_bundle: Any) -> None:
        b = make_bundle(["true"])
        oci_runtime.ok("create", "--bundle", str(b.path), "--pid-file", str(b.path / "pid"), b.id,
                       stdin=subprocess.DEVNULL)
        pid = int((b.path / "pid").read_text())
        oci_runtime.ok("start", b.id)
        deadline = time.monotonic() + 10
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert oci_runtime.state(b.id)["status"] == "stopped"  # not reaped yet: a zombie
        assert reap(pid) == 0
        oci_runtime.ok("delete", b.id)

    def test_output_and_exit_code_through_pipes(self, oci_runtime: Runtime, make_bundle: Any) -> None:
        b = make_bundle(["sh", "-c", "cat; echo to-err >&2; exit 3"])
        code, out, err = self.run_to_end(oci_runtime, b, stdin=b"through stdin\n")
        assert (code, out, err) == (3, b"through stdin\n", b"to-err\n")

    def test_env_cwd_hostname(self, oci_runtime: Runtime, make_bundle: Any) -> None:
        b = make_bundle(["sh", "-c", "pwd; hostname; echo $FOO; echo $$"])
        b.config["process"]["env"].append("FOO=bar baz")
        b.config["process"]["cwd"] = "/made/for/test"
        b.write()
        assert self.output(oci_runtime, b).split("\n")[:4] == ["/made/for/test", "oci-test", "bar baz", "1"]

    def test_missing_container_does_not_exist(self, oci_runtime: Runtime) -> None:
        for args in (("state", "nope"), ("start", "nope"), ("kill", "nope", "KILL"), ("delete", "nope")):
            p = oci_runtime(*args)
            assert p.returncode != 0
            if oci_runtime.runc_words:
                assert b"does not exist" in p.stderr, (args, p.stderr)
        assert oci_runtime("delete", "--force", "nope").returncode == 0

    def test_duplicate_id_refused(self, oci_runtime: Runtime, make_bundle: Any) -> None:
        b = make_bundle(["true"])
        oci_runtime.ok("create", "--bundle", str(b.path), "--pid-file", str(b.path / "pid"), b.id,
                       stdin=subprocess.DEVNULL)
        pid = int((b.path / "pid").read_text())
        p = oci_runtime("create", "--bundle", str(b.path), b.id, stdin=subprocess.DEVNULL)
        assert p.returncode != 0
        if oci_runtime.runc_words:
            assert b"already exists" in p.stderr
        assert oci_runtime.state(b.id)["pid"] == pid  # the first one is untouched
        oci_runtime.ok("delete", b.id)
        reap(pid)

    def test_kill_signals_and_delete_rules(self, oci_runtime: Runtime, make_bundle: Any) -> None:
        b = make_bundle(["sh", "-c", "trap 'exit 42' USR1; while :; do sleep 0.05; done"])
        oci_runtime.ok("create", "--bundle", str(b.path), "--pid-file", str(b.path / "pid"), b.id,
                       stdin=subprocess.DEVNULL)
        pid = int((b.path / "pid").read_text())
        oci_runtime.ok("start", b.id)
        time.sleep(0.3)  # the trap is set
        p = oci_runtime("delete", b.id)
        assert p.returncode != 0 and oci_runtime.state(b.id)["status"] == "running"
        oci_runtime.ok("kill", b.id, "USR1")  # a name without SIG
        assert reap(pid) == 42
        p = oci_runtime("kill", b.id, "TERM")
        assert p.returncode != 0
        oci_runtime.ok("delete", b.id)

    def test_kill_number_and_force_delete(self, oci_runtime: Runtime, make_bundle: Any) -> None:
        b = make_bundle(["sleep", "100"])
        oci_runtime.ok("create", "--bundle", str(b.path), "--pid-file", str(b.path / "pid"), b.id,
                       stdin=subprocess.DEVNULL)
        pid = int((b.path / "pid").read_text())
        oci_runtime.ok("start", b.id)
        oci_runtime.ok("kill", b.id, "9")
        assert reap(pid) == 128 + 9
        b2 = make_bundle(["sleep", "100"])
        oci_runtime.ok("create", "--bundle", str(b2.path), "--pid-file", str(b2.path / "pid"), b2.id,
                       stdin=subprocess.DEVNULL)
        pid2 = int((b2.path / "pid").read_text())
        oci_runtime.ok("start", b2.id)
        oci_runtime.ok("delete", "--force", b2.id)
        assert reap(pid2) == 128 + 9

    # ---------------------------------------------------------------- console

    def test_console_socket_gets_the_pty(self, oci_runtime: Runtime, make_bundle: Any, tmp_path: Path) -> None:
        b = make_bundle(["sh", "-c", "tty; echo done"], **{"process.terminal": True})
        path = str(tmp_path / "console.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(1)
        try:
            # stdout and stderr are a pipe read until EOF: nothing may keep them open (containerd's way)
            p = subprocess.run([oci_runtime.path, "--root", str(oci_runtime.root), "create", "--bundle",
                                str(b.path), "--pid-file", str(b.path / "pid"), "--console-socket", path, b.id],
                               capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
            assert p.returncode == 0, p.stderr
            conn, _ = server.accept()
            msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
            conn.close()
            assert len(fds) == 1 and msg, "one fd and a non-empty name"
            master = fds[0]
            pid = int((b.path / "pid").read_text())
            oci_runtime.ok("start", b.id)
            out = b""
            deadline = time.monotonic() + 10
            while b"done" not in out and time.monotonic() < deadline:
                if select.select([master], [], [], 0.2)[0]:
                    try:
                        out += os.read(master, 4096)
                    except OSError:
                        break
            os.close(master)
            assert reap(pid) == 0
            assert b"/dev/pts/" in out and b"done" in out
            oci_runtime.ok("delete", b.id)
        finally:
            server.close()

    def test_console_socket_that_is_not_a_socket(self, oci_runtime: Runtime, make_bundle: Any,
                                                 tmp_path: Path) -> None:
        b = make_bundle(["true"], **{"process.terminal": True})
        plain = tmp_path / "plain-file"
        plain.write_text("")
        p = oci_runtime("create", "--bundle", str(b.path), "--console-socket", str(plain), b.id,
                        stdin=subprocess.DEVNULL)
        assert p.returncode != 0
        assert oci_runtime("state", b.id).returncode != 0

    # ------------------------------------------------------------------ exec

    def test_exec_detached_and_attached(self, oci_runtime: Runtime, make_bundle: Any, tmp_path: Path) -> None:
        b = make_bundle(["sleep", "100"])
        oci_runtime.ok("create", "--bundle", str(b.path), "--pid-file", str(b.path / "pid"), b.id,
                       stdin=subprocess.DEVNULL)
        pid = int((b.path / "pid").read_text())
        oci_runtime.ok("start", b.id)
        process = dict(b.config["process"], args=["sh", "-c", "echo $$ $EXTRA; hostname; exit 5"],
                       env=b.config["process"]["env"] + ["EXTRA=x"])
        (tmp_path / "process.json").write_text(json.dumps(process))
        p = oci_runtime("exec", "--process", str(tmp_path / "process.json"), b.id)
        assert p.returncode == 5, p.stderr
        first, host = p.stdout.decode().split("\n")[:2]
        assert first.split()[1] == "x" and first.split()[0] != "1" and host == "oci-test"
        process["args"] = ["sleep", "100"]
        (tmp_path / "process.json").write_text(json.dumps(process))
        p = oci_runtime("exec", "--detach", "--pid-file", str(tmp_path / "exec.pid"), "--process",
                        str(tmp_path / "process.json"), b.id, stdin=subprocess.DEVNULL)
        assert p.returncode == 0, p.stderr
        epid = int((tmp_path / "exec.pid").read_text())
        assert os.readlink(f"/proc/{epid}/ns/pid") == os.readlink(f"/proc/{pid}/ns/pid")
        assert os.readlink(f"/proc/{epid}/ns/mnt") == os.readlink(f"/proc/{pid}/ns/mnt")
        ps = json.loads(oci_runtime.ok("ps", "--format", "json", b.id).stdout)
        assert pid in ps and epid in ps
        oci_runtime.ok("kill", b.id, "KILL")
        # the exec'd process is our child too (re-parented): the dying init waits until it is reaped
        reap(epid)
        assert reap(pid) == 137
        oci_runtime.ok("delete", b.id)

    def test_exec_missing_command(self, oci_runtime: Runtime, make_bundle: Any) -> None:
        b = make_bundle(["sleep", "100"])
        oci_runtime.ok("create", "--bundle", str(b.path), "--pid-file", str(b.path / "pid"), b.id,
                       stdin=subprocess.DEVNULL)
        pid = int((b.path / "pid").read_text())
        oci_runtime.ok("start", b.id)
        p = oci_runtime("exec", b.id, "no-such-command")
        assert p.returncode != 0
        assert b"no-such-command" in p.stderr
        oci_runtime.ok("delete", "--force", b.id)
        reap(pid)

    # ----------------------------------------------------------------- hooks

    def test_hooks_order_and_state_on_stdin(self, oci_runtime: Runtime, make_bundle: Any, tmp_path: Path) -> None:
        log = tmp_path / "hooks.log"
        script = tmp_path / "hook.sh"
        # /bin/sh of the host for the runtime-side hooks; createContainer and startContainer run
        # in the container (startContainer's path is the container's own)
        script.write_text(f"#!/bin/sh\necho \"$1 $(cat)\" >> {log}\n")
        script.chmod(0o755)
        b = make_bundle(["true"])
        inner = b.rootfs / "hook.sh"
        inner.write_text("#!/bin/sh\ncat > /dev/null\ntouch /tmp/start-hook-ran\n")
        inner.chmod(0o755)
        hooks = {kind: [{"path": str(script), "args": ["hook.sh", kind]}]
                 for kind in ("prestart", "createRuntime", "createContainer", "poststart", "poststop")}
        hooks["startContainer"] = [{"path": "/hook.sh", "args": ["hook.sh"]}]
        b.config["hooks"] = hooks
        b.config["annotations"] = {"org.test": "yes"}
        b.write()
        code, _out, err = self.run_to_end(oci_runtime, b)
        assert code == 0, err
        lines = log.read_text().splitlines()
        kinds = [line.split(" ", 1)[0] for line in lines]
        assert kinds == ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]
        for line in lines:
            state = json.loads(line.split(" ", 1)[1])
            assert state["id"] == b.id and state["bundle"] == str(b.path)
            assert state["annotations"] == {"org.test": "yes"}
            assert state.get("pid", 0) > 0 or line.startswith("poststop")
        assert (b.rootfs / "tmp/start-hook-ran").exists()

    def test_failing_prestart_hook_fails_create_and_leaves_nothing(self, oci_runtime: Runtime,
                                                                  make_bundle: Any) -> None:
        b = make_bundle(["true"])
        b.config["hooks"] = {"prestart": [{"path": "/bin/false"}]}
        b.write()
        p = oci_runtime("create", "--bundle", str(b.path), b.id, stdin=subprocess.DEVNULL)
        assert p.returncode != 0
        assert oci_runtime("state", b.id).returncode != 0

    # ---------------------------------------------------------------- isolation

    def test_namespace_joined_by_path(self, oci_runtime: Runtime, make_bundle: Any) -> None:
        a = make_bundle(["sleep", "100"])
        oci_runtime.ok("create", "--bundle", str(a.path), "--pid-file", str(a.path / "pid"), a.id,
                       stdin=subprocess.DEVNULL)
        apid = int((a.path / "pid").read_text())
        b = make_bundle(["sh", "-c", "readlink /proc/self/ns/net; readlink /proc/self/ns/uts; hostname"])
        ns = [n for n in b.config["linux"]["namespaces"] if n["type"] not in ("network", "uts")]
        ns += [{"type": "network", "path": f"/proc/{apid}/ns/net"}, {"type": "uts", "path": f"/proc/{apid}/ns/uts"}]
        b.config["linux"]["namespaces"] = ns
        del b.config["hostname"]
        b.write()
        net, uts, host = self.output(oci_runtime, b).split("\n")[:3]
        assert net == os.readlink(f"/proc/{apid}/ns/net") and uts == os.readlink(f"/proc/{apid}/ns/uts")
        assert host == "oci-test"
        oci_runtime.ok("delete", a.id)
        reap(apid)

    def test_user_namespace_mappings(self, oci_runtime: Runtime, make_bundle: Any, open_tmp: Path) -> None:
        # (the remapped root must be able to walk to its rootfs: not below pytest's 0700 directories)
        b = make_bundle(["sh", "-c", "id -u; cat /proc/self/uid_map"], base=open_tmp)
        b.config["linux"]["namespaces"].append({"type": "user"})
        b.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        b.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        b.config["mounts"] = [m for m in b.config["mounts"] if m["type"] != "cgroup"]
        b.config["linux"].pop("resources")
        _chown_tree(b.rootfs, 100000)
        b.write()
        out = self.output(oci_runtime, b).split("\n")
        assert out[0] == "0"
        assert out[1].split() == ["0", "100000", "65536"]

    def test_masked_readonly_paths_and_readonly_root(self, oci_runtime: Runtime, make_bundle: Any) -> None:
        b = make_bundle(["sh", "-c", "for p in /proc/kcore /proc/keys /proc/timer_list; do "
                                     "[ -e $p ] && echo masked=$(cat $p | wc -c); done; "
                                     "echo firmware=$(ls -A /sys/firmware | wc -l); "
                                     "echo 1 > /proc/sys/kernel/ns_last_pid && echo wrote; "
                                     "touch /rootfile && echo touched; exit 0"])
        b.config["root"]["readonly"] = True
        b.write()
        out = [line.replace(" ", "") for line in self.output(oci_runtime, b).split("\n")]
        masked = [line for line in out if line.startswith("masked=")]
        assert masked and all(line == "masked=0" for line in masked), out
        assert "firmware=0" in out
        assert "wrote" not in out and "touched" not in out

    def test_capabilities_rlimits_nnp(self, oci_runtime: Runtime, make_bundle: Any) -> None:
        b = make_bundle(["sh", "-c", "grep -E '^(CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status; ulimit -n"])
        b.config["process"]["capabilities"] = {k: ["CAP_KILL", "CAP_NET_RAW"]
                                               for k in ("bounding", "effective", "permitted", "inheritable",
                                                         "ambient")}
        b.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 77, "hard": 88}]
        b.write()
        lines = dict(line.split(":\t") for line in self.output(oci_runtime, b).splitlines() if ":\t" in line)
        want = (1 << 5) | (1 << 13)
        assert int(lines["CapEff"], 16) == want and int(lines["CapBnd"], 16) == want
        assert int(lines["CapAmb"], 16) == want
        assert lines["NoNewPrivs"] == "1"
        assert self.output(oci_runtime, b).strip().splitlines()[-1] == "77"

    def test_user_and_groups(self, oci_runtime: Runtime, make_bundle: Any) -> None:
        b = make_bundle(["id"])
        b.config["process"]["user"] = {"uid": 99, "gid": 99, "additionalGids": [5, 1]}
        b.write()
        out = self.output(oci_runtime, b)
        assert "uid=99" in out and "gid=99" in out and "5(tty)" in out and "1(daemon)" in out

    def test_seccomp_profile(self, oci_runtime: Runtime, make_bundle: Any) -> None:
        b = make_bundle(["sh", "-c", "mkdir /tmp/x && echo made; echo after"])
        b.config["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat", "no_such_syscall_at_all"], "action": "SCMP_ACT_ERRNO",
                          "errnoRet": 1}]}
        b.write()
        out = self.output(oci_runtime, b)
        assert "made" not in out and "after" in out
        assert not (b.rootfs / "tmp/x").exists()

    def test_devices_and_sysctl_and_domainname(self, oci_runtime: Runtime, make_bundle: Any) -> None:
        b = make_bundle(["sh", "-c", "ls -l /dev/mynull; echo x > /dev/mynull && echo ok; "
                                     "cat /proc/sys/net/ipv4/ip_forward; cat /proc/sys/kernel/domainname; ls /dev"])
        b.config["linux"]["devices"] = [{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                                         "fileMode": 0o640, "uid": 0, "gid": 0}]
        b.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
        b.config["domainname"] = "example.org"
        b.write()
        out = self.output(oci_runtime, b).split("\n")
        assert out[0].startswith("crw-r-----") and "1,   3" in out[0]
        assert out[1:3] == ["ok", "1"]
        if oci_runtime.name != "runc":  # runc 1.1 ignores domainname (it prints "(none)")
            assert out[3] == "example.org"
        for name in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm"):
            assert name in out[4:], name

    def test_cgroup_limits_and_mount(self, oci_runtime: Runtime, make_bundle: Any) -> None:
        b = make_bundle(["sh", "-c", "cat /proc/self/cgroup; ls /sys/fs/cgroup; sleep 100"])
        b.config["linux"]["resources"]["memory"] = {"limit": 64 * 1024 * 1024}
        b.config["linux"]["resources"]["pids"] = {"limit": 33}
        b.write()
        oci_runtime.ok("create", "--bundle", str(b.path), "--pid-file", str(b.path / "pid"), b.id,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        pid = int((b.path / "pid").read_text())
        own = _cgroups_of(pid)
        rel = b.config["linux"]["cgroupsPath"]
        for controller in ("memory", "pids"):
            key = next(k for k in own if controller in k.split(","))
            assert own[key].endswith("/" + rel), (controller, own[key])
            path = _mount_of(controller) + own[key]
            limit = "memory.limit_in_bytes" if os.path.exists(path + "/memory.limit_in_bytes") else "memory.max"
            if controller == "memory":
                assert int(Path(path, limit).read_text()) == 64 * 1024 * 1024
            else:
                assert Path(path, "pids.max").read_text().strip() == "33"
        oci_runtime.ok("delete", b.id)
        reap(pid)

    def test_pause_resume(self, oci_runtime: Runtime, make_bundle: Any) -> None:
        b = make_bundle(["sleep", "100"])
        oci_runtime.ok("create", "--bundle", str(b.path), "--pid-file", str(b.path / "pid"), b.id,
                       stdin=subprocess.DEVNULL)
        pid = int((b.path / "pid").read_text())
        oci_runtime.ok("start", b.id)
        oci_runtime.ok("pause", b.id)
        assert oci_runtime.state(b.id)["status"] == "paused"
        oci_runtime.ok("resume", b.id)
        assert oci_runtime.state(b.id)["status"] == "running"
        oci_runtime.ok("update", "--resources", "-", b.id, input=json.dumps({"pids": {"limit": 50}}).encode())
        key = next(k for k in _cgroups_of(pid) if "pids" in k.split(","))
        assert Path(_mount_of("pids") + _cgroups_of(pid)[key], "pids.max").read_text().strip() == "50"
        oci_runtime.ok("delete", "--force", b.id)
        reap(pid)

    # -------------------------------------------------------------- bad input

    @pytest.mark.parametrize("change", [
        {"process.args": "not-a-list"},
        {"linux.namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "bogus"}]},
        {"root.path": "no-such-rootfs"},
        {"process.cwd": "relative/dir"},
        {"ociVersion": 7},
        {"process.rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]},
    ], ids=["args-type", "unknown-ns", "missing-rootfs", "relative-cwd", "version-type", "bad-rlimit"])
    def test_bad_config_refused_leaving_nothing(self, oci_runtime: Runtime, make_bundle: Any, change: dict,
                                                tmp_path: Path) -> None:
        b = make_bundle(["true"], **change)
        log = tmp_path / "log.json"
        p = oci_runtime("create", "--bundle", str(b.path), b.id, stdin=subprocess.DEVNULL,
                        global_args=("--log", str(log), "--log-format", "json"))
        assert p.returncode != 0
        assert oci_runtime("state", b.id).returncode != 0
        errors = [json.loads(line) for line in log.read_text().splitlines() if '"error"' in line]
        assert errors and errors[-1]["level"] == "error" and errors[-1]["msg"]
        assert not [n for n in os.listdir(oci_runtime.root) if n == b.id] if oci_runtime.root.exists() else True


class TestOciRuntimeConformance(OciRuntimeConformance):
    """Collected with ``pytest --pyargs pyctr.testing.conformance.oci``: the runtime is
    ``$OCI_RUNTIME`` (the plugin's ``oci_runtime`` fixture)."""


def _set(config: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = config
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = copy.deepcopy(value)


def _drain(fd: int) -> bytes:
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _chown_tree(root: Path, uid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
            st = os.lstat(name)
            os.lchown(name, uid + st.st_uid, uid + st.st_gid)


def _cgroups_of(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _h, controllers, path = line.split(":", 2)
        out[controllers] = path
    return out


def _mount_of(controller: str) -> str:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            m = line.split()
            sep = m.index("-")
            if m[sep + 1] == "cgroup" and controller in m[sep + 3].split(","):
                return m[4]
            if m[sep + 1] == "cgroup2" and m[4] == "/sys/fs/cgroup":
                return m[4]
    raise AssertionError(f"no {controller} hierarchy")


__all__ = ["OciRuntimeConformance", "Runtime", "Bundle", "base_config", "reap", "stat"]
