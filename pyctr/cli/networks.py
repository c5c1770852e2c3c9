"""``pyctr network ...`` and ``pyctr port``: user networks of the bridge driver."""

from __future__ import annotations

import hashlib
import json
import sys

import click

from pyctr.cli.common import each, emit, engine, render
from pyctr.core.errors import PyctrError, UsageError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


def _bridge() -> Any:
    eng = engine()
    driver = eng.driver("network", "bridge")
    return driver


@click.group(name="network")
def network_group() -> None:
    """Manage networks."""


@network_group.command(name="create")
@click.option("--driver", "-d", default="bridge", help="Driver to manage the network (bridge).")
@click.option("--subnet", default=None, help="Subnet in CIDR format.")
@click.option("--gateway", default=None, help="IPv4 gateway for the subnet.")
@click.option("--internal", is_flag=True, help="Restrict external access to the network.")
@click.argument("name")
def network_create(driver: str, subnet: str | None, gateway: str | None, internal: bool, name: str) -> None:
    """Create a network."""
    if driver != "bridge":
        raise UsageError(f"network driver {driver!r} cannot create networks; use bridge")
    info = _bridge().create_network(name, subnet=subnet, gateway=gateway, internal=internal)
    click.echo(info.get("Id", name))


def _labels(labels: object) -> str:
    """Docker's Labels column: ``k=v,k2=v2``."""
    return ",".join(f"{k}={v}" for k, v in labels.items()) if isinstance(labels, dict) else ""


def _matches(row: dict, filters: tuple[str, ...]) -> bool:
    """``name=`` (a part of the name) and ``driver=``, each given filter must hold."""
    for f in filters:
        key, _, value = f.partition("=")
        if key == "name" and value not in row["Name"] or key == "driver" and row["Driver"] != value:
            return False
    return True


@network_group.command(name="ls")
@click.option("--quiet", "-q", is_flag=True, help="Only display network IDs.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output.")
@click.option("--format", "fmt", help="Go template, or 'json'.")
@click.option("--filter", "-f", "filters", multiple=True, help="Filter (name=, driver=).")
def network_ls(quiet: bool, no_trunc: bool, fmt: str | None, filters: tuple[str, ...]) -> None:
    """List networks."""
    rows = []
    for net in _bridge().list_networks():
        rows.append({"ID": net["Id"] if no_trunc else net["Id"][:12], "Name": net["Name"],
                     "Driver": net.get("Driver", "bridge"), "Scope": net.get("Scope", "local"),
                     "Internal": net.get("Internal", False), "IPv6": net.get("EnableIPv6", False),
                     "Labels": _labels(net.get("Labels")), "CreatedAt": net.get("Created", "")})
    # the predefined networks have no record: ids of Docker's shape (64 hex digits, the same in every
    # store), and Docker's driver names (`none` is the `null` driver)
    for name, driver_name in (("host", "host"), ("none", "null")):
        ident = hashlib.sha256(f"pyctr predefined network {name}".encode()).hexdigest()
        rows.append({"ID": ident if no_trunc else ident[:12], "Name": name, "Driver": driver_name, "Scope": "local",
                     "Internal": False, "IPv6": False, "Labels": "", "CreatedAt": ""})
    rows = [row for row in rows if _matches(row, filters)]  # (host and none too, as Docker's)
    emit(rows, fmt, [("NETWORK ID", "ID"), ("NAME", "Name"), ("DRIVER", "Driver"), ("SCOPE", "Scope")], quiet=quiet,
         headers={"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
                  "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"})


@network_group.command(name="inspect")
@click.option("--format", "-f", "fmt", help="Go template.")
@click.argument("networks", nargs=-1, required=True)
def network_inspect(fmt: str | None, networks: tuple[str, ...]) -> None:
    """Display detailed information on one or more networks."""
    driver = _bridge()
    results = [driver.inspect_network(ref) for ref in networks]
    if fmt:
        for r in results:
            click.echo(render(fmt, r))
    else:
        click.echo(json.dumps(results, indent=4))


@network_group.command(name="rm")
@click.argument("networks", nargs=-1, required=True)
def network_rm(networks: tuple[str, ...]) -> None:
    """Remove one or more networks."""
    each(networks, _bridge().remove_network)


def _attached(container: str, call: Any) -> None:
    """Shared by connect/disconnect: errors as ``network rm``'s (one line, exit 1, as Docker's)."""
    from pyctr.core.container import lookup

    try:
        eng = engine()
        call(eng, lookup(eng.db, eng.config.root, container))
    except PyctrError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(1)


@network_group.command(name="connect")
@click.option("--ip", default=None, help="IPv4 address on that network.")
@click.option("--alias", multiple=True, help="Add a network-scoped alias for the container.")
@click.argument("network")
@click.argument("container")
def network_connect(ip: str | None, alias: tuple[str, ...], network: str, container: str) -> None:
    """Connect a container to a network."""
    from pyctr.core import networking

    _attached(container, lambda eng, c: networking.connect(eng, c, network, alias, ip))


@network_group.command(name="disconnect")
@click.option("--force", "-f", is_flag=True, help="Force the container to disconnect from a network.")
@click.argument("network")
@click.argument("container")
def network_disconnect(force: bool, network: str, container: str) -> None:
    """Disconnect a container from a network."""
    from pyctr.core import networking

    _attached(container, lambda eng, c: networking.disconnect(eng, c, network, force))


@network_group.command(name="prune")
@click.option("--force", "-f", is_flag=True, help="Do not prompt for confirmation.")
def network_prune(force: bool) -> None:
    """Remove all unused networks."""
    if not force and sys.stdin.isatty() and not click.confirm("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?"):
        return
    gone = _bridge().prune_networks()
    if gone:
        click.echo("Deleted Networks:\n" + "\n".join(gone))


@click.command()
@click.argument("container")
@click.argument("private_port", required=False)
def port(container: str, private_port: str | None) -> None:
    """List port mappings or a specific mapping for the container."""
    from pyctr.core.container import lookup

    eng = engine()
    c = lookup(eng.db, eng.config.root, container)
    driver = eng.network_for(c)
    mappings = driver.ports(c.id) if hasattr(driver, "ports") else []
    wanted = None
    if private_port:
        number, _, proto = private_port.partition("/")
        wanted = (int(number), proto or "tcp")
    shown = False
    for m in mappings:
        key = (int(m["container_port"]), m.get("proto", "tcp"))
        if wanted and key != wanted:
            continue
        host = f"{m.get('host_ip') or '0.0.0.0'}:{m['host_port']}"
        click.echo(host if wanted else f"{key[0]}/{key[1]} -> {host}")
        shown = True
    if wanted and not shown:
        raise UsageError(f"no public port '{private_port}' published for {c.name}")
