"""``/etc/hosts`` and ``/etc/resolv.conf`` of a bridged container.

Rendering is pure. Name resolution between containers on one user network
is done the simplest way that works without a daemon: every container's
hosts file lists its peers on that network (name, aliases, hostname), and
connecting or disconnecting one container rewrites its peers' files. The
runtime bind-mounts these files into the container, so they are rewritten
in place (same inode), never replaced by rename, or the container would
keep seeing the old file.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path

from pyctr.network_plugins.bridge.ipam import Endpoint

HOSTS_HEADER = """127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
"""

#: Docker's fallback when the host only has loopback resolvers
FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")


def _uniq(names: Iterable[str]) -> list[str]:
    out: list[str] = []
    for n in names:
        if n and n not in out:
            out.append(n)
    return out


def render_hosts(me: Endpoint, peers: list[Endpoint], also: list[Endpoint] | None = None) -> str:
    """The container's own line (hostname, name, short id), --add-host lines, then peers.

    ``also``: the container's endpoints on its other networks (``network
    connect``); each address gets an own line after the first.
    """
    lines = [HOSTS_HEADER.rstrip("\n")]
    own = _uniq([me.hostname, me.name, me.container_id[:12]])
    lines.append(f"{me.address}\t" + " ".join(own))
    for other in also or []:
        if other.address != me.address:
            lines.append(f"{other.address}\t" + " ".join(own))
    for item in me.extra_hosts:
        name, _, ip = item.partition(":")
        if name and ip:
            lines.append(f"{ip}\t{name}")
    seen = set()
    for p in sorted(peers, key=lambda e: (e.name, e.container_id, e.address)):
        if p.container_id == me.container_id or (p.container_id, p.address) in seen:
            continue
        seen.add((p.container_id, p.address))
        lines.append(f"{p.address}\t" + " ".join(_uniq([p.name, *p.aliases, p.hostname])))
    return "\n".join(lines) + "\n"


def hosts_files(endpoints: list[Endpoint], resolving: set[str], containers: set[str]) -> dict[str, str]:
    """hosts path -> text for each of ``containers``, from every endpoint recorded.

    A container lists its peers on each network of ``resolving`` (the user
    networks: the default bridge has no name resolution) it shares with them;
    its first endpoint (``eth0``, usually) gives its own line.
    """
    mine: dict[str, list[Endpoint]] = {}
    by_net: dict[str, list[Endpoint]] = {}
    for ep in endpoints:
        mine.setdefault(ep.container_id, []).append(ep)
        by_net.setdefault(ep.network_id, []).append(ep)
    out = {}
    for cid in sorted(containers):
        eps = mine.get(cid)
        if not eps or not eps[0].hosts_path:
            continue
        peers = [p for ep in eps if ep.network_id in resolving for p in by_net[ep.network_id]]
        out[eps[0].hosts_path] = render_hosts(eps[0], peers, eps[1:])
    return out


def _is_loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return False


def render_resolv(host_text: str, dns: list[str] | None = None, search: list[str] | None = None,
                  options: list[str] | None = None) -> str:
    """The host's resolv.conf without loopback resolvers (unreachable from a
    container's netns), or the servers given with --dns."""
    servers, out = [], []
    for line in host_text.splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            if not _is_loopback(words[1]):
                servers.append(words[1])
        elif words[0] in ("search", "domain") and search is None or words[0] == "options" and options is None:
            out.append(line.strip())
    if dns:
        servers = list(dns)
    if not servers:
        servers = list(FALLBACK_DNS)
    if search:
        out.append("search " + " ".join(search))
    if options:
        out.append("options " + " ".join(options))
    return "".join(f"nameserver {s}\n" for s in servers) + "".join(f"{line}\n" for line in out)


def write_in_place(path: str | Path, text: str, create: bool = True) -> bool:
    """Rewrite ``path`` keeping its inode (it may be bind-mounted); False if absent and not created."""
    flags = os.O_WRONLY | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        data = text.encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    finally:
        os.close(fd)
    return True
