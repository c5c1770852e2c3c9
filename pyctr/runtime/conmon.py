"""The ``conmon`` runtime driver: detached containers watched by conmon, as podman's are.

The default runtime driver where Debian's ``conmon`` (2.1) is installed and
pyctr is not rootless (rootless, or without conmon, the built-in ``pyctr``
driver and its Python monitor are chosen). A detached start (``run -d``,
``start``, a restart) leaves no Python monitor beside the container: conmon
runs ``pyctr-runtime create`` on a bundle written from the container's spec
(:mod:`pyctr.runtime.bundle`), holds the container's pty or pipes,
writes its log (CRI's k8s-file format, in the container's usual log file),
its exit code and its attach socket, and when the container exits runs
``pyctr internal-finish ID``, which records the exit, releases what the
container held and applies ``--rm`` and the restart policy. pyctr reads
those files for ``logs``, ``attach`` and ``wait``; the cgroups, the network,
the mounts and the hooks are pyctr's, as with the built-in driver. The start
itself is :mod:`pyctr.runtime.conmon_start`.

Foreground starts (``run`` without ``-d``, ``start -a``) and the API
service's starts need no watcher of their own: this process (the service's
worker) waits for the init, so they go through the built-in launch, as with
the ``pyctr`` driver. A container whose log options conmon cannot keep
(Docker's rotation over several files, compression, log attributes) is
given pyctr's own monitor when no driver was named, and refused at
``create`` in one line (exit 125) when conmon was named.

Layout, in the container's directory, ``conmon/`` (conmon's "userdata"):
``config.json``, conmon's ``attach`` socket and ``ctl``/``winsz`` fifos,
``pidfile`` (the init's), ``conmon.pid``, ``exit`` and ``oom`` (conmon's
persist files) and ``oci/`` (pyctr-runtime's ``--root``).
"""

from __future__ import annotations

from pyctr.core.drivers import DriverContext, PrerequisitesMissing
from pyctr.runtime.conmon_files import conmon_binary
from pyctr.runtime.driver import PyctrRuntimeDriver

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyctr.core.drivers import Launch
    from pyctr.core.spec import ContainerSpec

#: the log options conmon keeps (one file, truncated at max-size, as Docker's max-file=1)
_LOG_OPTIONS = ("max-size", "max-file")


class ConmonRuntimeDriver(PyctrRuntimeDriver):
    #: before the built-in driver (priority 0): conmon costs 0.37 MB PSS per detached container
    #: where pyctr's Python monitor costs 3.8 MB (benchmarks/bench_detached.py)
    priority = -10

    @classmethod
    def probe(cls, ctx: DriverContext) -> None:
        from pyctr.core import rootless

        if rootless.active():
            raise PrerequisitesMissing("conmon: rootless pyctr keeps its own monitor (conmon is not wired into the "
                                       "user's namespace)")
        if conmon_binary() is None:
            raise PrerequisitesMissing("conmon is not installed (Debian package conmon)")

    def refuses(self, spec: ContainerSpec) -> str | None:
        if spec.log_driver != "json-file" or not spec.log_options:
            return None
        other = sorted(set(spec.log_options) - set(_LOG_OPTIONS))
        if other:
            return f"conmon's log has no --log-opt {other[0]}"
        from pyctr.core import logconfig

        _size, files, _compress = logconfig.rotation(spec.log_options)
        if files > 1:
            return "conmon keeps one log file (--log-opt max-file=1)"
        return None

    def spawn(self, launch: Launch, create_runtime: Callable[[int, Callable[[], None]], None],
              place_early: Callable[[int], None] | None = None) -> int:
        if launch.detach is None:  # the caller waits for the init itself
            return super().spawn(launch, create_runtime, place_early)
        from pyctr.runtime import conmon_start

        return conmon_start.spawn(self.ctx, launch, create_runtime)

    def status(self) -> list[tuple[str, str]]:
        return [("conmon", conmon_binary() or "not installed")]
