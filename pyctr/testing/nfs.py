"""A real NFSv4 server for tests: nfs-ganesha exporting one folder on loopback.

Everything ganesha writes (config, log, pid file, NFSv4 recovery state)
goes to a temporary folder of ours, and the server listens on 127.0.0.1 on
a free port, so several servers (one per helper, test or guest) never meet.
ganesha needs a non-loopback address on the machine to start at all
("No IP address found for 127.0.0.1"); the VM guest has a dummy one.

    server = start_nfs_server(folder)
    mount_nfs(server, "/mnt/x")      # mount -t nfs4 -o vers=4.1,port=N 127.0.0.1:/export
    ...
    umount("/mnt/x"); server.stop()
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pyctr.core.errors import PrerequisitesMissing, RuntimeFailure

GANESHA = "ganesha.nfsd"
READY_LINE = "NFS SERVER INITIALIZED"
PSEUDO = "/export"

CONFIG = """\
# Written by pyctr.testing.nfs for one test server; nothing here is system-wide.
NFS_CORE_PARAM {{
    Bind_addr = 127.0.0.1;
    NFS_Port = {port};
    Protocols = 4;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Enable_UDP = false;
}}
NFSv4 {{
    # No 90 s grace period after start: there are no clients to reclaim state.
    Graceless = true;
    RecoveryBackend = fs;
    RecoveryRoot = "{state}";
    Only_Numeric_Owners = true;
}}
NFS_KRB5 {{
    Active_krb5 = false;
}}
EXPORT {{
    Export_Id = 1;
    Path = "{export}";
    Pseudo = "{pseudo}";
    Protocols = 4;
    Transports = TCP;
    Access_Type = RW;
    Squash = No_Root_Squash;
    SecType = sys;
    FSAL {{
        Name = VFS;
    }}
}}
LOG {{
    Default_Log_Level = EVENT;
}}
"""


@dataclass
class NfsServer:
    """A running ganesha; ``stop()`` ends it and removes its files."""

    export: Path
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None
    host: str = "127.0.0.1"
    pseudo: str = PSEUDO
    _stopped: bool = field(default=False, repr=False)

    @property
    def source(self) -> str:
        """What ``mount`` takes as the device: ``127.0.0.1:/export``."""
        return f"{self.host}:{self.pseudo}"

    @property
    def options(self) -> str:
        return f"vers=4.1,port={self.port}"

    @property
    def log(self) -> str:
        try:
            return (self.workdir / "ganesha.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # our child, by its PID
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> NfsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start_nfs_server(export: str | os.PathLike[str], port: int | None = None,
                     timeout: float = 60) -> NfsServer:
    """Start ganesha exporting ``export`` read-write (root not squashed) over NFSv4."""
    binary = shutil.which(GANESHA) or (f"/usr/bin/{GANESHA}" if Path(f"/usr/bin/{GANESHA}").exists()
                                       else None)
    if binary is None:
        raise PrerequisitesMissing("ganesha.nfsd is missing: install nfs-ganesha and nfs-ganesha-vfs")
    export = Path(export).resolve()
    workdir = Path(tempfile.mkdtemp(prefix="pyctr-nfs-"))
    (workdir / "state").mkdir()
    port = port or free_port()
    config = workdir / "ganesha.conf"
    config.write_text(CONFIG.format(port=port, state=workdir / "state", export=export,
                                    pseudo=PSEUDO))
    log = workdir / "ganesha.log"
    argv = [binary, "-F", "-f", str(config), "-L", str(log), "-p", str(workdir / "ganesha.pid"),
            "-N", "NIV_EVENT"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    server = NfsServer(export=export, port=port, workdir=workdir, process=proc)
    deadline = time.monotonic() + timeout
    while READY_LINE not in server.log:
        if proc.poll() is not None or time.monotonic() > deadline:
            text = server.log.strip().splitlines()
            server.stop()
            why = "exited" if proc.returncode is not None else f"not ready after {timeout:g} s"
            last = [line for line in text if "CRIT" in line or "FATAL" in line or "MAJ" in line]
            raise RuntimeFailure(f"ganesha {why}: {(last or text or ['no log'])[-1]}")
        time.sleep(0.1)
    return server


def nfs_client_available() -> bool:
    """Whether this kernel can mount NFSv4 (loading the modules if it has them)."""
    if os.geteuid() == 0 and shutil.which("modprobe"):
        subprocess.run(["modprobe", "-q", "nfsv4"], capture_output=True)
    try:
        return "\tnfs4\n" in Path("/proc/filesystems").read_text()
    except OSError:
        return False


def mount_nfs(server: NfsServer, target: str | os.PathLike[str], options: str = "") -> None:
    """Mount the server's export at ``target`` with the kernel's NFSv4 client."""
    opts = server.options + (f",{options}" if options else "")
    proc = subprocess.run(["mount", "-t", "nfs4", "-o", opts, server.source, str(target)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeFailure(f"mount {server.source} on {target}: {proc.stderr.strip()}")


def umount(target: str | os.PathLike[str]) -> None:
    subprocess.run(["umount", "-l", str(target)], capture_output=True)
