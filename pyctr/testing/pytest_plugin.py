"""pyctr's pytest plugin: driver fixtures and conformance suites.

Opt-in: active with ``-p pyctr.testing.pytest_plugin``, or when
``--pyctr-driver`` is given (the ``pytest11`` entry point,
pyctr.testing.pytest_entry, adds only that option to other sessions).
A third-party driver author runs pyctr's conformance suite for a kind against
their driver without writing a test::

    pytest --pyctr-driver=volume:mydriver --pyargs pyctr.testing.conformance.volume

Each ``--pyctr-driver`` must name a kind and an installed driver of it, and a
conformance test whose kind no ``--pyctr-driver`` names is an error, not a
skip: a kit that tests nothing must not pass.

The fixtures ``storage_driver``, ``network_driver``, ``volume_driver`` and
``cgroup_driver`` build the named driver through the same stevedore selection
pyctr uses, on a private storage root under ``tmp_path``. A test module may
override any of them to test a driver of its own choosing.

Also the fixtures of :mod:`pyctr.testing.registry` (``registry``,
``auth_registry``, ``token_registry``: real docker-registry servers on
127.0.0.1) and :mod:`pyctr.testing.images` (``registry_images``: the standard
test images pushed there with skopeo). Heavy work happens only when a fixture
runs.

``nfs_server``, ``nfs_client`` and ``nfs_mount`` give a real nfs-ganesha and
a kernel NFSv4 mount, or skip saying why. ``@pytest.mark.kernel("debian61")``
runs a test only on that kernel leg; the leg is named by ``PYCTR_KERNEL_LEG``
(tox sets it: ``host``, ``kernel-debian61``); elsewhere the test is skipped
with that reason.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import pytest

from pyctr.testing.fixtures import nfs_client, nfs_mount, nfs_server  # noqa: F401  (fixtures)
from pyctr.testing.images import registry_images  # noqa: F401  (fixture)
from pyctr.testing.registry import auth_registry, registry, token_registry  # noqa: F401  (fixtures)


KINDS = ("storage", "network", "volume", "cgroup", "runtime")


def pytest_addoption(parser: Any) -> None:
    from pyctr.testing.pytest_entry import add_driver_option

    add_driver_option(parser)


def pytest_configure(config: Any) -> None:
    _check_driver_options(config.getoption("--pyctr-driver") or [])
    config.addinivalue_line("markers", "root: needs root and a real kernel (namespaces, mounts, cgroups)")
    config.addinivalue_line("markers", "conformance(kind): a driver conformance test of that kind")
    config.addinivalue_line("markers", "kernel(name): runs only on the named kernel leg")
    config.addinivalue_line("markers", "vm: boots a qemu guest (pyctr.testing.vm)")
    config.addinivalue_line("markers", "matrix: kernel-dependent: also runs in every kernel leg's guest")


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    # A skip marker (not a skip at run time) so the report points at the test itself.
    leg = os.environ.get("PYCTR_KERNEL_LEG", "")
    for item in items:
        for marker in item.iter_markers("kernel"):
            names = set(marker.args) | {f"kernel-{n}" for n in marker.args}
            if leg not in names:
                reason = f"runs only on kernel leg {', '.join(marker.args)} (this is {leg or 'unnamed'})"
                item.add_marker(pytest.mark.skip(reason=reason))


def _check_driver_options(values: list[str]) -> None:
    """Every ``--pyctr-driver`` is KIND:NAME of an installed driver: a typo must not test nothing."""
    from pyctr.core import entrypoints

    for value in values:
        kind, sep, name = value.partition(":")
        if not sep or not name or kind not in KINDS:
            raise pytest.UsageError(f"--pyctr-driver={value}: expected KIND:NAME with KIND one of "
                                    f"{', '.join(KINDS)}")
        installed = sorted({ep.name for ep in entrypoints.group(f"pyctr.{kind}")})
        if name not in installed:
            raise pytest.UsageError(f"--pyctr-driver={value}: no {kind} driver named {name!r} is installed "
                                    f"(installed: {', '.join(installed) or 'none'})")


def chosen_driver(config: Any, kind: str) -> str | None:
    for item in config.getoption("--pyctr-driver") or []:
        k, _, name = item.partition(":")
        if k == kind and name:
            return name
    return None


def make_driver(kind: str, name: str, root: os.PathLike[str] | str,
                options: dict[str, str] | None = None) -> Any:
    """Select ``name`` of ``kind`` as pyctr would, on a private root."""
    from pathlib import Path

    from pyctr.core.drivers import DriverContext
    from pyctr.core.selection import select

    root = Path(root)
    ctx = DriverContext(root=root / "root", runroot=root / "run", options=dict(options or {}))
    ctx.root.mkdir(parents=True, exist_ok=True)
    ctx.runroot.mkdir(parents=True, exist_ok=True)
    return select(kind, name, ctx)


def _driver_fixture(kind: str):  # noqa: ANN202
    @pytest.fixture
    def fixture(request: Any, tmp_path: Any) -> Any:
        name = chosen_driver(request.config, kind)
        if name is None:
            pytest.fail(f"no {kind} driver chosen for pyctr's {kind} conformance suite: pass "
                        f"--pyctr-driver={kind}:NAME (or override the {kind}_driver fixture)", pytrace=False)
        # a cgroup driver gets a private placement (the ``parent`` option), so
        # that pruning in the suite cannot reach other containers' cgroups
        options = {"parent": "pyctr-test-" + secrets.token_hex(5)} if kind == "cgroup" else None
        driver = make_driver(kind, name, tmp_path, options)
        yield driver
        if kind == "cgroup":
            driver.cleanup_orphans(set())  # what the test left, and the private parent
        from pyctr.core.plugins import plugins

        plugins.unregister(driver)

    fixture.__name__ = f"{kind}_driver"
    return fixture


@pytest.fixture
def volume_options() -> dict[str, str]:
    """Options the volume conformance suite creates volumes with; override for a driver that needs some."""
    return {}


@pytest.fixture
def network_factory() -> Any:
    """How the network conformance suite gets a second network: None (the driver has
    no user networks: those tests are skipped), or a function ``factory(driver)``
    returning a context manager that creates a network and yields its name
    (removed on exit). Override it in the test module, e.g. with
    :func:`pyctr.testing.bridge.user_network` for the bridge driver."""
    return None


@pytest.fixture
def oci_runtime(tmp_path: Any) -> Any:
    """The OCI runtime under test (``$OCI_RUNTIME``, e.g. /usr/sbin/runc) on a private ``--root``,
    for :mod:`pyctr.testing.conformance.oci`."""
    from pyctr.testing.conformance.oci import Runtime

    path = os.environ.get("OCI_RUNTIME", "")
    if not path:
        pytest.skip("no OCI runtime chosen: set OCI_RUNTIME=/path/to/runtime")
    name = os.path.basename(path)
    return Runtime(path, tmp_path / "runtime-root", runc_words=name in ("runc", "pyctr-runtime"), name=name)


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: Any) -> Any:
    """A busybox root filesystem built from Debian's busybox-static."""
    from pyctr.testing.rootfs import build_busybox_rootfs

    return build_busybox_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")


storage_driver = _driver_fixture("storage")
network_driver = _driver_fixture("network")
volume_driver = _driver_fixture("volume")
cgroup_driver = _driver_fixture("cgroup")
