"""The hooks the runtime itself runs: prestart, createRuntime, poststart, poststop.

Each gets the container's state on stdin and its own ``env``; a ``timeout``
kills it. (createContainer and startContainer run inside the container, from
the init: :func:`pyctr.runtime.steps.run_hook`.)
"""

from __future__ import annotations

import subprocess

from pyctr.oci.common import OciError
from pyctr.runtime.plan import Hook


def run(hook: Hook, state: bytes, kind: str) -> None:
    env = dict(e.split("=", 1) if "=" in e else (e, "") for e in hook.env)
    try:
        proc = subprocess.run(hook.args or [hook.path], input=state, env=env,
                              executable=hook.path, capture_output=True, timeout=hook.timeout, check=False)
    except subprocess.TimeoutExpired:
        raise OciError(f"{kind} hook {hook.path}: timed out after {hook.timeout}s") from None
    except OSError as e:
        raise OciError(f"{kind} hook {hook.path}: {e.strerror}") from None
    if proc.returncode != 0:
        why = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
        raise OciError(f"{kind} hook {hook.path} failed (exit status {proc.returncode})"
                       + (f": {why[-1]}" if why else ""))


def from_config(data: dict, kind: str) -> list[Hook]:
    """The hooks of ``kind`` in a stored config.json (checked at create)."""
    return [Hook(h["path"], list(h.get("args") or []), list(h.get("env") or []), h.get("timeout"))
            for h in ((data.get("hooks") or {}).get(kind) or [])]


def run_all(data: dict, kind: str, state: bytes, *, warn_only: bool) -> None:
    """Every hook of ``kind``; with ``warn_only`` (poststart, poststop: the spec says the
    lifecycle goes on) a failure is a warning on stderr, not an error."""
    import sys

    for hook in from_config(data, kind):
        try:
            run(hook, state, kind)
        except OciError as e:
            if not warn_only:
                raise
            sys.stderr.write(f"warning: {e}\n")
