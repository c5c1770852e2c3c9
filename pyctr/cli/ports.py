"""``ps``'s PORTS column as the docker CLI writes it (its ``DisplayablePorts``).

Ports published on the same host address with the same number inside and
outside, and exposed ports, are grouped into ranges (``8000-8002/tcp``,
``0.0.0.0:8000-8001->8000-8001/tcp``); other mappings follow one by one
(``127.0.0.1:8080->80/tcp``), in Docker's order: by private port, then host
address, public port, protocol.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Port(NamedTuple):
    private: int
    proto: str = "tcp"
    ip: str = ""  # "" = exposed, not published
    public: int = 0


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _group(key: str, first: int, last: int) -> str:
    ip, _, proto = key.rpartition("/")
    text = str(first) if first == last else f"{first}-{last}"
    if ip:
        text = f"{ip}:{text}->{text}"
    return f"{text}/{proto}"


def displayable(ports: list[Port]) -> str:
    groups: dict[str, list[int]] = {}
    result: list[str] = []
    mappings: list[str] = []
    for p in sorted(ports, key=lambda p: (p.private, p.ip, p.public, p.proto)):
        key = p.proto
        if p.ip:
            if p.public != p.private:
                mappings.append(f"{_host_port(p.ip, p.public)}->{p.private}/{p.proto}")
                continue
            key = f"{p.ip}/{p.proto}"
        g = groups.get(key)
        if g is None:
            groups[key] = [p.private, p.private]
            continue
        if p.private == g[1] + 1:
            g[1] = p.private
            continue
        result.append(_group(key, g[0], g[1]))
        groups[key] = [p.private, p.private]
    result += [_group(k, g[0], g[1]) for k, g in groups.items()]
    return ", ".join(result + mappings)


def of_container(mappings: list[dict[str, Any]], exposed: list[str]) -> list[Port]:
    """Published mappings (the network driver's ``ports()``) plus exposed ports not published."""
    out = [Port(int(m["container_port"]), m.get("proto") or "tcp", m.get("host_ip") or "0.0.0.0",
                int(m["host_port"])) for m in mappings]
    published = {(p.private, p.proto) for p in out}
    for e in exposed:
        number, _, proto = str(e).partition("/")
        try:
            key = (int(number), proto or "tcp")
        except ValueError:
            continue
        if key not in published:
            out.append(Port(*key))
            published.add(key)
    return out
