"""``pyctr run`` without importing click.

Starting a container is the hot path, and click's import is about 35 ms of
it here. This module parses ``[GLOBAL OPTIONS] run [OPTIONS] IMAGE [CMD...]``
with the very tables click builds its options from (pyctr.cli.options),
following click's rules: ``--opt value``, ``--opt=value``, ``-o value``,
``-ovalue``, clusters such as ``-it`` or ``-dit``, ``--`` ending the options,
no options after IMAGE (interspersed arguments are off for ``run``), last
value wins, ``multiple`` options collect a tuple.

Whatever it does not fully understand — another command, ``--help``,
``--version``, an unknown option, a missing value, a bad int or choice —
makes :func:`run` return None, and click parses the same argv and gives its
own error. So the fast path can only ever agree with click or step aside;
tests/unit/test_fastpath.py checks the agreement against click's parser.
"""

from __future__ import annotations

from typing import Any

from pyctr.cli.options import GLOBAL_OPTIONS, RUN_OPTIONS, Opt


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


def parse_options(args: list[str], options: list[Opt]) -> tuple[dict[str, Any], list[str]]:
    """Options up to the first positional argument: (values by dest, the remaining args)."""
    table = _table(options)
    values = {opt.dest: opt.initial() for opt in options}
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            return values, args[i + 1:]
        if not token.startswith("-") or token == "-":
            return values, args[i:]
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
    return values, []


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


def run(args: list[str]) -> int | None:
    """Run ``pyctr run`` if argv is one this module understands; its exit code, else None."""
    parsed = parse(args)
    if parsed is None:
        return None
    flags, options, image, command = parsed
    from pyctr.cli.runspec import run_container
    from pyctr.cli.settings import Settings, install

    install(Settings(flags))
    detach = options.pop("detach")
    return run_container(image, command, detach, options)
