"""Platforms as the OCI image spec names them (``os/architecture[/variant]``).

The default is the host's, as Docker's: ``uname -m`` mapped to Go's
``GOARCH`` names (x86_64 -> amd64, aarch64 -> arm64, armv7l -> arm/v7).
``--platform`` accepts what Docker accepts: ``linux/arm64``, ``linux/arm/v7``,
``arm64`` (the OS defaults to linux), ``linux/aarch64``, ``linux/x86_64``.
"""

from __future__ import annotations

import os

from pyctr.core.errors import UsageError

#: uname -m / common aliases -> (GOARCH, variant)
_ARCH = {
    "x86_64": ("amd64", ""), "x86-64": ("amd64", ""), "amd64": ("amd64", ""),
    "aarch64": ("arm64", ""), "arm64": ("arm64", ""), "armv8": ("arm64", "v8"), "armv8l": ("arm", "v8"),
    "armv7l": ("arm", "v7"), "armv7": ("arm", "v7"), "armhf": ("arm", "v7"), "armel": ("arm", "v6"),
    "armv6l": ("arm", "v6"), "armv6": ("arm", "v6"), "armv5tel": ("arm", "v5"), "arm": ("arm", ""),
    "i386": ("386", ""), "i486": ("386", ""), "i586": ("386", ""), "i686": ("386", ""), "386": ("386", ""),
    "ppc64le": ("ppc64le", ""), "ppc64": ("ppc64", ""), "s390x": ("s390x", ""), "riscv64": ("riscv64", ""),
    "mips64le": ("mips64le", ""), "mips64": ("mips64", ""), "loong64": ("loong64", ""), "loongarch64": ("loong64", ""),
}


def host() -> str:
    """This machine's platform, e.g. ``linux/amd64`` or ``linux/arm/v7``."""
    arch, variant = _ARCH.get(os.uname().machine.lower(), (os.uname().machine.lower(), ""))
    if arch == "arm" and not variant:
        variant = "v7"
    return f"linux/{arch}/{variant}" if variant else f"linux/{arch}"


def normalize(value: str | None) -> str:
    """``--platform``'s value, normalised; None or "" -> the host's."""
    if not value:
        return host()
    parts = value.strip().lower().split("/")
    if len(parts) == 1:
        parts = ["linux", parts[0]]
    if len(parts) > 3 or not all(parts):
        raise UsageError(f"invalid platform {value!r}: want os/arch[/variant]")
    os_, arch = parts[0], parts[1]
    variant = parts[2] if len(parts) == 3 else ""
    if arch in _ARCH:
        arch, implied = _ARCH[arch]
        variant = variant or implied
    if arch == "arm64" and variant == "v8":
        variant = ""  # arm64 is v8 unless said otherwise
    if arch == "arm" and not variant:
        variant = "v7"
    return f"{os_}/{arch}/{variant}" if variant else f"{os_}/{arch}"


def split(platform: str) -> tuple[str, str, str]:
    parts = normalize(platform).split("/")
    return parts[0], parts[1], parts[2] if len(parts) > 2 else ""


def matches(entry: dict, platform: str) -> bool:
    """Whether an index entry (``{"platform": {...}}``) or an image config is for ``platform``."""
    os_, arch, variant = split(platform)
    p = entry.get("platform") if isinstance(entry.get("platform"), dict) else entry
    if p.get("os") != os_ or p.get("architecture") != arch:
        return False
    got = p.get("variant") or ""
    if arch == "arm64":
        return (got or "v8") == (variant or "v8")
    if arch == "arm":
        return (got or "v7") == variant
    return not variant or got == variant
