"""Global settings: flag > environment (``PYCTR_*``) > config file > host-aware default.

The config file is TOML: ``$PYCTR_CONFIG`` or ``/etc/pyctr/pyctr.toml``
(rootless: ``$XDG_CONFIG_HOME/pyctr/pyctr.toml``, with the store and run root
under ``$XDG_DATA_HOME`` and ``$XDG_RUNTIME_DIR``: :mod:`pyctr.core.rootless`), keys
named as the long flags with dashes or underscores (``storage-driver = "vfs"``),
plus ``insecure-registries = ["localhost:5000"]``, ``registry-mirrors`` (a list of
mirrors of Docker Hub, as Docker's daemon.json, or a table ``{"registry" = [mirrors]}``)
and ``certs-dirs`` (where certs.d CAs and client certificates are looked for),
``layer-max-size`` (the most file data one image layer may unpack to: ``8g`` by default,
``0`` for no limit; a compression bomb stops there instead of filling the disk).
"""

from __future__ import annotations

import os
from pathlib import Path

from pyctr.core.errors import UsageError
from pyctr.core.records import Record, factory

TYPE_CHECKING = False  # (typing's import is ~3 ms of every command; annotations are strings here)
if TYPE_CHECKING:
    from typing import Any

DEFAULT_CONFIG_FILE = "/etc/pyctr/pyctr.toml"
#: a layer may unpack to at most this much file data unless ``layer-max-size`` says otherwise
DEFAULT_LAYER_MAX_SIZE = 8 << 30

#: setting name -> (default, environment variable)
SETTINGS: dict[str, tuple[Any, str]] = {
    "root": ("/var/lib/pyctr", "PYCTR_ROOT"),
    "runroot": ("/run/pyctr", "PYCTR_RUNROOT"),
    "storage_driver": (None, "PYCTR_STORAGE_DRIVER"),
    "network": (None, "PYCTR_NETWORK"),
    "volume_driver": (None, "PYCTR_VOLUME_DRIVER"),
    "cgroup_manager": (None, "PYCTR_CGROUP_MANAGER"),
    "runtime": (None, "PYCTR_RUNTIME"),
    "cgroup_subtree": ("", "PYCTR_CGROUP_SUBTREE"),
    "log_level": ("warning", "PYCTR_LOG_LEVEL"),
    "insecure_registries": ((), "PYCTR_INSECURE_REGISTRIES"),
    "registry_mirrors": ((), "PYCTR_REGISTRY_MIRRORS"),
    "certs_dirs": (("/etc/docker/certs.d", "/etc/containers/certs.d"), "PYCTR_CERTS_DIRS"),
    # new containers' log driver and its options (Docker's daemon.json log-driver, log-opts)
    "log_driver": ("json-file", "PYCTR_LOG_DRIVER"),
    "log_opts": ({}, "PYCTR_LOG_OPTS"),
    "layer_max_size": (DEFAULT_LAYER_MAX_SIZE, "PYCTR_LAYER_MAX_SIZE"),
}
#: settings that are lists: comma-separated in the environment
_LISTS = ("insecure_registries", "registry_mirrors", "certs_dirs")

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class Config(Record):
    root: Path = Path("/var/lib/pyctr")
    runroot: Path = Path("/run/pyctr")
    storage_driver: str | None = None
    network: str | None = None
    volume_driver: str | None = None
    cgroup_manager: str | None = None
    #: the runtime driver new containers are made with (None: the first usable by priority)
    runtime: str | None = None
    #: containers without --cgroup-parent go here, below the cgroup pyctr runs in (never above it)
    cgroup_subtree: str = ""
    log_level: str = "warning"
    insecure_registries: tuple[str, ...] = ()
    #: mirrors of Docker Hub (a tuple), or {registry: (mirror, ...)}
    registry_mirrors: tuple[str, ...] | dict[str, tuple[str, ...]] = ()
    certs_dirs: tuple[str, ...] = ("/etc/docker/certs.d", "/etc/containers/certs.d")
    log_driver: str = "json-file"
    log_opts: dict[str, str] = factory(dict)
    #: bytes of file data one layer may unpack to (0: no limit); the storage driver's option
    layer_max_size: int = DEFAULT_LAYER_MAX_SIZE
    #: where each value came from, for ``pyctr info --format json``
    origin: dict[str, str] = factory(dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self).items() if k != "origin"}


