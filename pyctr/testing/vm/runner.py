"""Boot a kernel in qemu, run one command in it, stream and return its output.

The host and the guest talk through a read-write 9p folder (the I/O
share): the host writes ``run.sh`` and ``config``; the guest writes
``stdout``, ``stderr`` and ``rc``. The host tails the output files while
the guest runs, so the caller sees the command's output as it comes, and
kills qemu when the time limit passes. The kernel's console goes to
``console.log`` and its tail is shown when the guest dies without an exit
code.
"""

from __future__ import annotations

import codecs
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pyctr.core.errors import PrerequisitesMissing
from pyctr.testing.vm.guestinit import IO_TAG, ROOT_TAG
from pyctr.testing.vm.initramfs import build_initramfs
from pyctr.testing.vm.kernel import DEFAULT_KERNEL, Kernel, prepare_kernel

TIMEOUT_RC = 124  # what timeout(1) returns
NO_EXIT_CODE_RC = 125
QEMU = "qemu-system-x86_64"
CMDLINE = "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init mitigations=off"


def _cmdline() -> str:
    # PYCTR_VM_APPEND adds kernel parameters, e.g. "loglevel=7" to see the boot.
    return f"{CMDLINE} {os.environ.get('PYCTR_VM_APPEND', '')}".strip()


@dataclass
class VmResult:
    """What a guest run gave back."""

    returncode: int
    output: str  # the command's stdout
    stderr: str
    message: str = ""  # why the run failed outside the command (timeout, boot failure)
    timings: dict[str, float] = field(default_factory=dict)
    facts: str = ""  # what the guest said about itself: uname -r, then its cgroup2 controllers


def kvm_usable() -> bool:
    """True when KVM can run a stock kernel: /dev/kvm plus hardware virtualisation.

    PVM-only KVM (nested in Firecracker) has /dev/kvm but no vmx/svm flag,
    and stock kernels hang or die with an emulation failure there.
    """
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " vmx" in flags or " svm" in flags


def qemu_command(kernel: Kernel, initrd: Path, io_dir: Path, shares: Sequence[Path],
                 accel: str, memory: int, cpus: int) -> list[str]:
    if shutil.which(QEMU) is None:
        raise PrerequisitesMissing(f"{QEMU} is missing: install the Debian package qemu-system-x86")
    # passthrough keeps real owners; a non-root caller cannot chown, "none" ignores that.
    model = "passthrough" if os.geteuid() == 0 else "none"
    cmd = [QEMU]
    if accel == "kvm":
        cmd += ["-accel", "kvm", "-cpu", "host"]
    else:
        cmd += ["-accel", "tcg,thread=multi", "-cpu", os.environ.get("PYCTR_VM_CPU", "max")]
    cmd += ["-m", str(memory), "-smp", str(cpus), "-nographic", "-no-reboot", "-nodefaults",
            "-nic", "none",  # no network device at all: nothing can leave the machine
            "-kernel", str(kernel.image), "-initrd", str(initrd), "-append", _cmdline(),
            "-serial", f"file:{io_dir.parent / 'console.log'}"]
    exports = [(ROOT_TAG, Path("/"), True), (IO_TAG, io_dir, False)]
    exports += [(f"share{i}", path, False) for i, path in enumerate(shares)]
    for tag, path, readonly in exports:
        where = str(path).replace(",", ",,")  # qemu's option syntax doubles commas
        opts = f"local,id={tag},path={where},security_model={model},multidevs=remap"
        cmd += ["-fsdev", opts + (",readonly=on" if readonly else ""),
                "-device", f"virtio-9p-pci,fsdev={tag},mount_tag={tag}"]
    return cmd


def guest_environment(env: Mapping[str, str] | None) -> dict[str, str]:
    """The command's environment: a clean one, plus what the caller asked for."""
    base = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin") + ":/usr/sbin:/sbin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "PYTHONUNBUFFERED": "1",  # output reaches the host as it is written
        "PYCTR_IN_VM": "1",
    }
    base.update(env or {})
    return base


def _write_io(io_dir: Path, kernel: Kernel, command: Sequence[str], cwd: str,
              env: Mapping[str, str], shares: Sequence[Path]) -> None:
    q = shlex.quote
    lines = []
    if kernel.modules_dir is not None:
        lines.append(f"modules {q(kernel.version)} {q(str(kernel.modules_dir))}")
    # the guest's /tmp, /var/tmp and /run are tmpfs of its own: folders the
    # command needs from there (its working directory) are shown read-only
    hidden = ("/tmp", "/var/tmp", "/run")
    if any(cwd == h or cwd.startswith(h + "/") for h in hidden):
        lines.append(f"visible {q(os.path.realpath(cwd))}")
    lines += [f"share share{i} {q(str(p))}" for i, p in enumerate(shares)]
    (io_dir / "config").write_text("\n".join(lines) + "\n")
    assignments = " ".join(q(f"{k}={v}") for k, v in env.items())
    (io_dir / "run.sh").write_text(
        f"cd {q(cwd)} 2>/dev/null || {{ echo {q(_CD_FAILED.format(cwd))} >&2; "
        f"exit {NO_EXIT_CODE_RC}; }}\n"
        f"exec /usr/bin/env -i {assignments} {' '.join(q(c) for c in command)}\n")


