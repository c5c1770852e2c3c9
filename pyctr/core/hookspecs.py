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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pyctr.core.container import Container
    from pyctr.core.spec import ContainerSpec

#: the project name: pluggy finds the markers' options in ``pyctr_spec`` and ``pyctr_impl``
PROJECT = "pyctr"


class HookspecMarker:
    """Marks a hook specification, as ``pluggy.HookspecMarker("pyctr")`` does, without importing pluggy.

    The options go where pluggy's marker puts them (the ``pyctr_spec``
    attribute, a dict of pluggy's HookspecOpts keys), and pyctr's plugin
    manager reads them back through pluggy's documented override
    (``parse_hookspec_opts``), so the two cannot disagree. The facade
    (pyctr.core.plugins) imports pluggy only when a hook wrapper
    or tracing needs it.
    """

    def __call__(self, function=None, *, firstresult: bool = False, historic: bool = False,  # noqa: ANN001, ANN204
                 warn_on_impl: Warning | None = None, warn_on_impl_args: dict[str, Warning] | None = None):
        def mark(func):  # noqa: ANN001, ANN202
            if historic and firstresult:
                raise ValueError("cannot have a historic firstresult hook")
            setattr(func, PROJECT + "_spec", {"firstresult": firstresult, "historic": historic,
                                               "warn_on_impl": warn_on_impl, "warn_on_impl_args": warn_on_impl_args})
            return func

        return mark if function is None else mark(function)


class HookimplMarker:
    """Marks a hook implementation (``pyctr.hookimpl``), as ``pluggy.HookimplMarker("pyctr")`` does.

    ``@hookimpl``, or ``@hookimpl(tryfirst=True)``, ``trylast``, ``wrapper``,
    ``hookwrapper``, ``optionalhook``, ``specname``: pluggy's options and
    meanings (https://pluggy.readthedocs.io). Implementations marked with
    ``pluggy.HookimplMarker("pyctr")`` itself work as well.
    """

    def __call__(self, function=None, *, hookwrapper: bool = False, optionalhook: bool = False,  # noqa: ANN001, ANN204
                 tryfirst: bool = False, trylast: bool = False, specname: str | None = None, wrapper: bool = False):
        def mark(func):  # noqa: ANN001, ANN202
            setattr(func, PROJECT + "_impl", {"wrapper": wrapper, "hookwrapper": hookwrapper,
                                               "optionalhook": optionalhook, "tryfirst": tryfirst,
                                               "trylast": trylast, "specname": specname})
            return func

        return mark if function is None else mark(function)


hookspec = HookspecMarker()
#: Marker for hook implementations (``pyctr.hookimpl``): ``@hookimpl def pyctr_...``.
hookimpl = HookimplMarker()

# ---------------------------------------------------------------------------
# Start-up of the pyctr command
# ---------------------------------------------------------------------------


@hookspec
def pyctr_configure(config: dict[str, Any]) -> None:
    """Called once the configuration (flags, ``PYCTR_*``, config file) is known.

    Once per plugin: a plugin registered later (a selected driver) receives it
    when it is registered (the facade delivers it, as pluggy's historic calls do).

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

    Runs in: parent, at every start of the container (``run``, ``start``,
    ``restart``), before its init is made.

    :param spec: the container's specification.
    :returns: a single ``CLONE_NEW*`` flag or None.
    """


@hookspec
def pyctr_create_container(container: Container) -> None:
    """The container is recorded and its rootfs is ready; nothing runs yet.

    Runs in: parent.

    :param container: the new container (:class:`pyctr.core.container.Container`: ``id``,
        ``name``, ``image_id``, ``spec``, ``drivers``, ``status``; its writable layer is the
        storage driver's ``container_view`` of ``id``, not an attribute).
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

    ``container.status`` is "exited" ("created" when the start failed),
    ``container.exit_code`` the exit code pyctr reports (128+N for signal N)
    and ``container.finished`` the time. Runs once per stop; it may run again
    only after pyctr was killed during the stop (so it must be idempotent).
    Every implementation runs even if another one raises, each through
    pluggy on its own; the errors are reported afterwards.

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
