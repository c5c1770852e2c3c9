"""Dropping privileges in the container's init: user, groups, capabilities.

Docker's default: 14 capabilities in the bounding, permitted, effective and
inheritable sets, none ambient (a non-root user ends up with none effective,
as with Docker).
"""

from __future__ import annotations

import errno
import os

from pyctr.core import rootless
from pyctr.core.errors import UsageError
from pyctr.kernel import linux

CAPABILITIES = {
    "CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5,
    "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "LINUX_IMMUTABLE": 9, "NET_BIND_SERVICE": 10,
    "NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13, "IPC_LOCK": 14, "IPC_OWNER": 15,
    "SYS_MODULE": 16, "SYS_RAWIO": 17, "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_PACCT": 20,
    "SYS_ADMIN": 21, "SYS_BOOT": 22, "SYS_NICE": 23, "SYS_RESOURCE": 24, "SYS_TIME": 25,
    "SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28, "AUDIT_WRITE": 29, "AUDIT_CONTROL": 30,
    "SETFCAP": 31, "MAC_OVERRIDE": 32, "MAC_ADMIN": 33, "SYSLOG": 34, "WAKE_ALARM": 35,
    "BLOCK_SUSPEND": 36, "AUDIT_READ": 37, "PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40,
}

DEFAULT_CAPABILITIES = ("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
                        "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",
                        "AUDIT_WRITE")


def normalize_cap(name: str) -> str:
    name = name.upper()
    return name[4:] if name.startswith("CAP_") else name


def capability_set(cap_add: list[str], cap_drop: list[str], privileged: bool) -> list[str]:
    """The capability names a container gets, Docker's way (``ALL`` allowed in both)."""
    for name in list(cap_add) + list(cap_drop):
        n = normalize_cap(name)
        if n != "ALL" and n not in CAPABILITIES:
            raise UsageError(f"unknown capability: {name!r}")
    if privileged:
        return sorted(CAPABILITIES)
    adds = {normalize_cap(c) for c in cap_add}
    drops = {normalize_cap(c) for c in cap_drop}
    caps = set(CAPABILITIES) if "ALL" in adds else set(DEFAULT_CAPABILITIES) | (adds - {"ALL"})
    caps = set() if "ALL" in drops else caps - drops
    return sorted(caps)


def mask_of(names: list[str]) -> int:
    """The capability bits for ``names`` that this kernel has and our own bounding set holds
    (a container cannot get what pyctr itself was denied, e.g. --privileged in a restricted VM)."""
    last = linux.last_cap()
    mask = 0
    for n in names:
        cap = CAPABILITIES[n]
        if cap <= last and linux.prctl(linux.PR_CAPBSET_READ, cap) == 1:
            mask |= 1 << cap
    return mask


def drop_bounding(keep_mask: int) -> None:
    for cap in range(linux.last_cap() + 1):
        if not keep_mask & (1 << cap):
            linux.bounding_drop(cap)


def lookup_user(user: str, root: str | None = None) -> tuple[int, int, list[int], str]:
    """(uid, gid, supplementary gids, home) from the container's /etc/passwd and /etc/group.

    Runs after pivot_root, so the files read are the container's own and no
    link in them can lead out of the rootfs; or, with ``root``, from the host,
    each file opened inside ``root`` (a bundle for pyctr-runtime has numbers only).
    """
    name, _, group = (user or "0").partition(":")
    passwd = _read_db("/etc/passwd", root)
    groups = _read_db("/etc/group", root)
    uid = gid = None
    home = "/"
    username = None
    if name.isdigit():
        uid = int(name)
        for entry in passwd:
            if len(entry) > 3 and entry[2] == name:
                gid, home, username = int(entry[3]), entry[5] if len(entry) > 5 else "/", entry[0]
                break
    else:
        for entry in passwd:
            if entry[0] == name and len(entry) > 3:
                uid, gid, home, username = int(entry[2]), int(entry[3]), entry[5] if len(entry) > 5 else "/", name
                break
        if uid is None:
            raise UsageError(f"unable to find user {name}: no matching entries in passwd file")
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            for entry in groups:
                if entry[0] == group and len(entry) > 2:
                    gid = int(entry[2])
                    break
            else:
                raise UsageError(f"unable to find group {group}: no matching entries in group file")
    if gid is None:
        gid = 0 if uid == 0 else uid
    extra = []
    if username and not group:
        for entry in groups:
            if len(entry) > 3 and username in entry[3].split(",") and entry[2].isdigit():
                extra.append(int(entry[2]))
    return uid, gid, sorted(set(extra) - {gid}), home


def added_groups(groups: list[int], names: list[str], gid: int, root: str | None = None) -> list[int]:
    """``--group-add``: gids as given, names from the container's /etc/group (after pivot_root;
    or, with ``root``, from the host, opened inside ``root``)."""
    table = None
    out = list(groups)
    for name in names:
        if name.isdigit():
            number = int(name)
        else:
            table = _read_db("/etc/group", root) if table is None else table
            found = [int(e[2]) for e in table if e[0] == name and len(e) > 2 and e[2].isdigit()]
            if not found:
                raise UsageError(f"unable to find group {name}: no matching entries in group file")
            number = found[0]
        if number != gid and number not in out:
            out.append(number)
    return out


def _read_db(path: str, root: str | None = None) -> list[list[str]]:
    try:
        if root is not None:
            fd = _open_inside(root, path)
            if fd < 0:
                return []
            opened = os.fdopen(fd, encoding="utf-8", errors="replace")
        else:
            opened = open(path, encoding="utf-8", errors="replace")
        with opened as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except OSError:
        return []


def _open_inside(root: str, path: str) -> int:
    """``path`` opened for reading as if ``root`` were /: no link or ``..`` leads out (-1: none there)."""
    rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return linux.openat2(rootfd, path.lstrip("/"), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return -1
    finally:
        os.close(rootfd)


def _unmapped(uid: int, gid: int, groups: list[int]) -> str:
    ids = ", ".join(dict.fromkeys([f"uid {uid}", f"gid {gid}", *(f"group {g}" for g in groups)]))
    if rootless.single_mapping():
        return (f"{ids}: only id 0 exists in this rootless user namespace (your account has no /etc/subuid and "
                "/etc/subgid range); ask for one (usermod --add-subuids/--add-subgids), then pyctr system migrate")
    return f"{ids}: not mapped in this rootless user namespace (beyond your /etc/subuid or /etc/subgid range)"


def become(uid: int, gid: int, groups: list[int], caps_mask: int) -> None:
    """Switch user keeping exactly ``caps_mask``; root keeps them effective, others lose them."""
    drop_bounding(caps_mask)
    linux.prctl(linux.PR_SET_KEEPCAPS, 1)
    try:
        if groups or not rootless.single_mapping():
            os.setgroups(groups)  # (a single-id namespace denies setgroups; it has no other group anyway)
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as e:
        if rootless.active() and e.errno in (errno.EINVAL, errno.EPERM):
            raise UsageError(_unmapped(uid, gid, groups)) from None
        raise
    linux.prctl(linux.PR_SET_KEEPCAPS, 0)
    effective = caps_mask if uid == 0 else 0
    linux.capset(effective, caps_mask, caps_mask)
