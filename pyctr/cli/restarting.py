"""Restart policies' commands: the sleeper's hand-over and the boot-time pass (pyctr.runtime.restarting)."""

from __future__ import annotations

import click

from pyctr.cli.common import engine


@click.command(name="internal-restart", hidden=True)
@click.argument("container_id")
def internal_restart(container_id: str) -> None:
    """Called by a restarting container's sleeper once its back-off delay is over."""
    from pyctr.core.container import lookup
    from pyctr.core.errors import NotFound
    from pyctr.runtime.detach import start_detached
    from pyctr.runtime.restarting import restart_now

    eng = engine()
    try:
        c = lookup(eng.db, eng.config.root, container_id)
    except NotFound:
        return  # removed meanwhile (rm -f)
    restart_now(eng, c, start_detached)


@click.command(name="autostart")
def autostart() -> None:
    """Start the containers whose restart policy says so after a reboot (always, unless-stopped,
    on-failure after a failure), as dockerd does when it starts; run at boot by
    contrib/pyctr-restart.service and by `pyctr system service` when it starts."""
    from pyctr.runtime.detach import start_detached
    from pyctr.runtime.restarting import start_at_boot

    for line in start_at_boot(engine(), start_detached):
        click.echo(line)
