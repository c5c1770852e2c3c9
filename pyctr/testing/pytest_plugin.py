"""pytest plugin registered through the ``pytest11`` entry point.

Keeps imports light: fixture modules are imported here, their heavy
dependencies only when a fixture runs.
"""

from __future__ import annotations

from pyctr.testing.registry import auth_registry, registry, token_registry  # noqa: F401  (fixtures)
