"""What the Dockerfile's metadata instructions do to an image config.

One handler for ``pyctr build``, ``import --change`` and ``commit --change``:
:func:`apply` takes a parsed instruction and changes the ``config`` part of
an OCI image config (Env, Cmd, Entrypoint, WorkingDir, User, Labels,
ExposedPorts, Volumes, StopSignal, Healthcheck, Shell, OnBuild) as BuildKit
does. Variables are expanded (with the values set *before* the instruction)
where BuildKit expands them: ENV, LABEL, WORKDIR, USER, EXPOSE, VOLUME,
STOPSIGNAL; never in CMD, ENTRYPOINT, SHELL or HEALTHCHECK.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping

from pyctr.build.errors import BuildError
from pyctr.build.parser import Node
from pyctr.build.shell import Lexer

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: what ``import --change`` / ``commit --change`` accept (moby's validCommitCommands)
CHANGE_INSTRUCTIONS = ("cmd", "entrypoint", "env", "expose", "healthcheck", "label", "onbuild", "stopsignal",
                       "user", "volume", "workdir")
METADATA = ("env", "label", "workdir", "user", "expose", "volume", "stopsignal", "cmd", "entrypoint",
            "healthcheck", "shell", "maintainer", "onbuild")

_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
                   "m": 60_000_000_000, "h": 3_600_000_000_000}
_DURATION_RE = re.compile(r"([0-9]*\.?[0-9]*)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` in nanoseconds (``1m30s``, ``1.5h``, ``300ms``)."""
    s = text
    sign = 1
    if s[:1] in "+-" and s:
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise BuildError(f'time: invalid duration "{text}"')
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _DURATION_RE.match(s, pos)
        if not m or m.group(1) in ("", "."):
            raise BuildError(f'time: invalid duration "{text}"')
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return sign * int(round(total))


def env_get(env: list[str], key: str) -> str | None:
    for item in env:
        k, _, v = item.partition("=")
        if k == key:
            return v
    return None


def env_set(env: list[str], key: str, value: str) -> list[str]:
    """``env`` with ``key`` set: replaced in place when present (as Docker's), else appended."""
    out = list(env)
    for i, item in enumerate(out):
        if item.partition("=")[0] == key:
            out[i] = f"{key}={value}"
            return out
    out.append(f"{key}={value}")
    return out


def _expose_ports(words: list[str]) -> list[str]:
    """EXPOSE's words as ``N/proto`` keys, ranges expanded (Docker's nat.ParsePortSpecs)."""
    out = []
    for word in words:
        port, _, proto = word.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise BuildError(f"invalid proto: {proto}")
        if ":" in port:
            raise BuildError(f"invalid port format for EXPOSE: {word} (no host part allowed)")
        lo, dash, hi = port.partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise BuildError(f"invalid containerPort: {port}")
        start, end = int(lo), int(hi) if dash else int(lo)
        if end < start or end > 65535:
            raise BuildError(f"invalid range specified for the Port: {port}")
        out += [f"{n}/{proto}" for n in range(start, end + 1)]
    return out


def shell_form(config: Mapping[str, Any], node: Node) -> list[str]:
    """The command of a CMD/ENTRYPOINT/RUN: exec form as written, shell form through SHELL."""
    if node.json:
        return list(node.args)
    shell = list(config.get("Shell") or DEFAULT_SHELL)
    return shell + [node.args[0]] if node.args else shell


def healthcheck(node: Node) -> dict[str, Any]:
    from pyctr.build.dockerfile import parse_flags

    kind = node.args[0].upper()
    if kind == "NONE":
        return {"Test": ["NONE"]}
    flags = parse_flags(node)
    test = ["CMD"] + node.args[1:] if node.json else ["CMD-SHELL", node.args[1]]
    out: dict[str, Any] = {"Test": test}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                      ("start-interval", "StartInterval")):
        value = flags[flag]
        if value:
            ns = parse_duration(str(value))
            if 0 < ns < 1_000_000:
                raise BuildError(f'Interval "{flag}" cannot be less than 1ms')
            if ns < 0:
                raise BuildError(f'Interval "{flag}" cannot be negative')
            if ns:
                out[key] = ns
    retries = flags["retries"]
    if retries:
        try:
            n = int(str(retries))
        except ValueError:
            raise BuildError(f'strconv.ParseInt: parsing "{retries}": invalid syntax') from None
        if n < 0:
            raise BuildError(f"--retries cannot be negative ({n})")
        if n:
            out["Retries"] = n
    return out


