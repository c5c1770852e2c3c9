"""pytest plugin registered through the ``pytest11`` entry point.

Fixtures from :mod:`pyctr.testing.registry` (``registry``, ``auth_registry``,
``token_registry``: real docker-registry servers on 127.0.0.1) and
:mod:`pyctr.testing.images` (``registry_images``: the standard test images
pushed there with skopeo). Heavy work happens only when a fixture runs.
"""

from __future__ import annotations

from pyctr.testing.images import registry_images  # noqa: F401  (fixture)
from pyctr.testing.registry import auth_registry, registry, token_registry  # noqa: F401  (fixtures)