_CD_FAILED = ("pyctr-vm: {} does not exist in the guest (its /tmp, /var/tmp and /run are "
              "its own tmpfs; share a host folder with --share)")


class _Tail:
    """Copies what a guest appends to a file on the share to a local stream."""

    def __init__(self, path: Path, sink: IO[str] | None) -> None:
        self.path, self.sink, self.offset, self.chunks = path, sink, 0, []
        # A read may end inside a multi-byte character: decode incrementally.
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def poll(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return
        if data:
            self.offset += len(data)
            text = self.decoder.decode(data)
            self.chunks.append(text)
            if self.sink is not None:
                self.sink.write(text)
                self.sink.flush()

    def text(self) -> str:
        return "".join(self.chunks)


def run_in_vm(command: Sequence[str], kernel: str | Kernel = DEFAULT_KERNEL, *,
              cwd: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None,
              timeout: float = 600, shares: Sequence[str | os.PathLike[str]] = (),
              accel: str | None = None, memory: int = 2048, cpus: int = 2,
              stream: bool = False, console: bool = False) -> VmResult:
    """Boot ``kernel`` and run ``command`` in ``cwd`` inside it.

    ``shares`` are host folders the guest sees read-write at the same path
    (everything else is a read-only view of the host with a tmpfs layer).
    With ``stream`` the command's stdout and stderr are copied to ours as
    they come; with ``console`` the kernel's console is copied to our
    stderr too (boot problems). A guest still running after ``timeout`` seconds is killed
    and the result says so.
    """
    started = time.monotonic()
    if not isinstance(kernel, Kernel):
        kernel = prepare_kernel(kernel)
    accel = accel or os.environ.get("PYCTR_VM_ACCEL") or ("kvm" if kvm_usable() else "tcg")
    share_paths = [Path(s).resolve() for s in shares]
    for path in share_paths:
        path.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pyctr-vm-") as tmp:
        io_dir = Path(tmp) / "io"
        io_dir.mkdir()
        initrd = build_initramfs(kernel, Path(tmp) / "initrd.gz")
        _write_io(io_dir, kernel, command, str(cwd or os.getcwd()), guest_environment(env),
                  share_paths)
        argv = qemu_command(kernel, initrd, io_dir, share_paths, accel, memory, cpus)
        prepared = time.monotonic()
        result = _boot(argv, io_dir, started + timeout, timeout, stream, console)
        result.timings.update(prepare=prepared - started, total=time.monotonic() - started)
        facts = io_dir / "facts"
        result.facts = facts.read_text().strip() if facts.exists() else ""
        if result.message:
            log = Path(tmp) / "console.log"
            text = log.read_text(errors="replace") if log.exists() else ""
            # SeaBIOS clears the screen with escape codes; keep the log readable.
            tail = re.sub(r"\x1b(\[[0-9;?]*[A-Za-z]|c)", "", text).splitlines()[-25:]
            if "timed out" not in result.message and tail:
                result.message += "\nlast console lines:\n" + "\n".join(tail)
    return result


def _die_with_parent() -> None:
    """In the qemu child: a runner killed by CI's own timeout must not leave a guest behind."""
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _boot(argv: list[str], io_dir: Path, deadline: float, timeout: float, stream: bool,
          console: bool) -> VmResult:
    out = _Tail(io_dir / "stdout", sys.stdout if stream else None)
    err = _Tail(io_dir / "stderr", sys.stderr if stream else None)
    tails = [out, err] + ([_Tail(io_dir.parent / "console.log", sys.stderr)] if console else [])
    timings: dict[str, float] = {}
    start = time.monotonic()
    qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    timed_out = False
    try:
        while qemu.poll() is None:
            if "boot" not in timings and (io_dir / "booted").exists():
                timings["boot"] = time.monotonic() - start
            for tail in tails:
                tail.poll()
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(0.1)
    finally:
        if qemu.poll() is None:
            qemu.kill()  # our own child, by its PID
        qemu_output = qemu.communicate()[0].decode(errors="replace").strip()
    for tail in tails:
        tail.poll()
    timings["run"] = time.monotonic() - start
    for name, key in (("uptime-init", "guest_init"), ("booted", "guest_ready")):
        try:  # the guest's own clock: kernel start to /init, and to the command
            timings[key] = float((io_dir / name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    if timed_out:
        return VmResult(TIMEOUT_RC, out.text(), err.text(),
                        f"pyctr-vm: the guest timed out after {timeout:g} s and was killed",
                        timings=timings)
    rc_file = io_dir / "rc"
    if not rc_file.exists():
        why = f"qemu exited with {qemu.returncode}" + (f": {qemu_output}" if qemu_output else "")
        return VmResult(NO_EXIT_CODE_RC, out.text(), err.text(),
                        f"pyctr-vm: the guest stopped without an exit code ({why})", timings=timings)
    return VmResult(int(rc_file.read_text().strip() or NO_EXIT_CODE_RC), out.text(), err.text(),
                    timings=timings)
