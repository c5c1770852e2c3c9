"""``system df`` and ``system check``."""

from __future__ import annotations

import sys

import click

from pyctr.cli.common import emit, engine, human_size


@click.command(name="df")
@click.option("--verbose", "-v", is_flag=True, hidden=True)
@click.option("--format", "fmt", help="Go template, or 'json'.")
def df(verbose: bool, fmt: str | None) -> None:
    """Show disk usage: images, containers, volumes."""
    from pyctr.images.check import disk_usage

    rows = []
    for r in disk_usage(engine()):
        pct = f" ({100 * r['Reclaimable'] // r['Size']}%)" if r["Size"] else ""
        rows.append({"Type": r["Type"], "TotalCount": str(r["TotalCount"]), "Active": str(r["Active"]),
                     "Size": human_size(r["Size"]), "Reclaimable": human_size(r["Reclaimable"]) + pct})
    emit(rows, fmt, [("TYPE", "Type"), ("TOTAL", "TotalCount"), ("ACTIVE", "Active"), ("SIZE", "Size"),
                     ("RECLAIMABLE", "Reclaimable")])


@click.command(name="check")
@click.option("--repair", is_flag=True, help="Remove what is broken and refetch what can be refetched.")
def check(repair: bool) -> None:
    """Check blobs, layers and leftovers of killed runs; exit 1 while problems remain."""
    from pyctr.images.check import check as do_check

    rep = do_check(engine(), repair)
    for line in rep.problems:
        click.echo(f"problem: {line}")
    for line in rep.repaired:
        click.echo(f"repaired: {line}")
    for line in rep.unrepaired:
        click.echo(f"not repaired: {line}")
    if not rep.problems:
        click.echo("no problems found")
    elif not repair:
        click.echo(f"{len(rep.problems)} problem(s) found; run with --repair to fix them")
    if (rep.problems and not repair) or rep.unrepaired:
        sys.exit(1)
