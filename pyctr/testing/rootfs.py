"""Root filesystems built from Debian packages, for tests and the README's demo.

``python -m pyctr.testing.rootfs DEST`` writes a busybox rootfs: the static
busybox from the ``busybox-static`` package, one symlink per applet, and the
files a container expects (/etc/passwd and /etc/group with Debian's
ids, plus a ``user99`` for the seed's ``--user=99:99`` demo).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

BUSYBOX = "/bin/busybox"

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
user99:x:99:99:seed demo user:/home/user99:/bin/sh
"""
GROUP = """root:x:0:
daemon:x:1:
tty:x:5:
nogroup:x:65534:
group99:x:99:
"""


def busybox_binary() -> str:
    """The static busybox; a dynamic one would need libc inside the image."""
    for candidate in (BUSYBOX, "/usr/bin/busybox"):
        if os.path.exists(candidate):
            out = subprocess.run(["file", "-L", candidate], capture_output=True, text=True).stdout \
                if shutil.which("file") else "static"
            if "dynamically" not in out:
                return candidate
    raise RuntimeError("busybox-static is not installed (apt-get install busybox-static)")


def build_busybox_rootfs(dest: str | os.PathLike[str]) -> Path:
    """Create a busybox root filesystem in ``dest`` (which must not exist or be empty)."""
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp", "var/tmp", "home/user99", "proc", "sys", "dev"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    os.chown(root / "home/user99", 99, 99)
    shutil.copy2(busybox_binary(), root / "bin/busybox")
    applets = subprocess.run([str(root / "bin/busybox"), "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        link = root / applet
        if applet == "bin/busybox" or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink("/bin/busybox", link)
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    (root / "etc/hostname").write_text("busybox\n")
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n")
    (root / "etc/resolv.conf").write_text("")
    return root


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m pyctr.testing.rootfs DEST")
    print(build_busybox_rootfs(sys.argv[1]))
