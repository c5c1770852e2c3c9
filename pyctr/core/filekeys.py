"""Short, stable file names for cache keys that are stored in the file and compared in full.

A cache whose file holds its own key needs from the name only that equal
keys give equal names; a collision costs a cache miss, never a wrong hit.
64-bit FNV-1a in Python does that for the short keys of the start path in
microseconds, where ``hashlib`` would load OpenSSL's libcrypto (~4 ms) in
every command that imports it. Content digests (blobs, layers, chain ids)
use ``hashlib``.
"""

from __future__ import annotations

_OFFSET, _PRIME, _MASK = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1


def name_for(key: str | bytes) -> str:
    """16 hex digits, the same for the same key in every process and Python version."""
    h = _OFFSET
    for byte in key.encode() if isinstance(key, str) else key:
        h = ((h ^ byte) * _PRIME) & _MASK
    return f"{h:016x}"
