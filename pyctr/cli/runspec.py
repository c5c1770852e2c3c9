"""``pyctr run``/``create``: a ContainerSpec from the options, and running it.

No click here: pyctr.cli.fastpath calls :func:`run_container` directly,
and the click commands in pyctr.cli.containers call the same functions.
``options`` are the parameters named as in pyctr.cli.options.
"""

from __future__ import annotations

import sys

from pyctr.cli.settings import echo, engine
from pyctr.images.store import image_store

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


def run_container(image: str, command: tuple[str, ...], detach: bool, options: dict[str, Any]) -> int:
    """Create and run a container; the exit code of ``pyctr run``."""
    from pyctr.core import lifecycle
    from pyctr.core.errors import UsageError

    keys = options.pop("detach_keys", None)
    if keys:
        from pyctr.runtime.attaching import parse_detach_keys

        keys = parse_detach_keys(keys)  # (bad keys: one line, before anything exists)
    eng = engine()
    spec, img, network = build_spec(image, command, options)
    if detach and spec.auto_remove and spec.restart_policy != "no":
        raise UsageError("conflicting options: --restart and --rm")
    container = lifecycle.create(eng, spec, img, network, starting=not detach and not _at_terminal(spec))
    if detach:
        from pyctr.runtime.detach import start_detached

        try:
            start_detached(eng, container)
        except BaseException:
            if spec.auto_remove:
                lifecycle.remove(eng, container, force=True, volumes=True)
            raise
        echo(container.id)
        return 0
    return run_foreground(eng, container, keys)


def create_container(image: str, command: tuple[str, ...], options: dict[str, Any]) -> str:
    """Create a container without starting it; its id."""
    from pyctr.core import lifecycle

    eng = engine()
    spec, img, network = build_spec(image, command, options)
    return lifecycle.create(eng, spec, img, network).id


def build_spec(image_ref: str, command: tuple[str, ...], o: dict[str, Any]):  # noqa: ANN201
    """A ContainerSpec from the command line and the image, before plugins change it
    (the work is pyctr.runtime.runoptions', shared with the API service)."""
    from pyctr.runtime.runoptions import build_spec as from_options

    eng = engine()
    image = _image_for_run(eng, image_ref, o["pull_policy"], o.get("platform"))
    spec, network = from_options(eng, image, image_ref, command, o)
    return spec, image, network


def _image_for_run(eng: Any, ref: str, policy: str, platform: str | None = None) -> Any:
    """Docker's --pull: a missing image is pulled (progress on stderr), as `docker run` does;
    with --platform, so is a local image made for another platform."""
    from pyctr.core.errors import NotFound

    if platform:
        from pyctr.images.platforms import normalize

        platform = normalize(platform)
    if policy != "always":
        try:
            image = image_store(eng).resolve(ref)
            if not platform or _platform_of(image.config, platform):
                return image
            if policy == "never":
                from pyctr.core.errors import UsageError

                raise UsageError(f"image with reference {ref} was found but does not match the specified platform: "
                                 f"wanted {platform}, actual: {image.config.get('os')}/{image.config.get('architecture')}")
        except NotFound:
            if policy == "never":
                raise
            if policy == "missing":
                echo(f"Unable to find image '{ref}' locally", err=True)
    from pyctr.images import progress
    from pyctr.images.pull import pull

    result = pull(eng, ref, platform=platform, progress=progress.for_output(False, sys.stderr))
    return image_store(eng).resolve(result.reference)


def run_foreground(eng: Any, container: Any, detach_keys: bytes | None = None) -> int:
    """Start ``container`` attached to this terminal and wait for it, as ``docker run`` without -d."""
    import os

    from pyctr.core import lifecycle

    spec = container.spec
    if _at_terminal(spec):
        return _run_at_terminal(eng, container, detach_keys)
    master = None
    try:
        if spec.tty:
            from pyctr.runtime.tty import start_with_console

            pid, master = start_with_console(lambda console: lifecycle.start(eng, container, console=console))
        else:
            stdin = 0 if spec.interactive else os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            try:
                pid = lifecycle.start(eng, container, stdio=(stdin, 1, 2))
            finally:
                if stdin != 0:
                    os.close(stdin)
        prober = 0
        if spec.healthcheck:
            from pyctr.runtime.probe import watch_beside

            prober = watch_beside(eng, container)  # the health checks' schedule, beside this process
        code = lifecycle.wait_foreground(eng, container, pid, master=master, interactive=spec.interactive,
                                         removing=spec.auto_remove)
        if prober:
            os.waitpid(prober, 0)  # (it ends with the init)
    except BaseException:
        if spec.auto_remove:
            lifecycle.remove(eng, container, force=True, volumes=True)
        raise
    finally:
        if master is not None:
            os.close(master)
    if spec.auto_remove:
        lifecycle.remove(eng, container, force=True, volumes=True)
    return code


def _at_terminal(spec: Any) -> bool:
    """``run -it`` at a terminal: started by a monitor, not by this process (:func:`_run_at_terminal`)."""
    import os

    return bool(spec.tty and spec.interactive and os.isatty(0))


def _run_at_terminal(eng: Any, container: Any, detach_keys: bytes | None) -> int:
    """``run -it`` at a terminal: the container runs under its monitor, as with -d,
    and this terminal is attached to it, so that the detach keys (Ctrl-P Ctrl-Q)
    leave it running, as Docker's do; otherwise the container's exit code, once
    its monitor has recorded the exit (and, with --rm, removed it)."""
    from pyctr.core import lifecycle
    from pyctr.runtime.attaching import DETACH_KEYS, relay
    from pyctr.runtime.detach import start_attached

    try:
        link = start_attached(eng, container)  # attached before it starts: not a byte of output missed
    except BaseException:
        if container.spec.auto_remove:
            lifecycle.remove(eng, container, force=True, volumes=True)
        raise
    ended = relay(container, detach_keys or DETACH_KEYS, sock=link)  # (it closes the link)
    if ended.detached:
        return 0
    from pyctr.core.lifecycle import wait_stopped

    done = wait_stopped(eng, container.id, timeout=60, removed=container.spec.auto_remove)
    if ended.exit_code is not None:
        return ended.exit_code
    return done.exit_code if done is not None else 125


def _platform_of(config: dict[str, Any], platform: str) -> bool:
    from pyctr.images.platforms import matches

    return matches(config, platform)
