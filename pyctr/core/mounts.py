"""A container's mounts made real on the host, and undone.

:func:`prepare` runs in the parent just before the init is forked: it creates
and mounts volumes through their drivers, fills an empty volume with the
image's content, and checks bind sources; :func:`release` undoes the volume
part when the container stops (idempotent). The grammar that fills
``spec.mounts`` is :mod:`pyctr.core.mountspec`.
"""

from __future__ import annotations

import os

from pyctr.core.errors import PyctrError, UsageError
from pyctr.core.spec import ANONYMOUS_LABEL

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.core.container import Container
    from pyctr.core.engine import Engine
    from pyctr.core.spec import Mount


def prepare(engine: Engine, container: Container, rootfs: str | None = None) -> list[Mount]:
    """The container's mounts with host ``source`` paths: volumes created and mounted
    through their drivers (an empty one filled from the image), bind sources checked."""
    from pyctr.core import events, volumes

    out: list[Mount] = []
    try:
        for m in container.spec.mounts:
            if m.type == "tmpfs":
                out.append(m.replace(options=list(m.options)))
            elif m.type == "bind":
                out.append(m.replace(source=_bind_source(m)))
            elif m.type == "volume":
                vol, created = volumes.create(engine, m.source, m.driver, m.driver_options, m.labels)
                drv = volumes.driver(engine, vol.driver)
                try:
                    path = drv.mount(vol.name, container.id)
                except BaseException:
                    if created:  # a volume that never worked is not left behind
                        volumes.remove(engine, vol.name, force=True, check_users=False)
                    raise
                out.append(m.replace(source=str(path)))
                events.record(engine, "volume", "mount", vol.name, {
                    "container": container.id, "destination": m.target, "driver": vol.driver,
                    "propagation": m.propagation or "", "read/write": "false" if m.readonly else "true"})
                if not m.nocopy and rootfs:
                    copy_image_content(rootfs, m.target, str(path))
    except BaseException:
        release(engine, container)
        raise
    return out


def _bind_source(m: Mount) -> str:
    if not os.path.lexists(m.source):
        if not m.create_host_path:
            raise UsageError(f'invalid mount config for type "bind": bind source path does not exist: {m.source}')
        try:
            os.makedirs(m.source, 0o755, exist_ok=True)  # -v's old behaviour, kept by Docker
        except OSError as e:
            raise UsageError(f"error while creating mount source path '{m.source}': {e.strerror}") from None
    return os.path.realpath(m.source)


def release(engine: Engine, container: Container) -> list[str]:
    """Give back the container's volumes (the last user unmounts); idempotent; returns errors."""
    names = [m.source for m in container.spec.mounts if m.type == "volume" and m.source]
    if not names:
        return []
    from pyctr.core import volumes

    errors = []
    for name in names:
        vol = volumes.get(engine, name)
        if vol is None:
            continue
        try:
            volumes.driver(engine, vol.driver, cleaning=True).unmount(name, container.id)
        except (PyctrError, OSError) as e:
            errors.append(f"volume {name}: {e}")
    return errors


def remove_anonymous(engine: Engine, container: Container) -> list[str]:
    """``rm -v``: delete the container's anonymous volumes that no other container uses."""
    from pyctr.core import volumes

    errors = []
    for m in container.spec.mounts:
        if m.type != "volume" or ANONYMOUS_LABEL not in m.labels:
            continue
        try:
            if not volumes.users(engine, m.source):
                volumes.remove(engine, m.source, force=True)
        except PyctrError as e:
            errors.append(str(e))
    return errors


def copy_image_content(rootfs: str, target: str, volume_path: str) -> None:
    """Docker's copyExistingContents: an empty volume gets what the image has at ``target``.

    The image's path is resolved inside the rootfs; the walk never follows a
    symlink (they are copied as symlinks) and files are opened O_NOFOLLOW.
    """
    import stat

    from pyctr.kernel.paths import secure_join

    source = secure_join(rootfs, target)
    try:
        st = os.lstat(source)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode) or os.listdir(volume_path):
        return

    from pyctr.core.trees import copy_tree

    # iterative, through descriptors: an image directory of any depth
    copy_tree(source, volume_path)
