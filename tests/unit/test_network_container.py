"""--network container:NAME: the driver names the namespace to join."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from pyctr.core import state
from pyctr.core.container import Container
from pyctr.core.drivers import DriverContext
from pyctr.core.errors import NotFound, UsageError
from pyctr.core.spec import ContainerSpec
from pyctr.core.state import transaction
from pyctr.network_plugins.container import ContainerNetworkDriver, target_of


def test_target_of() -> None:
    assert target_of(ContainerSpec(network={"container": "web"})) == "web"
    assert target_of(ContainerSpec(network={"mode": "container:web"})) == "web"
    assert target_of(ContainerSpec(namespaces={"network": "container:abc"})) == "abc"
    with pytest.raises(UsageError):
        target_of(ContainerSpec(network={"mode": "container"}))


@pytest.fixture
def driver_and_target(tmp_path: Path):
    ctx = DriverContext(root=tmp_path / "root", runroot=tmp_path / "run")
    conn = state.connect(ctx.root)
    target = Container(id=secrets.token_hex(32), name="web", image_id="",
                       spec=ContainerSpec(hostname="webhost"), drivers={"network": "bridge"}, root=ctx.root)
    with transaction(conn):
        target.insert(conn)
    conn.close()
    target.dir.mkdir(parents=True)
    (target.dir / "hosts").write_text("10.1.0.2\twebhost web\n")
    (target.dir / "resolv.conf").write_text("nameserver 192.0.2.53\n")
    return ContainerNetworkDriver(ctx), target


def test_spec_joins_the_target_by_id(driver_and_target) -> None:
    driver, target = driver_and_target
    spec = ContainerSpec(network={"mode": "container:web"})
    driver.pyctr_modify_container_spec(spec)
    assert spec.namespaces["network"] == f"container:{target.id}"
    assert spec.hostname == "webhost"
    assert ContainerNetworkDriver.wants_network_namespace is False


def test_unknown_target(driver_and_target) -> None:
    driver, _ = driver_and_target
    with pytest.raises(NotFound):
        driver.pyctr_modify_container_spec(ContainerSpec(network={"container": "nope"}))


def test_connect_shares_hosts_and_resolv(driver_and_target, tmp_path: Path) -> None:
    driver, target = driver_and_target
    me = Container(id=secrets.token_hex(32), name="side", image_id="",
                   spec=ContainerSpec(network={"container": "web"}), drivers={}, root=driver.ctx.root)
    att = driver.connect(me, 1)
    assert att.network == f"container:{target.id}"
    assert (me.dir / "hosts").read_text() == "10.1.0.2\twebhost web\n"
    assert (me.dir / "resolv.conf").read_text() == "nameserver 192.0.2.53\n"
    driver.disconnect(me)
    driver.disconnect(me)
