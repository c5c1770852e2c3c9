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
import os
import sys

from pyctr.core.errors import DriverError, PrerequisitesMissing
from pyctr.network_plugins.bridge import plan

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

LIBRARY = "libnftables.so.1"
NFT_CTX_OUTPUT_JSON = 1 << 4
_lib: Any = None
_lib_lock = _thread.allocate_lock()  # (not threading: its import is on every bridged start)


def _libnft() -> Any:
    """libnftables.so.1 with its signatures, or False when it is not installed."""
    global _lib
    with _lib_lock:
        if _lib is None:
            try:
                lib = ctypes.CDLL(LIBRARY)
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


def available() -> bool:
    """libnftables is installed, or an ``nft`` program is on PATH.

    The library is looked for where the dynamic linker looks first, and only
    loaded when neither finds it: the probe runs on every bridged start and a
    start whose ruleset is in place (see :func:`ensure`) never calls nftables,
    while loading it (libnftables with libnftnl, libmnl, libjansson, libxtables)
    costs ~3 ms. (Not shutil.which or ctypes.util.find_library either: their
    imports, subprocess among them, cost several ms.)
    """
    multiarch = getattr(sys.implementation, "_multiarch", "")
    dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    dirs += [f"{p}/{multiarch}" for p in ("/usr/lib", "/lib") if multiarch] + [
        "/usr/lib64", "/lib64", "/usr/lib", "/lib", "/usr/local/lib"]
    if any(os.path.exists(os.path.join(d, LIBRARY)) for d in dirs) or _libnft():
        return True
    return any(os.access(os.path.join(d, "nft"), os.X_OK) for d in os.get_exec_path())


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


# -- skipping a batch the kernel already holds --------------------------------
#
# Every start used to re-apply the base ruleset and its network's set elements
# (idempotent, ~20 ms of libnftables). nftables numbers its ruleset: the
# generation goes up by one with every committed transaction, anyone's. A
# stamp records "at generation G (this boot, this netns) the ruleset held these
# parts"; it is written only when a batch of ours moved the generation from
# exactly G-1 to G, so nothing else happened in between. A start that finds the
# generation still at G skips those parts; any other change anywhere (a
# deleted table, a podman run, a reboot) makes it re-apply them.

NETLINK_NETFILTER = 12
_NFT_SUBSYS = 10
_NFT_MSG_NEWGEN, _NFT_MSG_GETGEN = 15, 16
_NFTA_GEN_ID = 1


def generation() -> int | None:
    """The nftables ruleset generation of this netns (NFT_MSG_GETGEN), None if unreadable."""
    import socket  # (a bridged start has imported it with pyroute2's codecs)
    import struct

    try:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_NETFILTER)
        try:
            s.bind((0, 0))
            msg_type = (_NFT_SUBSYS << 8) | _NFT_MSG_GETGEN
            s.send(struct.pack("=IHHII", 20, msg_type, 1, 1, 0) + struct.pack("=BBH", 0, 0, 0))  # NLM_F_REQUEST
            data = s.recv(65536)
        finally:
            s.close()
    except OSError:
        return None
    while len(data) >= 16:
        length, mtype = struct.unpack_from("=IH", data)
        if mtype == (_NFT_SUBSYS << 8) | _NFT_MSG_NEWGEN:
            pos = 16 + 4  # nlmsghdr, nfgenmsg
            while pos + 4 <= length:
                alen, atype = struct.unpack_from("=HH", data, pos)
                if alen < 4:
                    break
                if atype & 0x3FFF == _NFTA_GEN_ID and alen >= 8:
                    return struct.unpack_from(">I", data, pos + 4)[0]
                pos += (alen + 3) & ~3
            return None
        if length < 16:
            break
        data = data[(length + 3) & ~3:]
    return None


def _where() -> str:
    """This boot and this network namespace: generations count per netns from boot."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        # (thread-self: a rootless user's bridge works from a thread in the user's own netns)
        return f"{boot}:{os.stat('/proc/thread-self/ns/net').st_ino}"
    except OSError:
        return ""


def _read_stamp(path: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            stamp = json.load(f)
        return stamp if isinstance(stamp, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_stamp(path: str, stamp: dict[str, Any]) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(stamp, f)
        os.replace(tmp, path)
    except OSError:
        pass  # only costs the next start its batch


def ensure(stamp_path: str, parts: dict[str, list[dict[str, Any]]], rest: list[dict[str, Any]]) -> None:
    """Apply the idempotent ``parts`` (name -> commands) the stamp cannot vouch
    for, plus ``rest`` (e.g. a container's port rules), as one batch."""
    where = _where()
    before = generation()
    stamp = _read_stamp(stamp_path)
    held = set(stamp.get("parts", [])) if (where and before is not None and stamp.get("where") == where
                                          and stamp.get("generation") == before) else set()
    missing = [name for name in parts if name not in held]
    cmds = [c for name in missing for c in parts[name]] + rest
    if not cmds:
        return
    run(cmds)
    after = generation()
    if where and before is not None and after == before + 1:
        _write_stamp(stamp_path, {"where": where, "generation": after, "parts": sorted(held | set(missing))})
