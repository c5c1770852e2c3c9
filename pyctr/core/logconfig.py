"""Log drivers and their ``--log-opt`` options, checked as Docker checks them.

Only the check and the parsed values live here; the monitor writes the log
(:mod:`pyctr.runtime.monitor`) and :mod:`pyctr.runtime.logfiles` reads it.
Every error is one line (a :class:`UsageError`, exit 125), raised before the
container exists.
"""

from __future__ import annotations

from pyctr.core.errors import UsageError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

#: the drivers pyctr has; ``none`` keeps nothing (and ``logs`` says so)
LOG_DRIVERS = ("json-file", "none")

#: the options each driver accepts (Docker's json-file list)
DRIVER_OPTIONS = {
    "json-file": ("max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag"),
    "none": (),
}


def parse_log_opts(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``--log-opt KEY=VALUE`` (repeatable) as a dict."""
    opts: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"invalid --log-opt {item!r}: want KEY=VALUE")
        opts[key] = value
    return opts


def validate(driver: str, opts: dict[str, str]) -> dict[str, str]:
    """Check ``driver`` and its options; return the options unchanged (they are stored as given)."""
    if driver not in LOG_DRIVERS:
        raise UsageError(f"unknown log driver {driver!r}: pyctr has {', '.join(LOG_DRIVERS)}")
    allowed = DRIVER_OPTIONS[driver]
    for key in opts:
        if key not in allowed:
            raise UsageError(f"unknown log opt '{key}' for {driver} log driver")
    if driver == "json-file":
        rotation(opts)
    return opts


def rotation(opts: dict[str, str]) -> tuple[int, int, bool]:
    """(max size in bytes or -1, number of files, compress) from json-file options, as Docker reads them."""
    max_size = -1
    if "max-size" in opts:
        from pyctr.core.units import parse_bytes

        # go-units' FromHumanSize: decimal multiples (1m = 1,000,000 bytes)
        max_size = parse_bytes(opts["max-size"], what="max-size", decimal=True)
        if max_size <= 0:
            raise UsageError("invalid max-size: it must be a positive number")
    max_file = 1
    if "max-file" in opts:
        text = opts["max-file"].strip()
        if not text.lstrip("-").isdigit():
            raise UsageError(f"invalid max-file {opts['max-file']!r}: not a number")
        max_file = int(text)
        if max_file < 1:
            raise UsageError("invalid max-file: it cannot be less than 1")
    compress = False
    if "compress" in opts:
        compress = _parse_bool(opts["compress"], "compress")
        if compress and (max_file == 1 or max_size == -1):
            raise UsageError("compress cannot be true when max-file is less than 2 or max-size is not set")
    return max_size, max_file, compress


def _parse_bool(text: str, what: str) -> bool:
    # Go's strconv.ParseBool
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise UsageError(f"invalid {what} value {text!r}: true or false")


def extra_attributes(opts: dict[str, str], container_id: str, name: str, image: str, image_id: str,
                     labels: dict[str, str], env: list[str]) -> dict[str, str]:
    """The ``attrs`` each json-file entry carries (``labels``, ``env``, their regex forms, ``tag``),
    as Docker's ``ExtraAttributes``; ``logs --details`` shows them."""
    import re

    attrs: dict[str, str] = {}
    for key in (k for k in opts.get("labels", "").split(",") if k):
        if key in labels:
            attrs[key] = labels[key]
    environment = dict(e.split("=", 1) for e in env if "=" in e)
    for key in (k for k in opts.get("env", "").split(",") if k):
        if key in environment:
            attrs[key] = environment[key]
    for option, source in (("labels-regex", labels), ("env-regex", environment)):
        if opts.get(option):
            try:
                pattern = re.compile(opts[option])
            except re.error as e:
                raise UsageError(f"invalid {option} {opts[option]!r}: {e}") from None
            attrs.update({k: v for k, v in source.items() if pattern.match(k)})
    if "tag" in opts:
        fields = {"{{.ID}}": container_id[:12], "{{.FullID}}": container_id, "{{.Name}}": name,
                  "{{.ImageName}}": image, "{{.ImageID}}": image_id.removeprefix("sha256:")[:12],
                  "{{.ImageFullID}}": image_id, "{{.DaemonName}}": "pyctr"}
        tag = opts["tag"]
        for field, value in fields.items():
            tag = tag.replace(field, value)
        attrs["tag"] = tag
    return attrs


def from_options(driver: str | None, log_opts: tuple[str, ...] | list[str], config: Any) -> tuple[str, dict[str, str]]:
    """The container's driver and options: the flags, else the configured default; the configured
    options apply when the driver is the configured one and the flag does not set them (as Docker)."""
    default_driver, default_opts = defaults(config)
    chosen = driver or default_driver
    opts = parse_log_opts(log_opts)
    if chosen == default_driver:
        opts = {**default_opts, **opts}
    return chosen, validate(chosen, opts)


def defaults(config: Any) -> tuple[str, dict[str, str]]:
    """The configured default driver and options (``log-driver``/``log-opts`` in pyctr.toml)."""
    driver = getattr(config, "log_driver", None) or "json-file"
    opts = dict(getattr(config, "log_opts", None) or {})
    return driver, opts
