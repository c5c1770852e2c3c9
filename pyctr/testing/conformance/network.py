"""Conformance suite for network drivers (``pyctr.network``).

What every network driver must do, whatever it plugs in:

* ``connect`` on a waiting init returns a :class:`NetworkAttachment` (or
  None), and an address it reports is really configured in the container;
* ``disconnect`` undoes it: the container's namespace is back to ``lo``
  only, and a second ``disconnect`` (or one without ``connect``, or after the
  container died) is a no-op, not an error;
* ``cleanup_orphans`` removes what belongs to containers not in the live
  set, and nothing of those in it;
* ``connect_network``/``disconnect_network`` (``pyctr network connect``):
  a driver without multiple networks keeps the defaults of
  :class:`~pyctr.core.drivers.NetworkDriver`, which raise
  ``DriverNotSupported`` (the rest of those tests is then skipped, saying
  so); a driver with them adds and removes one interface per network in a
  running container, refuses a second connect with ``Conflict``, only
  records a connect to a stopped one (``pid=0``) and wires it at the next
  ``connect``, and its ``disconnect`` leaves nothing of either network.

The multiple-network tests need a network besides the one ``connect`` uses.
How to make one is the driver's business, so the test module provides the
fixture ``network_factory``: a function ``factory(driver)`` returning a
context manager that creates a network, yields its name, and removes it on
exit. The default (pyctr's pytest plugin) is None: those tests are skipped
with that reason. For the bridge driver see
:func:`pyctr.testing.bridge.user_network`.

Use it by subclassing in a test module that provides ``network_driver``::

    from pyctr.testing.conformance.network import NetworkDriverConformance

    class TestMine(NetworkDriverConformance):
        pass

or without code: ``pytest --pyctr-driver=network:NAME --pyargs
pyctr.testing.conformance.network`` (needs root: it makes network namespaces).
:class:`MultiNetworkConformance` alone runs only the ``network connect``
tests (for a driver whose ``connect`` needs more than a bare container).
A test module for one known driver drops the tests that cannot apply to it
(``test_network_connect_to_a_running_container = None`` in its subclass)
rather than have them skip on every kernel leg, which
:mod:`pyctr.testing.skipcheck` refuses.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from pyctr.testing.netns import NetnsProcess, fake_container

pytestmark = pytest.mark.root


def _other_links(proc: NetnsProcess) -> list[str]:
    return [name for name in proc.links() if name != "lo"]


def _overrides(driver: Any) -> tuple[bool, bool]:
    """Whether the driver has its own ``connect_network`` / ``disconnect_network``."""
    from pyctr.core.drivers import NetworkDriver

    cls = type(driver)
    return (getattr(cls, "connect_network", None) is not NetworkDriver.connect_network,
            getattr(cls, "disconnect_network", None) is not NetworkDriver.disconnect_network)


def _networks(att: Any) -> set[str]:
    from pyctr.core.drivers import NetworkAttachment

    assert isinstance(att, NetworkAttachment), f"expected a NetworkAttachment, got {att!r}"
    nets = att.extra.get("networks")
    assert isinstance(nets, dict), f"extra['networks'] must map network names to settings: {att.extra!r}"
    return set(nets)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: makes network namespaces")
class MultiNetworkConformance:
    """``connect_network`` / ``disconnect_network``; the base of the whole suite."""

    @pytest.fixture
    def netns_proc(self) -> Iterator[NetnsProcess]:
        p = NetnsProcess()
        yield p
        p.kill()

    @pytest.fixture
    def container(self, network_driver: Any) -> Any:
        return fake_container(network_driver.ctx.root, driver=network_driver.name or "network")

    @pytest.fixture
    def second_network(self, network_driver: Any, network_factory: Any) -> Iterator[str]:
        """A network besides the default one, made by the test module's ``network_factory``."""
        if not all(_overrides(network_driver)):
            pytest.skip(f"the {network_driver.name or type(network_driver).__name__} network driver "
                        f"does not support multiple networks (NetworkDriver's connect_network default)")
        if not network_driver.wants_network_namespace:
            pytest.skip("the driver supports multiple networks without a namespace of its own: "
                        "the suite can only check interfaces in a namespace")
        if network_factory is None:
            pytest.skip("no second network to connect to: the test module provides no network_factory "
                        "fixture (see pyctr.testing.conformance.network)")
        with network_factory(network_driver) as name:
            yield name

    def _connect(self, driver: Any, container: Any, proc: NetnsProcess) -> Any:
        if driver.wants_network_namespace:
            return driver.connect(container, proc.pid)
        return driver.connect(container, os.getpid())

    def _connect_network(self, driver: Any, *args: Any, **kw: Any) -> Any:
        from pyctr.core.errors import DriverNotSupported

        try:
            return driver.connect_network(*args, **kw)
        except DriverNotSupported as e:  # overridden, but not here (a kernel feature, an option)
            pytest.skip(f"driver cannot connect a second network here: {e}")

    def _leaves_nothing(self, driver: Any, container: Any, proc: NetnsProcess) -> None:
        """After ``disconnect`` and ``forget`` (what ``rm`` does) nothing of the container is left."""
        assert _other_links(proc) == []
        driver.forget(container)
        report = driver.cleanup_orphans(set())
        assert not any(container.id[:12] in line for line in report), report

    def test_network_connect_unsupported_says_so(self, network_driver: Any, container: Any) -> None:
        from pyctr.core.errors import DriverNotSupported

        connect, disconnect = _overrides(network_driver)
        if connect != disconnect:
            pytest.fail("a driver overrides both connect_network and disconnect_network, or neither "
                        f"(connect_network: {connect}, disconnect_network: {disconnect})")
        if connect:
            pytest.skip("the driver supports multiple networks: the other network connect tests apply")
        # the defaults: refused before anything is looked up, for a created (0) or running pid
        for pid in (0, os.getpid()):
            with pytest.raises(DriverNotSupported) as e:
                network_driver.connect_network(container, "conformance-net", pid)
            assert "\n" not in str(e.value) and str(e.value)
            with pytest.raises(DriverNotSupported) as e:
                network_driver.disconnect_network(container, "conformance-net", pid)
            assert "\n" not in str(e.value) and str(e.value)

    def test_network_connect_to_a_running_container(self, network_driver: Any, container: Any,
                                                    netns_proc: NetnsProcess, second_network: str) -> None:
        from pyctr.core.errors import Conflict

        d = network_driver
        try:
            first = self._connect(d, container, netns_proc)
            before = set(_other_links(netns_proc))
            att = self._connect_network(d, container, second_network, netns_proc.pid)
            added = set(_other_links(netns_proc)) - before
            assert len(added) == 1, f"one new interface for the second network, got {sorted(added)}"
            expected = {second_network} | ({first.network} if first is not None else set())
            assert _networks(att) == expected
            assert set(_other_links(netns_proc)) - before == added

            with pytest.raises(Conflict):
                d.connect_network(container, second_network, netns_proc.pid)
            assert set(_other_links(netns_proc)) == before | added  # the refused connect made nothing

            after = d.disconnect_network(container, second_network, netns_proc.pid)
            assert set(_other_links(netns_proc)) == before
            assert _networks(after) == expected - {second_network}
        finally:
            d.disconnect(container)
        self._leaves_nothing(d, container, netns_proc)

    def test_network_connect_while_stopped_is_wired_at_the_next_start(
            self, network_driver: Any, container: Any, netns_proc: NetnsProcess, second_network: str) -> None:
        d = network_driver
        try:
            att = self._connect_network(d, container, second_network, 0)  # created, not running
            if att is not None:
                assert second_network in _networks(att)
            assert _other_links(netns_proc) == []  # recorded only
            start = d.connect(container, netns_proc.pid)
            links = _other_links(netns_proc)
            assert len(links) == 2, f"the next connect wires both networks, got {links}"
            nets = _networks(start)
            assert second_network in nets and len(nets) == 2, nets
            d.disconnect(container)  # the container stops: both interfaces go
            assert _other_links(netns_proc) == []
        finally:
            d.disconnect(container)
        self._leaves_nothing(d, container, netns_proc)


