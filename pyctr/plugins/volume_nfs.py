"""The ``nfs`` volume driver: every volume is an NFS export, mounted with the kernel's client.

``pyctr volume create -d nfs -o share=HOST:/export [-o vers=4.1] [-o ro] NAME``,
or Docker's local-driver spelling ``-o addr=HOST -o device=:/export``; any
other option is an NFS mount option (``port``, ``proto``, ``timeo``,
``soft``...). Storage, reference counting and unmounting on the last release
are the ``local`` driver's: the export is mounted at
``<root>/volumes/<name>/_data`` while a container uses it.
"""

from __future__ import annotations

from pyctr.core.drivers import DriverContext
from pyctr.core.errors import UsageError
from pyctr.plugins import nfs_client
from pyctr.plugins.volume_local import LocalVolumeDriver

#: NFS mount options (nfs(5)) and the generic flags that make sense on an export
NFS_OPTIONS = frozenset("""
    vers nfsvers minorversion port proto mountport mountproto mounthost mountvers timeo retrans retry
    rsize wsize acregmin acregmax acdirmin acdirmax actimeo noac ac soft hard softerr softreval nosoftreval
    intr nointr cto nocto lookupcache sec sharecache nosharecache resvport noresvport fsc nofsc
    lock nolock local_lock acl noacl rdirplus nordirplus clientaddr namlen nconnect max_connect
    write migration nomigration fsid
    ro rw nosuid suid nodev dev noexec exec noatime atime nodiratime diratime relatime norelatime sync async
""".split())


class NfsVolumeDriver(LocalVolumeDriver):
    """An NFS export per volume (``-o share=HOST:/export``)."""

    name = "nfs"
    priority = None  # only when named
    valid_options = ("share", "addr", "device", "o")

    @classmethod
    def probe(cls, ctx: DriverContext) -> None:
        nfs_client.require()

    def validate(self, options: dict[str, str]) -> dict[str, str]:
        for key in options:
            if key not in self.valid_options and key not in NFS_OPTIONS:
                raise UsageError(f'invalid option for the nfs driver: "{key}" (see nfs(5) for mount options)')
        share, device, addr = options.get("share", ""), options.get("device", ""), options.get("addr", "")
        if share and device:
            raise UsageError("give either share=HOST:/export or addr= and device=:/export, not both")
        source = share or device
        if not source:
            raise UsageError("the nfs driver needs -o share=HOST:/export (or -o addr=HOST -o device=:/export)")
        host, sep, path = source.rpartition(":") if not source.startswith("[") else (source, ":", "/")
        if not sep or not path.startswith("/"):
            raise UsageError(f"invalid NFS share {source!r}: expected HOST:/export")
        if not host and not addr:
            raise UsageError(f"the NFS share {source!r} names no server: add -o addr=HOST")
        nfs_client.require()
        return dict(options)

    def needs_mount(self, options: dict[str, str]) -> bool:
        return True

    def mount_filesystem(self, options: dict[str, str], target) -> None:  # noqa: ANN001
        device = options.get("share") or options.get("device", "")
        parts = [options["o"]] if options.get("o") else []
        for key, value in sorted(options.items()):
            if key in ("share", "device", "o"):
                continue
            parts.append(f"{key}={value}" if value != "" else key)
        vers = options.get("vers") or options.get("nfsvers") or ""
        nfs_client.mount("nfs4" if vers.startswith("4") else "nfs", device, str(target), ",".join(parts))
