"""``GET /distribution/{name}/json``: what a registry says of a reference, without pulling it
(``docker manifest``-like; docker-py's ``inspect_distribution``, compose's digest pinning).

The answer is dockerd's: the descriptor of the manifest or index the tag names, and the
platforms it holds (an index's entries, or a single manifest's config). Mirrors are asked
first, as a pull does. Only small documents are read (a manifest, at most one config), in
the request's own thread: no fork, no layer.
"""

from __future__ import annotations

import json

from pyctr.api.errors import ApiError
from pyctr.api.routes import route

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.api.http import Request

_PLATFORM_KEYS = ("architecture", "os", "os.version", "os.features", "variant", "features")


@route("GET", "/distribution/{name*}/json")
def inspect(req: Request, name: str) -> None:
    from pyctr.core.errors import ImageError, NotFound, UsageError
    from pyctr.images import reference, registries

    try:
        ref = reference.parse(name)
    except UsageError as e:
        raise ApiError(400, str(e)) from None
    engine = req.engine
    attempts = [lambda m=m: registries.mirror_client(engine, ref.registry, m)
                for m in registries.mirrors_of(engine, ref.registry)]
    attempts.append(lambda: registries.client(engine, ref.registry))
    last: Exception | None = None
    for make in attempts:
        client = make()
        try:
            raw, media_type, digest = client.fetch_manifest(ref.repository, ref.reference)
            platforms = _platforms(engine, client, ref.repository, raw)
        except (ImageError, NotFound, OSError) as e:
            last = e
            continue
        finally:
            client.close()
        req.json({"Descriptor": {"mediaType": media_type, "digest": digest, "size": len(raw)},
                  "Platforms": platforms})
        return
    if isinstance(last, NotFound) or "not found" in str(last).lower() or "unknown" in str(last).lower():
        raise ApiError(404, f"{name}: not found: {last}")
    raise ApiError(500, f"{name}: {last}")


def _platforms(engine: Any, client: Any, repository: str, raw: bytes) -> list[dict[str, Any]]:
    """An index's platforms as listed; a single manifest's from its config."""
    from pyctr.images.distribution import parse_image_manifest
    from pyctr.images.store import image_store

    doc = json.loads(raw)
    if "manifests" in doc:
        return [{k: p[k] for k in _PLATFORM_KEYS if k in p}
                for p in (m.get("platform") for m in doc["manifests"] if isinstance(m, dict))
                if isinstance(p, dict)]
    config = parse_image_manifest(raw).config
    content = image_store(engine).content
    client.fetch_blob(repository, config.digest, config.size, content)
    cfg = json.loads(content.read(config.digest, limit=1 << 20))
    return [{k: cfg[k] for k in _PLATFORM_KEYS if k in cfg}]
