"""runc's command line: global flags, a subcommand, its flags, positional arguments.

The grammar is urfave/cli's (runc's parser): global flags before the
subcommand, ``--flag value`` or ``--flag=value``, long flags with one dash as
well (``-bundle``), short aliases, flags before the positional arguments
(``kill ID SIGNAL``, ``ps ID -- ps-args``). Everything heavy is imported by
the subcommand that needs it: ``state`` and ``kill`` stay cheap.

Errors are one line on stderr and exit 1; with ``--log FILE --log-format
json`` also a ``{"level":"error","msg":...}`` line in FILE, the last of which
containerd's shim reports as the reason (and podman reads as one object).
"""

from __future__ import annotations

import os
import sys

from pyctr.oci.common import VERSION_SPEC, Globals, OciError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

# flag kinds: bool, str, int, list (repeatable)
GLOBAL_FLAGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "root": ("str", ()), "log": ("str", ()), "log-format": ("str", ()), "debug": ("bool", ()),
    "systemd-cgroup": ("bool", ()), "criu": ("str", ()), "rootless": ("str", ()),
    "version": ("bool", ("v",)), "help": ("bool", ("h",)),
}
_CREATE = {"bundle": ("str", ("b",)), "console-socket": ("str", ()), "pid-file": ("str", ()),
           "no-pivot": ("bool", ()), "no-new-keyring": ("bool", ()), "preserve-fds": ("int", ()),
           "help": ("bool", ("h",))}
COMMANDS: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "create": _CREATE,
    "run": {**_CREATE, "detach": ("bool", ("d",)), "keep": ("bool", ()), "no-subreaper": ("bool", ())},
    "start": {"help": ("bool", ("h",))},
    "state": {"help": ("bool", ("h",))},
    "kill": {"all": ("bool", ("a",)), "help": ("bool", ("h",))},
    "delete": {"force": ("bool", ("f",)), "help": ("bool", ("h",))},
    "exec": {"process": ("str", ("p",)), "detach": ("bool", ("d",)), "pid-file": ("str", ()),
             "console-socket": ("str", ()), "tty": ("bool", ("t",)), "cwd": ("str", ()),
             "env": ("list", ("e",)), "user": ("str", ("u",)), "additional-gids": ("list", ("g",)),
             "cap": ("list", ("c",)), "no-new-privs": ("bool", ()), "apparmor": ("str", ()),
             "process-label": ("str", ()), "preserve-fds": ("int", ()), "cgroup": ("list", ()),
             "ignore-paused": ("bool", ()), "help": ("bool", ("h",))},
    "ps": {"format": ("str", ("f",)), "help": ("bool", ("h",))},
    "list": {"format": ("str", ("f",)), "quiet": ("bool", ("q",)), "help": ("bool", ("h",))},
    "pause": {"help": ("bool", ("h",))},
    "resume": {"help": ("bool", ("h",))},
    "update": {"resources": ("str", ("r",)), "memory": ("str", ()), "memory-swap": ("str", ()),
               "memory-reservation": ("str", ()), "cpu-shares": ("str", ()), "cpu-quota": ("str", ()),
               "cpu-period": ("str", ()), "cpuset-cpus": ("str", ()), "cpuset-mems": ("str", ()),
               "pids-limit": ("str", ()), "blkio-weight": ("str", ()), "help": ("bool", ("h",))},
    "events": {"stats": ("bool", ()), "interval": ("str", ()), "help": ("bool", ("h",))},
    "spec": {"bundle": ("str", ("b",)), "rootless": ("bool", ()), "help": ("bool", ("h",))},
    "features": {"help": ("bool", ("h",))},
    "checkpoint": {}, "restore": {},
}

USAGE = """pyctr-runtime: an OCI runtime with runc's command line (pyctr's process model)

usage: pyctr-runtime [global options] command [command options] [arguments...]

commands: create run start state kill delete exec ps list pause resume update events spec features
global options: --root DIR (default /run/pyctr-runtime) --log FILE --log-format text|json --debug
                --systemd-cgroup --version
"""


def parse(argv: list[str], flags: dict[str, tuple[str, tuple[str, ...]]],
          *, stop_at_positional: bool = True) -> tuple[dict[str, Any], list[str]]:
    """(flag values by long name, positional arguments) from ``argv``."""
    aliases = {a: name for name, (_k, al) in flags.items() for a in al}
    values: dict[str, Any] = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            rest.extend(argv[i:])
            break
        if not arg.startswith("-") or arg == "-":
            rest.append(arg)
            if stop_at_positional:
                rest.extend(argv[i:])
                break
            continue
        body = arg.lstrip("-")
        name, eq, value = body.partition("=")
        name = aliases.get(name, name)
        if name not in flags:
            raise OciError(f"flag provided but not defined: -{body.partition('=')[0]}")
        kind = flags[name][0]
        if kind == "bool":
            if eq and value.lower() not in ("true", "false", "1", "0"):
                raise OciError(f"invalid boolean value {value!r} for -{name}")
            values[name] = not eq or value.lower() in ("true", "1")
            continue
        if not eq:
            if i >= len(argv):
                raise OciError(f"flag needs an argument: -{name}")
            value = argv[i]
            i += 1
        if kind == "int":
            try:
                values[name] = int(value)
            except ValueError:
                raise OciError(f"invalid value {value!r} for flag -{name}: parse error") from None
        elif kind == "list":
            values.setdefault(name, []).append(value)
        else:
            values[name] = value
    return values, rest


