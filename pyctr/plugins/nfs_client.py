"""The kernel's NFS client, as the ``local`` (``type=nfs``) and ``nfs`` volume drivers use it.

Mounting goes straight through mount(2), as Docker's local driver does: the
kernel needs ``addr=`` (it resolves no host names), so a host name is
resolved here, and a device written ``:/path`` gets the address in front.
Without ``vers=`` the versions are tried newest first (4.2, 4.1, 4.0, then 3
for ``nfs``), which is what mount.nfs does for ``mount -t nfs``.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import platform
import shutil
import socket
import subprocess

from pyctr.core.errors import DriverError, DriverNotSupported

#: errors after which another protocol version may still work
_TRY_NEXT = (errno.EPROTONOSUPPORT, errno.EINVAL, errno.ENOENT, errno.EOPNOTSUPP)


def _kernel_filesystems() -> set[str]:
    try:
        with open("/proc/filesystems") as f:
            return {line.split()[-1] for line in f if line.strip()}
    except OSError:
        return set()


def support_problem() -> str | None:
    """None when the kernel can mount NFS, else one line saying why not and what to do."""
    if _kernel_filesystems() & {"nfs", "nfs4"}:
        return None
    modprobe = shutil.which("modprobe") or ("/sbin/modprobe" if os.path.exists("/sbin/modprobe") else None)
    if modprobe and os.geteuid() == 0:
        try:
            subprocess.run([modprobe, "-q", "-a", "nfs", "nfsv4"], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if _kernel_filesystems() & {"nfs", "nfs4"}:
            return None
    return (f"the kernel ({platform.release()}) has no NFS client: neither nfs nor nfs4 is in /proc/filesystems "
            "and 'modprobe nfs nfsv4' loaded nothing; use a kernel with CONFIG_NFS_FS or install its modules")


def require() -> None:
    problem = support_problem()
    if problem:
        raise DriverNotSupported(problem)


def resolve(host: str) -> str:
    """An IP address for ``host`` (kept as is when it already is one)."""
    host = host.strip("[]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise DriverError(f"error resolving the NFS server address {host!r}: {e.strerror}") from None
    infos.sort(key=lambda i: i[0] != socket.AF_INET)  # IPv4 first, as Docker prefers
    return infos[0][4][0]


def _bracketed(addr: str) -> str:
    return f"[{addr}]" if ":" in addr else addr


def plan(fstype: str, device: str, options: str) -> tuple[str, int, list[str]]:
    """What mount(2) gets: (source, flags, data strings to try in order); pure but for resolving names.

    ``plan("nfs", ":/opt/test", "addr=10.0.0.13")`` is ``("10.0.0.13:/opt/test", 0,
    ["addr=10.0.0.13,vers=4.2", ..., "addr=10.0.0.13,vers=3"])``.
    """
    from pyctr.kernel import mountopts

    flags, data = mountopts.parse(options)
    opts = [o for o in data.split(",") if o]
    addr = next((o.split("=", 1)[1] for o in opts if o.startswith("addr=")), "")
    if addr:
        resolved = resolve(addr)
        opts = [f"addr={resolved}" if o == f"addr={addr}" else o for o in opts]
        addr = resolved
    if device.startswith("["):  # [IPv6]:/path
        host, sep, path = device[1:].partition("]:")
    else:
        host, sep, path = device.partition(":")
    if not sep or not path.startswith("/"):
        raise DriverError(f"invalid NFS device {device!r}: expected HOST:/path, or :/path with addr= in the options")
    if not host and not addr:
        raise DriverError(f"the NFS device {device!r} names no server: add addr=SERVER to the options")
    if not addr:
        addr = resolve(host)
        opts.append(f"addr={addr}")
    source = f"{_bracketed(host or addr)}:{path}"
    if any(o.split("=", 1)[0] in ("vers", "nfsvers") for o in opts):
        return source, flags, [",".join(opts)]
    versions = ["4.2", "4.1", "4.0"] + (["3"] if fstype == "nfs" else [])
    return source, flags, [",".join(opts + [f"vers={v}"]) for v in versions]


def mount(fstype: str, device: str, target: str, options: str) -> None:
    """Mount ``device`` (``host:/path``, or ``:/path`` with ``addr=``) on ``target``."""
    from pyctr.kernel import linux

    source, flags, attempts = plan(fstype, device, options)
    first: OSError | None = None
    for data in attempts:
        try:
            linux.mount(source, target, fstype, flags, data)
            return
        except OSError as e:
            if first is None or first.errno in _TRY_NEXT:
                first = e
            if e.errno not in _TRY_NEXT:
                break
    assert first is not None
    raise DriverError(f"failed to mount NFS volume: mount {source} on {target} ({fstype}, {attempts[0]}): "
                      f"{os.strerror(first.errno or 0)}") from None
