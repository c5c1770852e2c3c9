"""The ``pyctr`` command line: a click group whose commands load lazily.

Each command lives in a module of this package and is imported only when
used, so ``pyctr ps`` pays for ``ps`` alone. Driver names shown in
``--help`` come from entry point metadata, never from importing drivers.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from pyctr import __version__

#: command name -> "module:attribute" inside pyctr.core.cli
COMMANDS: dict[str, str] = {
    "version": "system:version",
    "info": "system:info",
    "plugins": "system:plugins_cmd",
    "system": "system:system_group",
    "import": "images:import_cmd",
    "images": "images:images",
    "inspect": "inspect:inspect",
    "run": "containers:run",
    "create": "containers:create",
    "start": "control:start",
    "stop": "control:stop",
    "kill": "control:kill",
    "restart": "control:restart",
    "wait": "control:wait",
    "internal-finish": "control:internal_finish",
    "logs": "logs:logs",
    "exec": "execute:execute",
    "attach": "attach:attach",
    "stats": "resources:stats",
    "update": "resources:update",
    "pause": "resources:pause",
    "network": "networks:network_group",
    "port": "networks:port",
    "unpause": "resources:unpause",
    "rename": "control:rename",
    "top": "control:top",
    "container": "control:container_group",
    "ps": "containers:ps",
    "rm": "containers:rm",
}


class DriverName(click.ParamType):
    """A driver name; validated by selection (exit 125), listed lazily in --help."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = f"{kind} driver"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:  # type: ignore[override]
        from pyctr.core.selection import names

        return "[" + "|".join(names(self.kind)) + "]"


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        extra = sorted(_plugin_commands()) if "--help" in sys.argv or len(sys.argv) <= 1 else []
        return sorted(set(COMMANDS) | set(extra))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return _plugin_commands().get(name)
        module, attr = target.split(":")
        import importlib

        return getattr(importlib.import_module(f"pyctr.core.cli.{module}"), attr)


def _plugin_commands() -> dict[str, click.Command]:
    from pyctr.core.plugins import plugins

    found: dict[str, click.Command] = {}
    plugins.register_commands(lambda command: found.setdefault(command.name, command))
    return found


class Settings:
    """What the global options resolve to, and the Engine built from them on demand."""

    def __init__(self, flags: dict[str, Any]) -> None:
        self.flags = flags
        self._engine = None

    @property
    def engine(self):  # noqa: ANN201  (lazy import keeps --help fast)
        if self._engine is None:
            from pyctr.core import config
            from pyctr.core.engine import Engine
            from pyctr.core.plugins import plugins

            cfg = config.load(self.flags)
            self._engine = Engine(cfg)
            plugins.configure(cfg.as_dict())
        return self._engine


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["--help"], "max_content_width": 100})
@click.option("--root", help="Storage root (images, layers, state).  [default: /var/lib/pyctr]")
@click.option("--runroot", help="Volatile run state (locks, sockets).  [default: /run/pyctr]")
@click.option("--storage-driver", "-s", type=DriverName("storage"), help="Storage driver; default: overlay2 if usable, else vfs.")
@click.option("--network", type=DriverName("network"), help="Network driver for new containers.  [default: bridge]")
@click.option("--volume-driver", type=DriverName("volume"), help="Volume driver for new volumes.  [default: local]")
@click.option("--cgroup-manager", type=DriverName("cgroup"), help="cgroup driver.  [default: cgroupfs]")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error", "critical"]), help="Logging level.")
@click.version_option(__version__, "--version", "-v", prog_name="pyctr", message="pyctr version %(version)s")
@click.pass_context
def cli(ctx: click.Context, **flags: Any) -> None:
    """A daemonless, Docker-compatible container engine built from plugins.

    Every setting can also come from a PYCTR_* environment variable
    (PYCTR_ROOT, PYCTR_STORAGE_DRIVER, ...) or /etc/pyctr/pyctr.toml.
    """
    ctx.obj = Settings(flags)


def main(argv: list[str] | None = None) -> None:
    """Entry point: pyctr's own errors are one line and exit 125, never a traceback."""
    from pyctr.core.errors import PyctrError

    try:
        result = cli.main(args=argv, prog_name="pyctr", standalone_mode=False)
    except PyctrError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(e.exit_code)
    except click.UsageError as e:
        click.echo(f"Error: {e.format_message()}", err=True)
        if e.ctx is not None:
            click.echo(f"See '{e.ctx.command_path} --help'.", err=True)
        sys.exit(125)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.Abort:
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        os._exit(0)
    except SystemExit:
        raise
    except OSError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(125)
    else:
        sys.exit(result if isinstance(result, int) else 0)
