"""A parsed Dockerfile as stages: the global ARGs before the first FROM, then one
:class:`Stage` per FROM with its instructions, every flag checked.

Errors here, like the parser's, name the file and the line, and come before
anything is built.
"""

from __future__ import annotations

import re

from pyctr.build.errors import DockerfileError
from pyctr.build.parser import INSTRUCTIONS, Dockerfile, Node

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")

#: flag name -> kind ("str", "bool", "list") per instruction
FLAGS: dict[str, dict[str, str]] = {
    "from": {"platform": "str"},
    "copy": {"from": "str", "chown": "str", "chmod": "str", "link": "bool", "exclude": "list", "parents": "bool"},
    "add": {"chown": "str", "chmod": "str", "link": "bool", "keep-git-dir": "bool", "checksum": "str",
            "unpack": "bool", "exclude": "list"},
    "run": {"mount": "list", "network": "str", "security": "str", "device": "list"},
    "healthcheck": {"interval": "str", "timeout": "str", "start-period": "str", "start-interval": "str",
                    "retries": "str"},
}

#: what ONBUILD may not carry
_NOT_ON_BUILD = ("onbuild", "from", "maintainer")


class Stage:
    __slots__ = ("index", "name", "base", "platform", "node", "commands")

    def __init__(self, index: int, name: str, base: str, platform: str, node: Node) -> None:
        self.index = index
        self.name = name  # lower case, "" when unnamed
        self.base = base  # as written (may hold ${ARGS})
        self.platform = platform
        self.node = node
        self.commands: list[Node] = []

    def __repr__(self) -> str:
        return f"Stage({self.index}, {self.name!r}, FROM {self.base})"


def parse_flags(node: Node, filename: str = "Dockerfile") -> dict[str, str | bool | list[str]]:
    """The node's ``--flags`` as values (bool flags True/False/None when absent, list flags lists); unknown,
    duplicate or malformed flags are errors."""
    allowed = FLAGS.get(node.keyword, {})
    out: dict[str, str | bool | list[str]] = {}
    for raw in node.flags:
        if not raw.startswith("--"):
            raise DockerfileError(f"arg should start with -- : {raw}", node.line, filename)
        name, eq, value = raw[2:].partition("=")
        kind = allowed.get(name)
        if kind is None:
            raise DockerfileError(f"unknown flag: {name}", node.line, filename)
        if kind == "list":
            if not eq or value == "":
                raise DockerfileError(f"missing a value on flag: {name}", node.line, filename)
            out.setdefault(name, []).append(value)  # type: ignore[union-attr]
            continue
        if name in out:
            raise DockerfileError(f"duplicate flag specified: {name}", node.line, filename)
        if kind == "bool":
            if not eq:
                out[name] = True
            elif value.lower() in ("true", "false"):
                out[name] = value.lower() == "true"
            else:
                raise DockerfileError(f"expecting boolean value for flag {name}, not: {value}", node.line, filename)
        else:
            if not eq or value == "":
                raise DockerfileError(f"missing a value on flag: {name}", node.line, filename)
            out[name] = value
    for name, kind in allowed.items():
        if name not in out:
            out[name] = [] if kind == "list" else (None if kind == "bool" else "")  # a bool not given: None
    return out


def check(node: Node, filename: str) -> None:
    """Instruction-level errors BuildKit reports before building (argument counts, forms)."""
    kw, args, line = node.keyword, node.args, node.line

    def err(message: str) -> DockerfileError:
        return DockerfileError(message, line, filename)

    if kw not in INSTRUCTIONS:
        raise err(f"unknown instruction: {node.original.split()[0].upper() if node.original.strip() else ''}")
    parse_flags(node, filename)
    if kw in ("copy", "add") and len(args) < 2:
        raise err(f"{kw.upper()} requires at least two arguments, but only one was provided. "
                  "Destination could not be determined")
    if kw in ("workdir", "user", "stopsignal", "maintainer") and len(args) != 1:
        raise err(f"{kw.upper()} requires exactly one argument")
    if kw in ("expose", "volume", "arg", "onbuild", "healthcheck") and not args and node.sub is None:
        raise err(f"{kw.upper()} requires at least one argument")
    if kw == "volume" and any(not a.strip() for a in args):
        raise err("VOLUME specified can not be an empty string")
    if kw == "shell":
        if not args:
            raise err("SHELL requires at least one argument")
        if not node.json:
            raise err("SHELL requires the arguments to be in JSON form")
    if kw == "arg":
        for a in args:
            if a.startswith("="):
                raise err("ARG names can not be blank")
    if kw in ("env", "label"):
        for key, _ in node.pairs:
            if not key:
                raise err(f"{kw.upper()} names can not be blank")
    if kw == "onbuild":
        if node.sub is None:
            raise err("ONBUILD requires at least one argument")
        if node.sub.keyword == "onbuild":
            raise err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if node.sub.keyword in _NOT_ON_BUILD:
            raise err(f"{node.sub.keyword.upper()} isn't allowed as an ONBUILD trigger")
        check(node.sub, filename)
    if kw == "healthcheck":
        kind = args[0].upper()
        if kind == "NONE":
            if len(args) > 1:
                raise err("HEALTHCHECK NONE takes no arguments")
        elif kind == "CMD":
            if len(args) < 2:
                raise err("Missing command after HEALTHCHECK CMD")
        else:
            raise err(f'Unknown type "{args[0]}" in HEALTHCHECK (try CMD)')
    if kw in ("copy", "add"):
        from pyctr.build.parser import parse_heredoc

        if parse_heredoc(args[-1]) is not None:
            raise err(f"{kw.upper()} cannot accept a heredoc as a destination")


def stages(df: Dockerfile) -> tuple[list[Node], list[Stage]]:
    """(the ARG instructions before the first FROM, the stages)."""
    meta: list[Node] = []
    out: list[Stage] = []
    names: set[str] = set()
    for node in df.nodes:
        check(node, df.filename)
        if node.keyword == "from":
            args = node.args
            name = ""
            if len(args) == 3 and args[1].lower() == "as":
                name = args[2].lower()
                if not _STAGE_NAME.match(name):
                    raise DockerfileError(f'invalid name for build stage: "{args[2]}", name can\'t start with a '
                                          "number or contain symbols", node.line, df.filename)
                if name in names:
                    raise DockerfileError(f"duplicate stage name {name!r}", node.line, df.filename)
                names.add(name)
            elif len(args) != 1:
                raise DockerfileError("FROM requires either one or three arguments", node.line, df.filename)
            platform = parse_flags(node, df.filename)["platform"]
            out.append(Stage(len(out), name, args[0], str(platform), node))
        elif not out:
            if node.keyword != "arg":
                raise DockerfileError("no build stage in current context" if node.keyword else
                                      "unknown instruction", node.line, df.filename)
            meta.append(node)
        else:
            out[-1].commands.append(node)
    if not out:
        raise DockerfileError("no build stage in current context", df.nodes[-1].line, df.filename)
    return meta, out