def _read_file(path: str) -> dict[str, Any]:
    if not os.path.exists(path):
        return {}  # the usual case: no file, and no tomllib import (5 ms) on every command
    import tomllib

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise UsageError(f"cannot read the config file {path}: {e}") from None
    return {k.replace("-", "_"): v for k, v in data.items()}


def _log_opts(value: Any) -> dict[str, str]:
    """``log-opts``: a table in the file, ``max-size=10m,max-file=3`` in the environment."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    pairs = [item.partition("=") for item in str(value).split(",") if item.strip()]
    if any(not sep for _, sep, _ in pairs):
        raise UsageError(f"invalid log-opts {value!r}: want KEY=VALUE,KEY=VALUE")
    return {k.strip(): v.strip() for k, _, v in pairs}


def load(flags: dict[str, Any]) -> Config:
    """Resolve every setting from flags (None = not given), environment, file, default."""
    from pyctr.core import rootless

    user_uid = rootless.uid()
    defaults = {name: default for name, (default, _env) in SETTINGS.items()}
    explicit_file = os.environ.get("PYCTR_CONFIG")
    if user_uid is not None:
        # an ordinary user's pyctr: podman's rootless places (pyctr.core.rootless)
        defaults["root"] = None
        defaults["runroot"] = None
        # podman's rootless default; the bridge driver works for a user too (in a network
        # namespace of the user's), but only for the networks it is asked for
        defaults["network"] = "slirp4netns"
        explicit_file = explicit_file or rootless.default_config_file(user_uid)
    file_values = _read_file(explicit_file or DEFAULT_CONFIG_FILE)
    unknown = set(file_values) - set(SETTINGS)
    if unknown:
        raise UsageError(f"unknown setting {sorted(unknown)[0]!r} in the config file")
    cfg = Config()
    for name, (default, env) in SETTINGS.items():
        if flags.get(name) is not None:
            value, origin = flags[name], "flag"
        elif os.environ.get(env):
            value, origin = os.environ[env], "environment"
            if name in _LISTS:
                value = tuple(v.strip() for v in value.split(",") if v.strip())
        elif name in file_values:
            value, origin = file_values[name], "file"
        else:
            value, origin = defaults[name], "default"
            if value is None and user_uid is not None and name in ("root", "runroot"):
                value = rootless.default_root(user_uid) if name == "root" else rootless.default_runroot(user_uid)
        if name == "log_opts":
            value = _log_opts(value)
        if name in ("root", "runroot"):
            value = Path(value).absolute()
        if name in _LISTS:
            value = _list_setting(name, value)
        if name == "layer_max_size" and origin != "default":
            from pyctr.core.units import parse_bytes

            value = parse_bytes(value, what="layer-max-size")
        if name == "log_level" and str(value).lower() not in LOG_LEVELS:
            raise UsageError(f"invalid log level {value!r}; choose one of {', '.join(LOG_LEVELS)}")
        setattr(cfg, name, value)
        cfg.origin[name] = origin
    return cfg


def _list_setting(name: str, value: Any) -> Any:
    if isinstance(value, str):
        value = [value]
    if name == "registry_mirrors" and isinstance(value, dict):
        out = {}
        for registry, mirrors in value.items():
            if isinstance(mirrors, str):
                mirrors = [mirrors]
            if not isinstance(mirrors, list) or not all(isinstance(m, str) for m in mirrors):
                raise UsageError(f"registry-mirrors.{registry} must be a list of mirror URLs")
            out[str(registry)] = tuple(mirrors)
        return out
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{name.replace('_', '-')} must be a list of strings")
    return tuple(value)
