"""nftables, through ``nft -j -f -`` (the rules themselves come from :mod:`.plan`).

Each call is one nft transaction: the kernel applies the whole batch or
none of it. Per-container rules carry the container id as comment, so
teardown and ``system prune`` find them with one listing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

from pyctr.core.errors import DriverError, PrerequisitesMissing
from pyctr.network_plugins.bridge import plan


def _nft(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("nft")
    if exe is None:
        raise PrerequisitesMissing("the bridge network driver needs nft: install the nftables package")
    return subprocess.run([exe, *args], input=stdin, capture_output=True, text=True, check=False)


def run(cmds: list[dict[str, Any]]) -> None:
    """Apply a batch; raise DriverError with nft's first error line."""
    if not cmds:
        return
    r = _nft(["-j", "-f", "-"], json.dumps(plan.document(cmds)))
    if r.returncode != 0:
        msg = (r.stderr.strip().splitlines() or ["unknown error"])[0]
        raise DriverError(f"nftables refused the ruleset: {msg}")


def list_ports(table: str) -> dict[str, Any]:
    """The ``ports`` chain as nft's JSON, or an empty listing when there is no table."""
    r = _nft(["-j", "list", "chain", plan.FAMILY, table, "ports"])
    if r.returncode != 0:
        return {"nftables": []}
    return json.loads(r.stdout)


def list_table(table: str) -> dict[str, Any] | None:
    r = _nft(["-j", "list", "table", plan.FAMILY, table])
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)


def delete_rules(table: str, owners: set[str] | None = None, keep: set[str] | None = None) -> int:
    """Delete ``ports`` rules of ``owners`` (or of everyone not in ``keep``); return how many.

    A concurrent teardown may delete a listed rule first, which fails the
    batch: list again and retry.
    """
    for attempt in range(3):
        cmds = plan.rules_to_delete(list_ports(table), table, owners=owners, keep=keep)
        try:
            run(cmds)
            return len(cmds)
        except DriverError:
            if attempt == 2:
                raise
    return 0


def remove_table(table: str) -> bool:
    r = _nft(["delete", "table", plan.FAMILY, table])
    return r.returncode == 0
