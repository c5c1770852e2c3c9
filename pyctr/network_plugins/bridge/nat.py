"""nftables: libnftables in-process (ctypes), or ``nft -j -f -`` without it.

The rules themselves come from :mod:`.plan`. Each call is one nft
transaction: the kernel applies the whole batch or none of it.
Per-container rules carry the container id as comment, so teardown and
``system prune`` find them with one listing. libnftables saves a fork and
exec of ``nft`` per call (about half the cost of a call); its contexts are
not thread-safe, so each call makes and frees its own.
"""

from __future__ import annotations

import _thread
import ctypes
import json
from typing import Any

from pyctr.core.errors import DriverError, PrerequisitesMissing
from pyctr.network_plugins.bridge import plan

NFT_CTX_OUTPUT_JSON = 1 << 4
_lib: Any = None
_lib_lock = _thread.allocate_lock()  # (not threading: its import is on every bridged start)


def _libnft() -> Any:
    """libnftables.so.1 with its signatures, or False when it is not installed."""
    global _lib
    with _lib_lock:
        if _lib is None:
            try:
                lib = ctypes.CDLL("libnftables.so.1")
            except OSError:
                _lib = False
                return _lib
            vp = ctypes.c_void_p
            lib.nft_ctx_new.restype, lib.nft_ctx_new.argtypes = vp, [ctypes.c_uint32]
            lib.nft_ctx_free.argtypes = [vp]
            lib.nft_ctx_buffer_output.argtypes = [vp]
            lib.nft_ctx_buffer_error.argtypes = [vp]
            lib.nft_ctx_output_set_flags.argtypes = [vp, ctypes.c_uint]
            lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
            lib.nft_ctx_get_output_buffer.argtypes = [vp]
            lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
            lib.nft_ctx_get_error_buffer.argtypes = [vp]
            lib.nft_run_cmd_from_buffer.argtypes = [vp, ctypes.c_char_p]
            _lib = lib
        return _lib


def _nft_cmd(text: str) -> tuple[int, str, str]:
    """Run one nft command (JSON document or nft syntax); (rc, JSON output, error)."""
    lib = _libnft()
    if lib:
        ctx = lib.nft_ctx_new(0)
        try:
            lib.nft_ctx_buffer_output(ctx)
            lib.nft_ctx_buffer_error(ctx)
            lib.nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON)
            rc = lib.nft_run_cmd_from_buffer(ctx, text.encode())
            out = (lib.nft_ctx_get_output_buffer(ctx) or b"").decode()
            err = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode()
        finally:
            lib.nft_ctx_free(ctx)
        return rc, out, err
    import shutil
    import subprocess

    exe = shutil.which("nft")
    if exe is None:
        raise PrerequisitesMissing("the bridge network driver needs nftables: install the nftables package")
    if text.lstrip().startswith("{"):
        r = subprocess.run([exe, "-j", "-f", "-"], input=text, capture_output=True, text=True, check=False)
    else:
        r = subprocess.run([exe, "-j", *text.split()], capture_output=True, text=True, check=False)
    return r.returncode, r.stdout, r.stderr


def run(cmds: list[dict[str, Any]]) -> None:
    """Apply a batch; raise DriverError with nft's first error line."""
    if not cmds:
        return
    rc, _, err = _nft_cmd(json.dumps(plan.document(cmds)))
    if rc != 0:
        msg = (err.strip().splitlines() or ["unknown error"])[0]
        raise DriverError(f"nftables refused the ruleset: {msg}")


def list_ports(table: str) -> dict[str, Any]:
    """The ``ports`` chain as nft's JSON, or an empty listing when there is no table."""
    rc, out, _ = _nft_cmd(f"list chain {plan.FAMILY} {table} ports")
    if rc != 0 or not out.strip():
        return {"nftables": []}
    return json.loads(out)


def list_table(table: str) -> dict[str, Any] | None:
    rc, out, _ = _nft_cmd(f"list table {plan.FAMILY} {table}")
    if rc != 0 or not out.strip():
        return None
    return json.loads(out)


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
    rc, _, _ = _nft_cmd(f"delete table {plan.FAMILY} {table}")
    return rc == 0
