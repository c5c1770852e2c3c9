"""SHA-256 for names and cache keys, without importing hashlib.

hashlib loads OpenSSL's libcrypto (about 5 ms here) in every command that
imports it; CPython's builtin ``_sha256`` gives the same digests for the few
short strings the start path hashes (veth names, cache keys, chain ids).
Content digests of blobs keep using hashlib, which is faster on large data.
"""

from __future__ import annotations

try:
    from _sha256 import sha256
except ImportError:  # pragma: no cover  (an interpreter without the builtin: 3.12 renamed it _sha2)
    from hashlib import sha256

__all__ = ["sha256"]
