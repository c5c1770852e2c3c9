"""Every pyctr hook, in the order a container's life calls them.

Each spec says which process it runs in:

* **parent** – the ``pyctr`` command (or the detached monitor) on the host;
* **child, before pivot_root** – the container's init, inside its new
  namespaces, still seeing the host's filesystem under the rootfs path;
* **child, after pivot_root** – the container's init inside its root, just
  before ``execve`` of the user's command.

Hooks that run in the child must not raise for ordinary conditions: any
exception there aborts the container with exit code 125 and the message is
carried back to the parent.

A hook plugin implements these with :data:`pyctr.hookimpl`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyctr.core.standins import INSPECT, import_with

# through stand-ins for what inspect needs only to read source code
(pluggy,) = import_with(INSPECT, "pluggy")

if TYPE_CHECKING:
    from pyctr.core.container import Container
    from pyctr.core.spec import ContainerSpec

hookspec = pluggy.HookspecMarker("pyctr")
#: Marker for hook implementations (``pyctr.hookimpl``): ``@hookimpl def pyctr_...``.
hookimpl = pluggy.HookimplMarker("pyctr")

# ---------------------------------------------------------------------------
# Start-up of the pyctr command
# ---------------------------------------------------------------------------


@hookspec(historic=True)
def pyctr_configure(config: dict[str, Any]) -> None:
    """Called once the configuration (flags, ``PYCTR_*``, config file) is known.

    Historic: a plugin registered later still receives it.

    Runs in: parent.

    :param config: the effective global settings (``root``, ``runroot``,
        ``storage_driver``, ``network``, ...). Read-only by convention.
    """


@hookspec
def pyctr_register_commands(register: Callable[[Any], None]) -> None:
    """Add click commands to the ``pyctr`` command line.

    Runs in: parent, only when the command line is built for a name pyctr
    does not know itself (or for ``--help``), so ordinary commands stay fast.

    :param register: call it with a :class:`click.Command`.
    """


# ---------------------------------------------------------------------------
# Creating a container
# ---------------------------------------------------------------------------


@hookspec
def pyctr_modify_container_spec(spec: ContainerSpec) -> None:
    """Change the container's specification before anything is created.

    Plugins may add environment variables, labels, mounts, or set
    ``spec.namespaces[kind]`` to ``"host"`` to share a host namespace.

    Runs in: parent, before the container is recorded.

    :param spec: the mutable specification built from flags and the image.
    """


@hookspec
def pyctr_namespace_flags(spec: ContainerSpec) -> int | None:
    """Return the ``CLONE_NEW*`` flag for one namespace kind, or None to share the host's.

    Every namespace kind (user, mount, uts, ipc, network, pid, cgroup) is a
    hook implementation of its own; the flags are OR-ed together.

    Runs in: parent, when the container is created.

    :param spec: the container's specification.
    :returns: a single ``CLONE_NEW*`` flag or None.
    """


@hookspec
def pyctr_create_container(container: Container) -> None:
    """The container is recorded and its rootfs is ready; nothing runs yet.

    Runs in: parent.

    :param container: the new container (``id``, ``name``, ``spec``, ``rootfs``).
    """


# ---------------------------------------------------------------------------
# Starting a container
# ---------------------------------------------------------------------------


@hookspec
def pyctr_create_runtime(container: Container, pid: int) -> None:
    """The container's init exists in its new namespaces and is waiting.

    Write uid/gid maps, add what the container needs from outside. The
    cgroup driver has placed it and the network driver has wired
    ``/proc/<pid>/ns/net`` already; the user's command has not started.

    Runs in: parent, while the child waits before pivot_root.

    :param container: the container being started.
    :param pid: the host pid of the container's init.
    """


@hookspec
def pyctr_setup_child(spec: ContainerSpec, rootfs: str) -> None:
    """Prepare the container's filesystem from inside its mount namespace.

    Mount what belongs under ``rootfs`` (it is an absolute host path here).

    Runs in: child, before pivot_root.

    :param spec: the container's specification.
    :param rootfs: the absolute path of the container's root filesystem.
    """


@hookspec
def pyctr_start_container(spec: ContainerSpec) -> None:
    """Last chance to act inside the container before the user's command.

    Runs in: child, after pivot_root, before privileges are dropped and
    before ``execve``.

    :param spec: the container's specification.
    """


@hookspec
def pyctr_poststart(container: Container, pid: int) -> None:
    """The user's command has been executed successfully.

    Runs in: parent.

    :param container: the running container.
    :param pid: the host pid of the container's init.
    """


# ---------------------------------------------------------------------------
# Stopping and cleaning up
# ---------------------------------------------------------------------------


@hookspec
def pyctr_poststop(container: Container) -> None:
    """The container's init has exited (or its start failed); release its resources.

    Must be idempotent: it may run again after a crash. Every implementation
    runs even if another one raises; the errors are reported afterwards.

    Runs in: parent or the detached monitor.

    :param container: the stopped container.
    """


@hookspec
def pyctr_cleanup_orphans(live_container_ids: set[str]) -> list[str]:
    """Remove what belongs to containers that no longer exist (``system prune``).

    Runs in: parent.

    :param live_container_ids: ids of every container in the state database.
    :returns: one line per thing removed, for the report.
    """


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


@hookspec
def pyctr_report_status() -> list[tuple[str, str]] | None:
    """Contribute lines to ``pyctr info``.

    Runs in: parent.

    :returns: (label, value) pairs.
    """
