"""``pyctr attach``: connect this terminal to a detached container's monitor.

Ctrl-P Ctrl-Q detaches and leaves the container running, as with Docker.
"""

from __future__ import annotations

import os
import select
import sys

import click

from pyctr.core.cli.common import engine
from pyctr.core.errors import Conflict, UsageError

DETACH_KEYS = b"\x10\x11"  # ctrl-p, ctrl-q


def parse_detach_keys(text: str) -> bytes:
    """Docker's --detach-keys: "ctrl-p,ctrl-q", "ctrl-a,x"."""
    out = bytearray()
    for key in text.split(","):
        key = key.strip().lower()
        if key.startswith("ctrl-") and len(key) == 6 and key[5].isalpha():
            out.append(ord(key[5]) - ord("a") + 1)
        elif len(key) == 1:
            out.append(ord(key))
        else:
            raise UsageError(f"invalid detach key {key!r}: use ctrl-<letter> or a single character")
    return bytes(out)


@click.command()
@click.option("--detach-keys", default="ctrl-p,ctrl-q", help="Key sequence for detaching.")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN.")
@click.option("--sig-proxy/--no-sig-proxy", default=True, help="Proxy received signals to the process.")
@click.argument("container")
def attach(detach_keys: str, no_stdin: bool, sig_proxy: bool, container: str) -> None:
    """Attach local standard input, output, and error streams to a running container."""
    from pyctr.core.cli.control import wait_stopped
    from pyctr.core.container import lookup
    from pyctr.core.detach import attach_socket
    from pyctr.core.lifecycle import _alive
    from pyctr.core.runtime.tty import RawMode

    keys = parse_detach_keys(detach_keys)
    eng = engine()
    c = lookup(eng.db, eng.config.root, container)
    if c.status != "running" or not _alive(c.pid, c.runtime.get("starttime")):
        raise Conflict(f"you cannot attach to a stopped container {c.name}, start it first")
    sock = attach_socket(c, connect=True)
    use_stdin = not no_stdin and c.spec.interactive
    detached = False
    with RawMode(0, enabled=use_stdin and c.spec.tty):
        seen = b""
        readers = [sock.fileno()] + ([0] if use_stdin else [])
        while True:
            ready, _, _ = select.select(readers, [], [])
            if sock.fileno() in ready:
                data = sock.recv(65536)
                if not data:
                    break
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if not data:
                    readers.remove(0)
                    continue
                seen = (seen + data)[-len(keys):]
                if seen == keys:
                    detached = True
                    break
                sock.sendall(data)
    sock.close()
    if detached:
        click.echo("\r\nread escape sequence", err=True)
        return
    done = wait_stopped(eng, c.id, timeout=30)
    sys.exit(done.exit_code if done is not None else 0)
