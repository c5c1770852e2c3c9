"""Docker's output: tables, ``--format`` (json, Go templates, ``table``), go-units sizes and
durations. No click here: the read commands' fast path prints through this module too, so
both ways into a command print the same bytes."""

from __future__ import annotations

import sys
import time

from pyctr.cli.settings import echo
from pyctr.core.units import human_duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


def table(headers: list[str], rows: Iterable[list[str]]) -> None:
    """Docker's column layout (Go's tabwriter as the docker CLI sets it up: columns as wide as
    their widest cell plus three spaces, at least ten)."""
    from pyctr.cli.tabwriter import format_lines

    lines = ["\t".join(headers)] + ["\t".join(map(str, r)) for r in rows]
    echo("\n".join(format_lines(lines)))


def emit(rows: list[dict[str, Any]], fmt: str | None, columns: list[tuple[str, str]], *,
         quiet: bool = False, id_key: str = "ID", headers: dict[str, str] | None = None) -> None:
    """Print list rows as Docker does: -q ids, ``--format json``, a Go template
    (``table TEMPLATE`` adds a header row and aligns the columns), or the default table of
    ``columns`` (header, key). ``headers`` names the header of every other field a
    ``table`` template may use (Docker's per-command header names); a field not named
    there gets its name in capitals."""
    if quiet:
        write("".join(f"{r[id_key]}\n" for r in rows))
        return
    if fmt == "json":
        import json

        write("".join(json.dumps({k: v for k, v in r.items() if not k.startswith("_")}) + "\n" for r in rows))
        return
    if not fmt or fmt.strip() == "table":
        table([h for h, _ in columns], [[str(r.get(k, "")) for _, k in columns] for r in rows])
        return
    from pyctr.cli.gotemplate import Template, split_table

    is_table, body = split_table(fmt)
    template = Template(body)
    text = "".join(template.render(r) + "\n" for r in rows)
    if not is_table:
        write(text)
        return
    from pyctr.cli.tabwriter import format_lines

    names = {k: k.upper() for r in rows[:1] for k in r} | {k: h for h, k in columns} | (headers or {})
    header = _HeaderMap(names)
    lines = (template.render(header) + "\n" + text).split("\n")[:-1]
    echo("\n".join(format_lines(lines)))


def write(text: str) -> None:
    """Text as it is (already ending in a newline, or empty), flushed."""
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()


class _HeaderMap(dict):
    """The header row's data: a field with no header name renders empty (Go's zero string)."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key, "")


def ago(timestamp: float) -> str:
    return f"{human_duration(time.time() - timestamp)} ago"


_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _scaled(n: float, base: float, units: tuple[str, ...]) -> tuple[float, str]:
    i = 0
    n = float(n)
    while n >= base and i < len(units) - 1:
        n /= base
        i += 1
    return n, units[i]


def human_size(n: float, precision: int = 4) -> str:
    """go-units' HumanSizeWithPrecision (decimal units, ``%.{precision}g``): ``human_size(n)`` is
    HumanSize (system df, reclaimed space), ``human_size(n, 3)`` what images/ps print as SIZE."""
    v, unit = _scaled(n, 1000.0, _DECIMAL)
    return f"{v:.{precision}g}{unit}"


def bytes_size(n: float) -> str:
    """go-units' BytesSize (binary units, 4 significant digits): stats' memory usage."""
    v, unit = _scaled(n, 1024.0, _BINARY)
    return f"{v:.4g}{unit}"


def render(template: str, data: Any) -> str:
    """A Go template (``--format``), the subset people paste from Docker docs."""
    from pyctr.cli.gotemplate import render as go_render

    return go_render(template, data)
