"""RUN: the command in a container on the stage's layers, with pyctr's own runtime.

The container is an ordinary one (the hook plugins and drivers of ``pyctr
run`` apply) whose writable layer is mounted with a plain upper directory;
when its command has exited 0 the upper directory, less the mount points the
runtime made, becomes the step's layer. On any failure the container and its
layer go: nothing half-made is left.
"""

from __future__ import annotations

import os

from pyctr.build.errors import StepFailed

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.build.layers import NewLayer
    from pyctr.core.engine import Engine


class RunMount:
    """A ``RUN --mount``: what the container gets and where."""

    __slots__ = ("type", "target", "source", "readonly", "options")

    def __init__(self, type_: str, target: str, source: str = "", readonly: bool = False,
                 options: list[str] | None = None) -> None:
        self.type = type_  # bind | tmpfs
        self.target = target
        self.source = source  # host path (bind)
        self.readonly = readonly
        self.options = options or []


def run_step(engine: Engine, *, image_id: str, config: dict[str, Any], layers: list[str], parent_chain: str | None,
             argv: list[str], env: list[str], user: str, workdir: str, network: str | None,
             mounts: list[RunMount], out_fd: int, epoch: int | None, describe: str) -> NewLayer:
    """Run ``argv`` in a container on ``layers``; the layer of what it changed."""
    from pyctr.build.diff import RUNTIME_TARGETS, find_stubs, remove_stubs
    from pyctr.build.layers import check_driver, commit
    from pyctr.core import lifecycle
    from pyctr.core.spec import ContainerSpec, Mount
    from pyctr.images.store import Image

    check_driver(engine)
    spec = ContainerSpec(image=image_id, image_id=image_id, env=env, workdir=workdir or "/", user=user,
                         argv=argv, cmd=argv)
    spec.network = {"mode": network or ""}
    # (the configured default, as a run's: a rootless user's is slirp4netns, not the first by priority)
    driver = _network_driver(network) or engine.config.network
    spec.mounts = [Mount(type=m.type, target=m.target, source=m.source, readonly=m.readonly, options=m.options)
                   for m in mounts]
    image = Image(id=image_id, config=config, layers=layers, size=0, created=0.0)
    container = lifecycle.create(engine, spec, image, driver, starting=True)
    try:
        storage = engine.storage_for(container)
        storage.mark_plain_diff(container.id)
        root = str(storage.get(container.id))
        stubs = find_stubs(root, list(RUNTIME_TARGETS) + [m.target for m in mounts])
        _make_workdir(root, workdir, user)
        devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        try:
            pid = lifecycle.start(engine, container, stdio=(devnull, out_fd, out_fd))
        finally:
            os.close(devnull)
        code = lifecycle.wait_foreground(engine, container, pid)
        if code != 0:
            raise StepFailed(f"The command '{describe}' returned a non-zero code: {code}")
        storage.put(container.id)
        remove_stubs(str(storage.upper_dir(container.id)), stubs)
        return commit(engine, container.id, parent_chain, epoch)
    finally:
        lifecycle.remove(engine, container, force=True)


def _network_driver(network: str | None) -> str | None:
    """The network driver for ``--network`` of a build or a RUN (default: pyctr's default)."""
    if not network or network in ("default", "bridge"):
        return None
    if network in ("none", "host"):
        return network
    from pyctr.build.errors import BuildError

    raise BuildError(f"network mode {network!r} is not supported for builds (default, none or host)")


def _make_workdir(root: str, workdir: str, user: str) -> None:
    """The working directory exists before the command starts; what is made of it belongs
    to the USER (BuildKit's and buildah's rule), resolved in the image's own files."""
    if not workdir or workdir == "/":
        return
    from pyctr.build.copying import resolve_user
    from pyctr.kernel.paths import secure_join

    owner = resolve_user(user, root) if user else (0, 0)
    path = "/"
    for part in [p for p in workdir.split("/") if p]:
        path = path.rstrip("/") + "/" + part
        host = secure_join(root, path)
        if os.path.lexists(host):
            continue
        os.mkdir(host, 0o755)
        os.chmod(host, 0o755)
        os.chown(host, *owner)
