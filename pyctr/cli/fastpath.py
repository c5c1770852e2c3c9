"""``pyctr run`` and the read commands without importing click.

Starting a container is the hot path, and click's import is about 35 ms of
it here; scripts call ``ps``, ``images``, ``inspect`` and ``version`` in
loops. This module parses ``[GLOBAL OPTIONS] run [OPTIONS] IMAGE [CMD...]``
and ``[GLOBAL OPTIONS] ps|images|inspect|version [OPTIONS] [ARGS...]``
with the very tables click builds its options from (pyctr.cli.options),
following click's rules: ``--opt value``, ``--opt=value``, ``-o value``,
``-ovalue``, clusters such as ``-it`` or ``-dit``, ``--`` ending the options,
no options after IMAGE for ``run`` (interspersed arguments are off there) but
options anywhere among the read commands' arguments (click's default), last
value wins, ``multiple`` options collect a tuple.

Whatever it does not fully understand — another command, ``--help``,
``--version``, an unknown option, a missing value, a bad int or choice —
makes :func:`run` return None, and click parses the same argv and gives its
own error. So the fast path can only ever agree with click or step aside;
tests/unit/test_fastpath.py checks the agreement against click's parser,
and tests/unit/test_read_fastpath.py the read commands' parse and output both ways.
"""

from __future__ import annotations

from pyctr.cli.options import (
    GLOBAL_OPTIONS,
    IMAGES_OPTIONS,
    INSPECT_OPTIONS,
    PS_OPTIONS,
    RUN_OPTIONS,
    VERSION_OPTIONS,
    Opt,
)

TYPE_CHECKING = False  # (typing's import is ~3 ms of every command; annotations are strings here)
if TYPE_CHECKING:
    from typing import Any

#: read command -> (its options, how many arguments: (at least, at most or None), their parameter)
READ_COMMANDS: dict[str, tuple[list[Opt], tuple[int, int | None], str | None]] = {
    "ps": (PS_OPTIONS, (0, 0), None),
    "images": (IMAGES_OPTIONS, (0, 1), "repository"),
    "inspect": (INSPECT_OPTIONS, (1, None), "names"),
    "version": (VERSION_OPTIONS, (0, 0), None),
}


class _StepAside(Exception):
    """Leave this argv to click."""


def _table(options: list[Opt]) -> dict[str, Opt]:
    return {decl: opt for opt in options for decl in opt.decls}


def _convert(opt: Opt, value: str) -> Any:
    if opt.type == "int":
        try:
            return int(value)
        except ValueError:
            raise _StepAside from None
    if opt.type == "choice" and value not in opt.choices:
        raise _StepAside
    return value


def _store(values: dict[str, Any], opt: Opt, value: Any) -> None:
    if opt.multiple:
        values[opt.dest] = values[opt.dest] + (value,)
    else:
        values[opt.dest] = value


def parse_options(args: list[str], options: list[Opt],
                  interspersed: bool = False) -> tuple[dict[str, Any], list[str]]:
    """Options up to the first positional argument (``interspersed``: among the positional
    arguments, up to ``--``): (values by dest, the positional args)."""
    table = _table(options)
    values = {opt.dest: opt.initial() for opt in options}
    positional: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            return values, positional + args[i + 1:]
        if not token.startswith("-") or token == "-":
            if not interspersed:
                return values, args[i:]
            positional.append(token)
            i += 1
            continue
        i += 1
        # (option, its attached value or None to take the next argument)
        matches: list[tuple[Opt | None, str | None]] = []
        if token.startswith("--"):
            name, eq, attached = token.partition("=")
            opt = table.get(name)
            if eq and opt is not None and opt.flag:
                raise _StepAside  # click: "Option '--rm' does not take a value"
            matches.append((opt, attached if eq else None))
        else:
            for n, char in enumerate(token[1:], start=1):  # a cluster of short options
                opt = table.get(f"-{char}")
                if opt is None or opt.flag:
                    matches.append((opt, None))
                    continue
                matches.append((opt, token[n + 1:] or None))  # -ePATH=x: the rest is the value
                break
        for opt, value in matches:
            if opt is None:
                raise _StepAside
            if opt.flag:
                _store(values, opt, True)
                continue
            if value is None:
                if i >= len(args):
                    raise _StepAside
                value = args[i]
                i += 1
            _store(values, opt, _convert(opt, value))
    return values, positional


def parse(args: list[str]) -> tuple[dict[str, Any], dict[str, Any], str, tuple[str, ...]] | None:
    """(global flags, run's options, IMAGE, CMD) for a ``run`` argv, else None."""
    try:
        flags, rest = parse_options(args, GLOBAL_OPTIONS)
        if not rest or rest[0] != "run":
            return None
        options, positional = parse_options(rest[1:], RUN_OPTIONS)
    except _StepAside:
        return None
    if not positional:
        return None  # click says IMAGE is missing
    return flags, options, positional[0], tuple(positional[1:])


def parse_read(args: list[str]) -> tuple[dict[str, Any], str, dict[str, Any]] | None:
    """(global flags, command, its parameters as click passes them) for a read command's argv, else None."""
    try:
        flags, rest = parse_options(args, GLOBAL_OPTIONS)
        if not rest or rest[0] not in READ_COMMANDS:
            return None
        table, (least, most), dest = READ_COMMANDS[rest[0]]
        options, positional = parse_options(rest[1:], table, interspersed=True)
    except _StepAside:
        return None
    if len(positional) < least or (most is not None and len(positional) > most):
        return None  # click says what is missing or extra
    if dest is not None:
        options[dest] = tuple(positional) if most is None else (positional[0] if positional else None)
    return flags, rest[0], options


def run(args: list[str]) -> int | None:
    """Run ``pyctr run`` or a read command if argv is one this module understands; its exit
    code, else None."""
    parsed = parse(args)
    if parsed is None:
        return _read(args)
    flags, options, image, command = parsed
    from pyctr.cli.runspec import run_container
    from pyctr.cli.settings import Settings, install

    install(Settings(flags))
    detach = options.pop("detach")
    return run_container(image, command, detach, options)


def _read(args: list[str]) -> int | None:
    parsed = parse_read(args)
    if parsed is None:
        return None
    flags, command, options = parsed
    from pyctr.cli import reads
    from pyctr.cli.settings import Settings, install

    install(Settings(flags))
    return getattr(reads, command)(**options)
