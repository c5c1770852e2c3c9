"""Namespace setup as hook implementations: one plugin per namespace kind.

Each plugin answers ``pyctr_namespace_flags`` with its ``CLONE_NEW*`` flag
when the container gets a namespace of that kind, and None when it shares
the host's (``spec.namespaces[kind] == "host"``) or joins another one
(``"path:/proc/<pid>/ns/<file>"``, set by ``--pid container:NAME`` or the
``container`` network driver). Kind-specific work lives here too: the user
namespace's uid/gid maps are written by the parent while the child waits.

The user namespace is opt-in (``--userns`` / ``--uidmap``), as with Docker;
the other six kinds are private by default. A plugin that wants another
default sets ``spec.namespaces[kind]`` in ``pyctr_modify_container_spec``.
"""

from __future__ import annotations

from pyctr import hookimpl
from pyctr.kernel import linux

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.core.container import Container
    from pyctr.core.spec import ContainerSpec


class Namespace:
    """A namespace kind that is private unless the spec says otherwise."""

    kind = ""
    default = "private"

    def __init__(self) -> None:
        self.plugin_name = f"namespace:{self.kind}"

    def mode(self, spec: ContainerSpec) -> str:
        return spec.namespaces.get(self.kind, self.default)

    @hookimpl
    def pyctr_namespace_flags(self, spec: ContainerSpec) -> int | None:
        return linux.NAMESPACE_FLAGS[self.kind] if self.mode(spec) == "private" else None


class MountNamespace(Namespace):
    kind = "mount"


class UtsNamespace(Namespace):
    kind = "uts"


class IpcNamespace(Namespace):
    kind = "ipc"


class PidNamespace(Namespace):
    kind = "pid"


class NetworkNamespace(Namespace):
    kind = "network"


class CgroupNamespace(Namespace):
    """Hides the host's cgroup paths from the container (``/proc/self/cgroup`` shows ``/``)."""

    kind = "cgroup"


class UserNamespace(Namespace):
    """Remaps ids when the spec carries uid/gid maps (``--userns``, ``--uidmap``)."""

    kind = "user"
    default = "host"

    def mode(self, spec: ContainerSpec) -> str:
        if spec.uid_map and "user" not in spec.namespaces:
            return "private"
        return super().mode(spec)

    @hookimpl(tryfirst=True)
    def pyctr_create_runtime(self, container: Container, pid: int) -> None:
        spec = container.spec
        if self.mode(spec) != "private":
            return
        # The kernel takes each map in a single write; setgroups must be
        # denied before an unprivileged gid_map, and is harmless for root.
        _write(f"/proc/{pid}/uid_map", _format_map(spec.uid_map))
        _write(f"/proc/{pid}/gid_map", _format_map(spec.gid_map or spec.uid_map))


def _format_map(entries: list[tuple[int, int, int]]) -> str:
    return "".join(f"{inside} {outside} {size}\n" for inside, outside, size in entries)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


#: registered in this order by the plugin manager
PLUGINS = [UserNamespace(), MountNamespace(), UtsNamespace(), IpcNamespace(),
           NetworkNamespace(), PidNamespace(), CgroupNamespace()]
