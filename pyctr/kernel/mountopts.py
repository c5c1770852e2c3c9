"""mount(8)-style option strings: flags for mount(2) and the filesystem's data.

``"ro,nosuid,size=64m"`` becomes ``(MS_RDONLY | MS_NOSUID, "size=64m")``, the
way moby/sys/mount's parseOptions splits them, so a filesystem never sees a
generic flag it would reject ("tmpfs: Unknown parameter 'noexec'").
"""

from __future__ import annotations

import re

from pyctr.kernel import linux

MS_SYNCHRONOUS = 16
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NODIRATIME = 2048

#: option -> (clear instead of set, flag)
FLAGS: dict[str, tuple[bool, int]] = {
    "defaults": (False, 0),
    "ro": (False, linux.MS_RDONLY),
    "rw": (True, linux.MS_RDONLY),
    "suid": (True, linux.MS_NOSUID),
    "nosuid": (False, linux.MS_NOSUID),
    "dev": (True, linux.MS_NODEV),
    "nodev": (False, linux.MS_NODEV),
    "exec": (True, linux.MS_NOEXEC),
    "noexec": (False, linux.MS_NOEXEC),
    "sync": (False, MS_SYNCHRONOUS),
    "async": (True, MS_SYNCHRONOUS),
    "dirsync": (False, MS_DIRSYNC),
    "mand": (False, MS_MANDLOCK),
    "nomand": (True, MS_MANDLOCK),
    "atime": (True, linux.MS_NOATIME),
    "noatime": (False, linux.MS_NOATIME),
    "diratime": (True, MS_NODIRATIME),
    "nodiratime": (False, MS_NODIRATIME),
    "bind": (False, linux.MS_BIND),
    "rbind": (False, linux.MS_BIND | linux.MS_REC),
    "relatime": (False, linux.MS_RELATIME),
    "norelatime": (True, linux.MS_RELATIME),
    "strictatime": (False, linux.MS_STRICTATIME),
    "nostrictatime": (True, linux.MS_STRICTATIME),
}

#: flag options that cancel each other; the later one wins when merging
_OPPOSITES = {"ro": "rw", "suid": "nosuid", "dev": "nodev", "exec": "noexec", "sync": "async",
              "mand": "nomand", "atime": "noatime", "diratime": "nodiratime", "relatime": "norelatime",
              "strictatime": "nostrictatime"}
_OPPOSITES.update({v: k for k, v in list(_OPPOSITES.items())})


def split(options: str | list[str]) -> list[str]:
    items = options.split(",") if isinstance(options, str) else options
    return [o for o in (i.strip() for i in items) if o]


def parse(options: str | list[str]) -> tuple[int, str]:
    """(mount flags, data string) from mount(8)-style options."""
    flags = 0
    data = []
    for opt in split(options):
        known = FLAGS.get(opt)
        if known is None:
            data.append(opt)
        elif known[0]:
            flags &= ~known[1]
        else:
            flags |= known[1]
    return flags, ",".join(data)


def merge(options: list[str]) -> list[str]:
    """Later options override earlier ones: ``noexec`` then ``exec`` keeps ``exec``;
    ``size=1m`` then ``size=2m`` keeps ``size=2m`` (Docker's MergeTmpfsOptions)."""
    out: list[str] = []
    for opt in split(options):
        key = opt.split("=", 1)[0]
        if "=" in opt:
            out = [o for o in out if o.split("=", 1)[0] != key]
        else:
            out = [o for o in out if o not in (opt, _OPPOSITES.get(opt))]
        out.append(opt)
    return out


_RAM = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")


def ram_in_bytes(value: str) -> int:
    """Docker's units.RAMInBytes: ``64m`` -> 67108864 (binary multipliers)."""
    m = _RAM.match(value.strip())
    if not m:
        raise ValueError(f"invalid size: '{value}'")
    unit = (m.group(2) or "").lower()
    return int(float(m.group(1)) * (1024 ** " kmgtp".index(unit) if unit else 1))


def tmpfs_size(size: int) -> str:
    """The kernel's spelling of a byte count, in the largest unit that divides it."""
    for suffix, divisor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if size % divisor == 0:
            return f"{size // divisor}{suffix}"
    return str(size)
