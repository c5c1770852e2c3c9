"""The ``pyctr`` click group; its commands load lazily.

Each command lives in a module of this package and is imported only when
used, so ``pyctr ps`` pays for ``ps`` alone. Driver names shown in
``--help`` come from entry point metadata, never from importing drivers.
"""

from __future__ import annotations

import sys

import click

from pyctr import __version__
from pyctr.cli.options import GLOBAL_OPTIONS, Opt
from pyctr.cli.settings import Settings, install

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

#: command name -> "module:attribute" inside pyctr.cli
COMMANDS: dict[str, str] = {
    "version": "system:version",
    "info": "system:info",
    "plugins": "system:plugins_cmd",
    "system": "system:system_group",
    "import": "images:import_cmd",
    "images": "images:images",
    "pull": "registry:pull",
    "push": "registry:push",
    "login": "registry:login",
    "logout": "registry:logout",
    "tag": "imagecmds:tag",
    "rmi": "imagecmds:rmi",
    "history": "imagecmds:history",
    "save": "imagecmds:save",
    "load": "imagecmds:load",
    "image": "imagecmds:image_group",
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
    "volume": "volumes:volume_group",
    "events": "events:events",
    "unshare": "system:unshare",
    "healthcheck": "health:healthcheck_group",
    "internal-restart": "restarting:internal_restart",
    "build": "build:build",
    "builder": "build:builder_group",
    "commit": "containerfs:commit",
    "diff": "containerfs:diff",
    "export": "containerfs:export",
    "cp": "containerfs:cp",
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

        return getattr(importlib.import_module(f"pyctr.cli.{module}"), attr)


def _plugin_commands() -> dict[str, click.Command]:
    from pyctr.core.plugins import plugins

    found: dict[str, click.Command] = {}
    plugins.register_commands(lambda command: found.setdefault(command.name, command))
    return found


def click_option(opt: Opt):  # noqa: ANN201
    """The click option for one entry of pyctr.cli.options' tables."""
    kwargs: dict[str, Any] = {"help": opt.help}
    if opt.flag:
        kwargs["is_flag"] = True
    else:
        kwargs["default"] = opt.default
        if opt.multiple:
            kwargs["multiple"] = True
            kwargs.pop("default")
        if opt.type == "int":
            kwargs["type"] = int
        elif opt.type == "choice":
            kwargs["type"] = click.Choice(list(opt.choices))
        elif opt.type.startswith("driver:"):
            kwargs["type"] = DriverName(opt.type[7:])
    return click.option(*opt.decls, opt.dest, **kwargs)


def with_options(table: list[Opt]):  # noqa: ANN201
    """A decorator adding every option of ``table`` in order."""

    def decorate(f: Any) -> Any:
        for opt in reversed(table):
            f = click_option(opt)(f)
        return f

    return decorate


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["--help"], "max_content_width": 100})
@with_options(GLOBAL_OPTIONS)
@click.version_option(__version__, "--version", "-v", prog_name="pyctr", message="pyctr version %(version)s")
@click.pass_context
def cli(ctx: click.Context, **flags: Any) -> None:
    """A daemonless, Docker-compatible container engine built from plugins.

    Every setting can also come from a PYCTR_* environment variable
    (PYCTR_ROOT, PYCTR_STORAGE_DRIVER, ...) or /etc/pyctr/pyctr.toml.
    """
    ctx.obj = install(Settings(flags))


def run_click(argv: list[str] | None = None) -> None:
    """The click way in: every command, help and usage errors (exit 125)."""
    try:
        result = cli.main(args=argv, prog_name="pyctr", standalone_mode=False)
    except click.UsageError as e:
        click.echo(f"Error: {e.format_message()}", err=True)
        if e.ctx is not None:
            click.echo(f"See '{e.ctx.command_path} --help'.", err=True)
        sys.exit(125)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.Abort:
        sys.exit(130)
    else:
        sys.exit(result if isinstance(result, int) else 0)
