"""Conformance suite for network drivers (``pyctr.network``).

What every network driver must do, whatever it plugs in:

* ``connect`` on a waiting init returns a :class:`NetworkAttachment` (or
  None), and an address it reports is really configured in the container;
* ``disconnect`` undoes it: the container's namespace is back to ``lo``
  only, and a second ``disconnect`` (or one without ``connect``, or after the
  container died) is a no-op, not an error;
* ``cleanup_orphans`` removes what belongs to containers not in the live
  set, and nothing of those in it.

Use it by subclassing in a test module that provides ``network_driver``::

    from pyctr.testing.conformance.network import NetworkDriverConformance

    class TestMine(NetworkDriverConformance):
        pass

or without code: ``pytest --pyctr-driver=network:NAME --pyargs
pyctr.testing.conformance.network`` (needs root: it makes network namespaces).
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


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: makes network namespaces")
class NetworkDriverConformance:
    @pytest.fixture
    def netns_proc(self) -> Iterator[NetnsProcess]:
        p = NetnsProcess()
        yield p
        p.kill()

    @pytest.fixture
    def container(self, network_driver: Any) -> Any:
        return fake_container(network_driver.ctx.root, driver=network_driver.name or "network")

    def _connect(self, driver: Any, container: Any, proc: NetnsProcess) -> Any:
        if driver.wants_network_namespace:
            return driver.connect(container, proc.pid)
        return driver.connect(container, os.getpid())

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
    ``network_driver`` fixture (skipped unless ``--pyctr-driver=network:NAME``)."""
