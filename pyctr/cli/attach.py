"""``pyctr attach``: connect this terminal to a detached container's monitor.

Ctrl-P Ctrl-Q detaches and leaves the container running, as with Docker
(which then says "read escape sequence" and exits 1).
"""

from __future__ import annotations

import sys

import click

from pyctr.cli.common import engine
from pyctr.core.errors import Conflict


@click.command()
@click.option("--detach-keys", default="ctrl-p,ctrl-q", help="Key sequence for detaching.")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN.")
@click.option("--sig-proxy/--no-sig-proxy", default=True, help="Proxy received signals to the process.")
@click.argument("container")
def attach(detach_keys: str, no_stdin: bool, sig_proxy: bool, container: str) -> None:
    """Attach local standard input, output, and error streams to a running container."""
    from pyctr.core.container import lookup
    from pyctr.core.lifecycle import is_alive, wait_stopped
    from pyctr.runtime.attaching import parse_detach_keys, relay

    keys = parse_detach_keys(detach_keys)
    eng = engine()
    c = lookup(eng.db, eng.config.root, container)
    if c.status != "running" or not is_alive(c.pid, c.runtime.get("starttime")):
        raise Conflict(f"you cannot attach to a stopped container {c.name}, start it first")
    ended = relay(c, keys, use_stdin=not no_stdin and c.spec.interactive)
    if ended.detached:
        click.echo("\r\nread escape sequence", err=True)
        sys.exit(1)
    if ended.exit_code is not None:
        # as docker attach: back once the exit is recorded (its monitor's hand-over records it a moment after
        # telling us; an inspect right after would see a dead init with the record's code, 0, till then)
        wait_stopped(eng, c.id, timeout=5)
        sys.exit(ended.exit_code)
    done = wait_stopped(eng, c.id, timeout=30)
    sys.exit(done.exit_code if done is not None else 0)
