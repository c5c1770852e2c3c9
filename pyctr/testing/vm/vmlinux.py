"""Unpack the ELF vmlinux hidden in a bzImage, as the kernel's extract-vmlinux does.

A bzImage is a real-mode stub plus a compressed payload; the payload is an
ELF vmlinux with a PVH note, which qemu can boot directly without firmware.
We look for every known compression magic, try to decompress from there,
and keep the first result that is an ELF file.
"""

from __future__ import annotations

import lzma
import os
from collections.abc import Callable
from pathlib import Path

ELF_MAGIC = b"\x7fELF"


def _xz(data: bytes) -> bytes:
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)


def _gzip(data: bytes) -> bytes:
    import zlib

    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)


def _zstd(data: bytes) -> bytes:
    import zstandard  # a pyctr dependency; imported only for zstd kernels

    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


def _lzma(data: bytes) -> bytes:
    return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(data)


# magic -> decompressor; lz4 and bzip2 kernels fall back to the bzImage.
_FORMATS: list[tuple[bytes, Callable[[bytes], bytes]]] = [
    (b"\xfd7zXZ\x00", _xz),
    (b"\x1f\x8b\x08", _gzip),
    (b"\x28\xb5\x2f\xfd", _zstd),
    (b"\x5d\x00\x00\x00", _lzma),
]


def extract_vmlinux(bzimage: Path, dest: Path) -> Path | None:
    """Write the uncompressed kernel of ``bzimage`` to ``dest``; None when none is found."""
    data = bzimage.read_bytes()
    if data.startswith(ELF_MAGIC):
        payload: bytes | None = data
    else:
        payload = _find_payload(data)
    if payload is None:
        return None
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, dest)
    return dest


def _find_payload(data: bytes) -> bytes | None:
    for magic, decompress in _FORMATS:
        start = data.find(magic)
        while start != -1:
            try:
                out = decompress(data[start:])
            except Exception:  # noqa: BLE001 - a false magic match; try the next one
                out = b""
            if out.startswith(ELF_MAGIC):
                return out
            start = data.find(magic, start + 1)
    return None
