"""Docker's JSON for an image (``inspect``, ``GET /images/{name}/json``): one shape for both front ends."""

from __future__ import annotations

from pyctr.core.inspection import rfc3339

TYPE_CHECKING = False  # (typing's import is ~3 ms of every command; annotations are strings here)
if TYPE_CHECKING:
    from typing import Any


def image_json(eng: Any, image: Any) -> dict[str, Any]:
    from pyctr.images.reference import parse

    cfg = image.config
    repo_digests = []
    if image.manifest_digest:
        repo_digests = sorted({f"{parse(t).familiar_name}@{image.manifest_digest}" for t in image.tags})
    try:
        graph = {"Name": eng.storage_driver_name(), "Data": eng.storage.metadata(image.layers[-1]) if image.layers else {}}
    except Exception:  # noqa: BLE001
        graph = {"Name": eng.storage_driver_name(), "Data": {}}
    return {
        "Id": image.id,
        "RepoTags": [parse(t).familiar for t in image.tags],
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": (cfg.get("history") or [{}])[-1].get("comment", ""),
        "Created": cfg.get("created", rfc3339(image.created)),
        "Container": cfg.get("container", ""),
        # compose 1.29 reads ContainerConfig (dropped by API 1.45): the config the image was made with
        "ContainerConfig": cfg.get("container_config") or cfg.get("config") or {},
        "DockerVersion": cfg.get("docker_version", ""),
        "Author": cfg.get("author", ""),
        "Config": cfg.get("config") or {},
        "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", ""),
        "Size": image.size,
        "VirtualSize": image.size,
        "GraphDriver": graph,
        "RootFS": {"Type": "layers", "Layers": (cfg.get("rootfs") or {}).get("diff_ids", [])},
        "Metadata": {"LastTagTime": rfc3339(0)},
    }