def apply(node: Node, config: dict[str, Any], vars_: Mapping[str, str], escape: str = "\\",
          image: dict[str, Any] | None = None, cmd_set: bool = True) -> None:
    """Apply one metadata instruction to ``config`` (an image config's ``config`` part).

    ``vars_`` are the variables expansion sees (the stage's ARGs under its
    ENV); ``image`` the whole image config, for MAINTAINER's ``author``;
    ``cmd_set``: whether CMD was set in this stage (else ENTRYPOINT clears
    the inherited one).
    """
    kw = node.keyword
    lx = Lexer(escape)

    def word(text: str) -> str:
        return lx.word(text, vars_)

    if kw == "env":
        env = list(config.get("Env") or [])
        for key, value in node.pairs:
            env = env_set(env, word(key), word(value))
        config["Env"] = env
    elif kw == "label":
        labels = dict(config.get("Labels") or {})
        for key, value in node.pairs:
            labels[word(key)] = word(value)
        config["Labels"] = labels
    elif kw == "workdir":
        path = word(node.args[0])
        if not path.startswith("/"):
            path = posixpath.join(config.get("WorkingDir") or "/", path)
        config["WorkingDir"] = posixpath.normpath(path).replace("//", "/")
    elif kw == "user":
        config["User"] = word(node.args[0])
    elif kw == "expose":
        ports = dict(config.get("ExposedPorts") or {})
        words = []
        for arg in node.args:
            words += lx.words(arg, vars_)
        for port in _expose_ports(words):
            ports[port] = {}
        config["ExposedPorts"] = ports
    elif kw == "volume":
        volumes = dict(config.get("Volumes") or {})
        for arg in node.args:
            path = word(arg).strip()
            if not path:
                raise BuildError("VOLUME specified can not be an empty string")
            volumes[path] = {}
        config["Volumes"] = volumes
    elif kw == "stopsignal":
        config["StopSignal"] = word(node.args[0])
    elif kw == "cmd":
        config["Cmd"] = shell_form(config, node)
    elif kw == "entrypoint":
        entry = shell_form(config, node) if node.args or not node.json else []
        config["Entrypoint"] = entry or None
        if not cmd_set:
            config["Cmd"] = None
    elif kw == "healthcheck":
        config["Healthcheck"] = healthcheck(node)
    elif kw == "shell":
        config["Shell"] = list(node.args)
    elif kw == "maintainer":
        if image is not None:
            image["author"] = node.args[0]
    elif kw == "onbuild":
        expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.original)
        for doc in (node.sub.heredocs if node.sub else []):
            expression += "\n" + doc.content + doc.name
        config["OnBuild"] = list(config.get("OnBuild") or []) + [expression]
    else:
        raise BuildError(f"{kw.upper()} is not a metadata instruction")


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """``import --change`` / ``commit --change``: each change a Dockerfile line; ``config``
    (the ``config`` part) is changed and returned. Bad lines: one-line errors."""
    from pyctr.build.dockerfile import check
    from pyctr.build.parser import parse
    from pyctr.build.shell import env_map
    from pyctr.core.errors import UsageError

    for change in changes:
        if not change.strip():
            continue
        try:
            nodes = parse(change + "\n", filename="--change").nodes
            for node in nodes:
                if node.keyword not in CHANGE_INSTRUCTIONS:
                    raise BuildError(f"{node.original.split()[0].upper()} is not a valid change command")
                check(node, "--change")
                apply(node, config, env_map(list(config.get("Env") or [])))
        except BuildError as e:  # a bad --change is bad input to import/commit (125), not a failed build
            raise UsageError(f"invalid --change {change!r}: {e}") from None
    return config
