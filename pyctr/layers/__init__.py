"""Layer tar I/O: the image subsystem's and the storage drivers' toolkit.

The stable API for driver authors (docs/plugins.md), importable from here::

    from pyctr.layers import extract_layer, extract_layer_atomic, create_layer_tar

* :func:`~pyctr.layers.extract.extract_layer` unpacks a layer blob (gzip,
  zstd or plain tar) into a directory, safely (nothing outside it is
  touched), turning whiteouts into overlayfs's form or applying them;
* :func:`~pyctr.layers.extract.extract_layer_atomic` does it into a
  temporary sibling renamed into place, so a failure leaves nothing;
* :func:`~pyctr.layers.create.create_layer_tar` writes a directory (an
  overlay upper directory included) back as a deterministic layer tar.

Modules: :mod:`.streams` (decompression, hashing), :mod:`.names` (member
names, the whiteout vocabulary), :mod:`.extract`, :mod:`.create`. This
package imports only the host (pyctr.core) and the standard library; the
names above are resolved on first use, so importing the package costs nothing.
"""

from __future__ import annotations

_PUBLIC = {
    "extract_layer": "pyctr.layers.extract",
    "extract_layer_atomic": "pyctr.layers.extract",
    "remove_stale_extractions": "pyctr.layers.extract",
    "create_layer_tar": "pyctr.layers.create",
    "open_layer_stream": "pyctr.layers.streams",
    "WHITEOUT_PREFIX": "pyctr.layers.names",
    "WHITEOUT_OPAQUE": "pyctr.layers.names",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> object:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'pyctr.layers' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
