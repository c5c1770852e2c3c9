"""Global settings: flag > environment (``PYCTR_*``) > config file > host-aware default.

The config file is TOML: ``$PYCTR_CONFIG`` or ``/etc/pyctr/pyctr.toml``, keys
named as the long flags with dashes or underscores (``storage-driver = "vfs"``),
plus ``insecure-registries = ["localhost:5000"]``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pyctr.core.errors import UsageError
from pyctr.core.records import Record, factory

DEFAULT_CONFIG_FILE = "/etc/pyctr/pyctr.toml"

#: setting name -> (default, environment variable)
SETTINGS: dict[str, tuple[Any, str]] = {
    "root": ("/var/lib/pyctr", "PYCTR_ROOT"),
    "runroot": ("/run/pyctr", "PYCTR_RUNROOT"),
    "storage_driver": (None, "PYCTR_STORAGE_DRIVER"),
    "network": (None, "PYCTR_NETWORK"),
    "volume_driver": (None, "PYCTR_VOLUME_DRIVER"),
    "cgroup_manager": (None, "PYCTR_CGROUP_MANAGER"),
    "cgroup_subtree": ("", "PYCTR_CGROUP_SUBTREE"),
    "log_level": ("warning", "PYCTR_LOG_LEVEL"),
    "insecure_registries": ((), "PYCTR_INSECURE_REGISTRIES"),
}

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class Config(Record):
    root: Path = Path("/var/lib/pyctr")
    runroot: Path = Path("/run/pyctr")
    storage_driver: str | None = None
    network: str | None = None
    volume_driver: str | None = None
    cgroup_manager: str | None = None
    #: containers without --cgroup-parent go here, below the cgroup pyctr runs in (never above it)
    cgroup_subtree: str = ""
    log_level: str = "warning"
    insecure_registries: tuple[str, ...] = ()
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


def load(flags: dict[str, Any]) -> Config:
    """Resolve every setting from flags (None = not given), environment, file, default."""
    explicit_file = os.environ.get("PYCTR_CONFIG")
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
            if name == "insecure_registries":
                value = tuple(v.strip() for v in value.split(",") if v.strip())
        elif name in file_values:
            value, origin = file_values[name], "file"
        else:
            value, origin = default, "default"
        if name in ("root", "runroot"):
            value = Path(value).absolute()
        if name == "insecure_registries":
            value = tuple(value)
        if name == "log_level" and str(value).lower() not in LOG_LEVELS:
            raise UsageError(f"invalid log level {value!r}; choose one of {', '.join(LOG_LEVELS)}")
        setattr(cfg, name, value)
        cfg.origin[name] = origin
    return cfg