class NetworkDriverConformance(MultiNetworkConformance):
    def test_connect_reports_what_it_made(self, network_driver: Any, container: Any,
                                          netns_proc: NetnsProcess) -> None:
        from pyctr.core.drivers import NetworkAttachment

        att = self._connect(network_driver, container, netns_proc)
        try:
            assert att is None or isinstance(att, NetworkAttachment)
            if att is not None and att.ip_address and network_driver.wants_network_namespace:
                out = netns_proc.run(["ip", "-o", "-4", "addr", "show"], check=True).stdout
                assert f"{att.ip_address}/{att.prefix_len}" in out
        finally:
            network_driver.disconnect(container)

    def test_disconnect_restores_the_namespace(self, network_driver: Any, container: Any,
                                               netns_proc: NetnsProcess) -> None:
        if not network_driver.wants_network_namespace:
            # no namespace of its own: connect and disconnect must leave the host's links as they were
            before = sorted(os.listdir("/sys/class/net"))
            self._connect(network_driver, container, netns_proc)
            network_driver.disconnect(container)
            assert sorted(os.listdir("/sys/class/net")) == before
            return
        self._connect(network_driver, container, netns_proc)
        network_driver.disconnect(container)
        assert _other_links(netns_proc) == []

    def test_disconnect_is_idempotent(self, network_driver: Any, container: Any,
                                      netns_proc: NetnsProcess) -> None:
        network_driver.disconnect(container)  # never connected
        self._connect(network_driver, container, netns_proc)
        network_driver.disconnect(container)
        network_driver.disconnect(container)

    def test_disconnect_after_the_container_died(self, network_driver: Any, container: Any,
                                                 netns_proc: NetnsProcess) -> None:
        self._connect(network_driver, container, netns_proc)
        netns_proc.kill()
        network_driver.disconnect(container)
        network_driver.disconnect(container)
        report = network_driver.cleanup_orphans(set())
        assert not any(container.id[:12] in line for line in report), report

    def test_connect_twice_is_harmless(self, network_driver: Any, container: Any,
                                       netns_proc: NetnsProcess) -> None:
        a = self._connect(network_driver, container, netns_proc)
        try:
            b = self._connect(network_driver, container, netns_proc)
            if a is not None and b is not None:
                assert (a.ip_address, a.mac_address) == (b.ip_address, b.mac_address)
        finally:
            network_driver.disconnect(container)
        if network_driver.wants_network_namespace:
            assert _other_links(netns_proc) == []

    def test_cleanup_orphans_spares_live_containers(self, network_driver: Any, container: Any,
                                                    netns_proc: NetnsProcess) -> None:
        self._connect(network_driver, container, netns_proc)
        try:
            before = _other_links(netns_proc) if network_driver.wants_network_namespace else []
            report = network_driver.cleanup_orphans({container.id})
            assert isinstance(report, list)
            if network_driver.wants_network_namespace:
                assert _other_links(netns_proc) == before
        finally:
            network_driver.disconnect(container)

    def test_cleanup_orphans_removes_the_dead(self, network_driver: Any, container: Any,
                                              netns_proc: NetnsProcess) -> None:
        self._connect(network_driver, container, netns_proc)
        # the record is gone (crash, rm of the database row): only the live set says so
        report = network_driver.cleanup_orphans(set())
        assert all(isinstance(line, str) for line in report)
        if network_driver.wants_network_namespace:
            assert _other_links(netns_proc) == []
        # and afterwards a disconnect has nothing left to do, without error
        network_driver.disconnect(container)


class TestNetworkDriverConformance(NetworkDriverConformance):
    """Collected by ``--pyargs pyctr.testing.conformance.network`` with the plugin's
    ``network_driver`` fixture (an error without ``--pyctr-driver=network:NAME``)."""
