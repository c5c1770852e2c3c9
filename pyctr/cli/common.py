"""Helpers shared by the command modules: the engine, tables, templates, time."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import click

from pyctr.cli import settings


def engine():  # noqa: ANN201
    """The Engine of the current command (built on first use)."""
    return settings.engine()


def each(refs: Iterable[str], action: Callable[[str], Any], *, echo: bool = True,
         prefix: str = "Error: ") -> None:
    """Docker's commands on several objects: ``action(ref)`` for every ref, printing
    the ref when ``echo``; a failure is reported and the rest still run; exit 1 at the end."""
    from pyctr.core.errors import PyctrError

    failed = False
    for ref in refs:
        try:
            action(ref)
            if echo:
                click.echo(ref)
        except PyctrError as e:
            click.echo(f"{prefix}{e}", err=True)
            failed = True
    if failed:
        sys.exit(1)


def table(headers: list[str], rows: Iterable[list[str]]) -> None:
    """Docker's column layout: each column as wide as its widest cell, three spaces apart."""
    rows = [list(map(str, r)) for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    for line in [headers] + rows:
        click.echo("   ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())


def emit(rows: list[dict[str, Any]], fmt: str | None, columns: list[tuple[str, str]], *,
         quiet: bool = False, id_key: str = "ID") -> None:
    """Print list rows as Docker does: -q ids, ``--format json``, a Go template
    (``table TEMPLATE`` adds headers), or the default table of ``columns`` (header, key)."""
    if quiet:
        for r in rows:
            click.echo(r[id_key])
        return
    if fmt == "json":
        import json

        for r in rows:
            click.echo(json.dumps({k: v for k, v in r.items() if not k.startswith("_")}))
        return
    if fmt and fmt != "table":
        from pyctr.cli.gotemplate import Template, split_table

        is_table, body = split_table(fmt)
        template = Template(body)
        lines = [template.render(r) for r in rows]
        if not is_table:
            for line in lines:
                click.echo(line)
            return
        # Docker's tabwriter: the header is the template rendered with column names
        names = {k: k.upper() for r in rows[:1] for k in r} | {k: h for h, k in columns}
        header = Template(body).render(names).split("\t")
        table(header, [line.split("\t") for line in lines])
        return
    table([h for h, _ in columns], [[str(r.get(k, "")) for _, k in columns] for r in rows])


def human_duration(seconds: float) -> str:
    """Docker's units.HumanDuration: "Less than a second", "3 minutes", "2 weeks"."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def ago(timestamp: float) -> str:
    return f"{human_duration(time.time() - timestamp)} ago"


def human_size(n: float) -> str:
    """Docker's units.HumanSize (decimal, 3 significant digits): 4.26MB, 1.2GB."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.4g}{units[i]}"


def render(template: str, data: Any) -> str:
    """A Go template (``--format``), the subset people paste from Docker docs."""
    from pyctr.cli.gotemplate import render as go_render

    return go_render(template, data)
