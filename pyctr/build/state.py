"""A stage's state while it is built: the image config so far, its layers, its cache
key, and the build arguments in scope.

ARG scoping as BuildKit's: an ARG before the first FROM is global and seen
only by FROM lines, unless a stage declares it again (``ARG NAME`` then takes
the global value); a stage's ARGs are seen by its later instructions and by
its RUN commands' environment, never stored in the image; ENV beats ARG; a
``--build-arg`` overrides an ARG's default. The proxy variables work
undeclared (in RUN only) and stay out of history and the cache key unless
declared. ``TARGETPLATFORM`` and its relatives are predefined.
"""

from __future__ import annotations

import copy

from pyctr.build.shell import env_map

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
              "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")


def platform_args(platform: str = "linux/amd64") -> dict[str, str]:
    os_, _, rest = platform.partition("/")
    arch, _, variant = rest.partition("/")
    out = {}
    for prefix in ("TARGET", "BUILD"):
        out[f"{prefix}PLATFORM"] = platform
        out[f"{prefix}OS"] = os_
        out[f"{prefix}ARCH"] = arch
        out[f"{prefix}VARIANT"] = variant
    return out


def empty_config(epoch_created: str) -> dict[str, Any]:
    """The image config of ``FROM scratch``."""
    return {"architecture": "amd64", "os": "linux", "created": epoch_created, "config": {},
            "rootfs": {"type": "layers", "diff_ids": []}, "history": []}


class StageState:
    """What a stage is after each of its instructions."""

    def __init__(self, index: int, name: str, config: dict[str, Any], layers: list[str], key: str,
                 base_id: str = "") -> None:
        self.index = index
        self.name = name
        self.config = config  # the whole image config
        self.layers = layers  # storage layer ids, base first
        self.key = key
        self.base_id = base_id
        self.args: dict[str, str | None] = {}  # declared in this stage, in order; None: declared, no value
        self.cmd_set = False
        self.workdir_pending = ""

    @property
    def run_config(self) -> dict[str, Any]:
        cfg = self.config.setdefault("config", {})
        return cfg

    def snapshot(self) -> dict[str, Any]:
        """What the cache stores for this state."""
        return {"config": self.config, "layers": self.layers}

    def restore(self, state: dict[str, Any]) -> None:
        self.config = copy.deepcopy(state["config"])
        self.layers = list(state["layers"])

    @property
    def chain(self) -> str | None:
        """The chain id of the top layer (sha256:...), None without layers."""
        from pyctr.images.store import chain_ids

        diff_ids = self.config.get("rootfs", {}).get("diff_ids") or []
        return chain_ids(diff_ids)[-1] if diff_ids else None

    def env(self) -> list[str]:
        return list(self.run_config.get("Env") or [])

    def arg_values(self) -> dict[str, str]:
        """The declared ARGs that have a value."""
        return {k: v for k, v in self.args.items() if v is not None}

    def expansion_vars(self) -> dict[str, str]:
        """What ``$NAME`` sees in this stage: its ARGs, overridden by its ENV."""
        out = dict(self.arg_values())
        out.update(env_map(self.env()))
        return out

    def run_env(self, proxies: dict[str, str]) -> list[str]:
        """A RUN's environment: ENV, then the ARGs ENV does not set, then undeclared proxies."""
        env = self.env()
        names = {e.partition("=")[0] for e in env}
        for key, value in self.arg_values().items():
            if key not in names:
                env.append(f"{key}={value}")
                names.add(key)
        for key, value in proxies.items():
            if key not in names:
                env.append(f"{key}={value}")
        return env

    def history_args(self) -> list[str]:
        """The ``K=V`` of a RUN's history line and cache key: declared ARGs that ENV does not
        override, sorted (as the classic builder and buildah record them)."""
        env_names = {e.partition("=")[0] for e in self.env()}
        return sorted(f"{k}={v}" for k, v in self.arg_values().items() if k not in env_names)
