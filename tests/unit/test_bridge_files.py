"""hosts and resolv.conf rendering, and rewriting a file that is bind-mounted."""

from __future__ import annotations

import os
from pathlib import Path

from pyctr.network_plugins.bridge import files
from pyctr.network_plugins.bridge.ipam import Endpoint


def _ep(cid: str, name: str, ip: str, **kw: object) -> Endpoint:
    return Endpoint(container_id=cid * 64, network_id="n", veth="v", address=ip, mac="m", name=name,
                    hostname=kw.pop("hostname", (cid * 64)[:12]), **kw)  # type: ignore[arg-type]


def test_hosts_has_own_line_extra_hosts_and_peers() -> None:
    me = _ep("a", "web", "10.1.0.2", extra_hosts=["db.example:192.0.2.9"])
    peer = _ep("b", "api", "10.1.0.3", aliases=["backend", "api"])
    text = files.render_hosts(me, [me, peer])
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert "10.1.0.2\taaaaaaaaaaaa web" in lines  # hostname (short id), name; duplicates dropped
    assert "192.0.2.9\tdb.example" in lines
    assert "10.1.0.3\tapi backend bbbbbbbbbbbb" in lines
    assert sum(1 for line in lines if line.startswith("10.1.0.2")) == 1  # not listed as its own peer


def test_resolv_drops_loopback_resolvers() -> None:
    host = "# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"
    assert files.render_resolv(host) == "nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"


def test_resolv_falls_back_like_docker_when_only_loopback() -> None:
    assert files.render_resolv("nameserver 127.0.0.53\nnameserver ::1\n") == \
        "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_resolv_dns_flags_win() -> None:
    out = files.render_resolv("nameserver 192.0.2.53\nsearch a.example\n", dns=["192.0.2.1"],
                              search=["b.example"], options=["ndots:2"])
    assert out == "nameserver 192.0.2.1\nsearch b.example\noptions ndots:2\n"


def test_write_in_place_keeps_the_inode(tmp_path: Path) -> None:
    p = tmp_path / "hosts"
    p.write_text("a much longer original content\n")
    ino = os.stat(p).st_ino
    assert files.write_in_place(p, "short\n")
    assert p.read_text() == "short\n"
    assert os.stat(p).st_ino == ino  # a bind mount of it sees the change


def test_write_in_place_does_not_create_when_asked(tmp_path: Path) -> None:
    assert not files.write_in_place(tmp_path / "gone", "x", create=False)
    assert not (tmp_path / "gone").exists()


def test_hosts_files_of_containers_on_several_networks() -> None:
    """web is on the default bridge (d) and on app; api on app; old only on the default bridge."""
    def ep(cid: str, name: str, net: str, ip: str, **kw: object) -> Endpoint:
        return Endpoint(container_id=cid * 64, network_id=net, veth="v", address=ip, mac="m", name=name,
                        hostname=(cid * 64)[:12], hosts_path=f"/c/{cid}/hosts", **kw)  # type: ignore[arg-type]

    eps = [ep("a", "web", "d", "172.17.0.2"), ep("b", "old", "d", "172.17.0.3"),
           ep("a", "web", "app", "10.5.0.3", ifname="eth1"), ep("c", "api", "app", "10.5.0.2", aliases=["db"])]
    out = files.hosts_files(eps, resolving={"app"}, containers={"a" * 64, "c" * 64})
    assert set(out) == {"/c/a/hosts", "/c/c/hosts"}
    web = out["/c/a/hosts"].splitlines()
    assert web[6:] == ["172.17.0.2\taaaaaaaaaaaa web", "10.5.0.3\taaaaaaaaaaaa web", "10.5.0.2\tapi db cccccccccccc"]
    api = out["/c/c/hosts"].splitlines()
    # the peer is listed with its address on the shared network only; no name resolution on the default bridge
    assert api[6:] == ["10.5.0.2\tcccccccccccc api", "10.5.0.3\tweb aaaaaaaaaaaa"]
    # a container on no network of the list (disconnected) has no file to render
    assert files.hosts_files(eps, {"app"}, {"z" * 64}) == {}