def report(glob: Globals | None, message: str) -> None:
    """The error: on stderr, and as the log's last error line (JSON or runc's text)."""
    message = " ".join(message.split("\n")[0:1]) if message else "unknown error"
    if glob is not None and glob.log:
        import time

        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e9):09d}Z"
        if glob.log_format == "json":
            import json

            line = json.dumps({"level": "error", "msg": message, "time": stamp}, separators=(",", ":"))
        else:
            line = f'time="{stamp}" level=error msg="{_quote(message)}"'
        try:
            fd = os.open(glob.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, line.encode() + b"\n")
            finally:
                os.close(fd)
        except OSError:
            pass
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    glob: Globals | None = None
    try:
        values, rest = parse(argv, GLOBAL_FLAGS)
        glob = Globals(values)
        if glob.log_format not in ("text", "json"):
            raise OciError(f"invalid log-format: {glob.log_format}")
        if glob.log:
            # always made, so a caller reading it back finds a file (containerd's shim says
            # "unable to retrieve OCI runtime error" otherwise)
            os.close(os.open(glob.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644))
        if values.get("version"):
            from pyctr import __version__

            sys.stdout.write(f"pyctr-runtime version {__version__}\nspec: {VERSION_SPEC}\n")
            return 0
        if not rest or values.get("help"):
            sys.stdout.write(USAGE)
            return 0 if values.get("help") or not rest else 1
        command, args = rest[0], rest[1:]
        if command not in COMMANDS:
            raise OciError(f"No help topic for '{command}'")
        if command in ("checkpoint", "restore"):
            raise OciError(f"{command} is not supported by pyctr-runtime (no CRIU)")
        opts, positional = parse(args, COMMANDS[command])
        if opts.get("help"):
            sys.stdout.write(USAGE)
            return 0
        return _dispatch(command, glob, opts, positional)
    except OciError as e:
        report(glob, str(e))
        return e.code
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001  (one line, never a traceback)
        if glob is not None and glob.debug or os.environ.get("PYCTR_DEBUG"):
            import traceback

            traceback.print_exc()
        report(glob, _describe(e))
        return 1


def _describe(e: Exception) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}: {e.filename}" if e.filename else (str(e.args[1]) if len(e.args) > 1 else str(e))
    return str(e) or type(e).__name__


def _dispatch(command: str, glob: Globals, opts: dict[str, Any], args: list[str]) -> int:
    if command in ("create", "run"):
        from pyctr.oci import create

        return create.main(command, glob, opts, _one_id(args))
    if command == "exec":
        from pyctr.oci import execute

        if not args:
            raise OciError("exec requires at least 1 argument")
        return execute.main(glob, opts, args[0], args[1:])
    if command == "spec":
        from pyctr.oci import defaults

        return defaults.spec_command(opts)
    if command == "features":
        from pyctr.oci import defaults

        return defaults.features_command()
    from pyctr.oci import commands

    if command == "kill":
        if not args or len(args) > 2:
            raise OciError('"kill" requires a minimum of 1 and a maximum of 2 arguments')
        return commands.kill(glob, args[0], args[1] if len(args) > 1 else "SIGTERM", bool(opts.get("all")))
    if command == "ps":
        if not args:
            raise OciError('"ps" requires a minimum of 1 argument')
        return commands.ps(glob, args[0], opts.get("format") or "table", args[1:])
    if command == "list":
        return commands.list_containers(glob, opts.get("format") or "table", bool(opts.get("quiet")))
    cid = _one_id(args)
    if command == "start":
        return commands.start(glob, cid)
    if command == "state":
        return commands.state(glob, cid)
    if command == "delete":
        return commands.delete(glob, cid, bool(opts.get("force")))
    if command == "pause":
        return commands.pause(glob, cid, True)
    if command == "resume":
        return commands.pause(glob, cid, False)
    if command == "update":
        return commands.update(glob, cid, opts)
    if command == "events":
        return commands.events(glob, cid, bool(opts.get("stats")), opts.get("interval") or "5s")
    raise OciError(f"No help topic for '{command}'")


def _one_id(args: list[str]) -> str:
    if len(args) != 1:
        raise OciError(f"requires exactly 1 argument (the container id), got {len(args)}")
    return args[0]


if __name__ == "__main__":
    sys.exit(main())
