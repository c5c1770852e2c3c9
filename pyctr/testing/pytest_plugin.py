"""pyctr's pytest plugin (entry point ``pytest11``): driver fixtures and conformance suites.

A third-party driver author runs pyctr's conformance suite for a kind against
their driver without writing a test::

    pytest --pyctr-driver=volume:mydriver --pyargs pyctr.testing.conformance.volume

The fixtures ``storage_driver``, ``network_driver``, ``volume_driver`` and
``cgroup_driver`` build the named driver through the same stevedore selection
pyctr uses, on a private storage root under ``tmp_path``. A test module may
override any of them to test a driver of its own choosing.

Also the fixtures of :mod:`pyctr.testing.registry` (``registry``,
``auth_registry``, ``token_registry``: real docker-registry servers on
127.0.0.1) and :mod:`pyctr.testing.images` (``registry_images``: the standard
test images pushed there with skopeo). Heavy work happens only when a fixture
runs.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import pytest

from pyctr.testing.images import registry_images  # noqa: F401  (fixture)
from pyctr.testing.registry import auth_registry, registry, token_registry  # noqa: F401  (fixtures)


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("pyctr")
    group.addoption("--pyctr-driver", action="append", default=[], metavar="KIND:NAME",
                    help="run pyctr's conformance suite of KIND against the driver NAME")


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "root: needs root and a real kernel (namespaces, mounts, cgroups)")
    config.addinivalue_line("markers", "conformance(kind): a driver conformance test of that kind")


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
            pytest.skip(f"no {kind} driver chosen: pass --pyctr-driver={kind}:NAME")
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


storage_driver = _driver_fixture("storage")
network_driver = _driver_fixture("network")
volume_driver = _driver_fixture("volume")
cgroup_driver = _driver_fixture("cgroup")
