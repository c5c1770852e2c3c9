"""Docker's mount grammar: from the command line (or an API request) into ``spec.mounts``.

Parsing follows Docker exactly: ``-v`` as moby's linux parser
(``ParseMountRaw``), ``--mount`` as the docker CLI (a CSV record, quoted
fields included) followed by the daemon's validation, ``--tmpfs`` with
Docker's default ``noexec,nosuid,nodev``, ``--volumes-from`` and the image's
``VOLUME`` entries as anonymous volumes. Every error is one line and raised
before anything exists. Making them real is :mod:`pyctr.core.mounts`.
"""

from __future__ import annotations

import os
import posixpath

from pyctr.core.errors import UsageError
from pyctr.core.spec import ANONYMOUS_LABEL, Mount

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.core.engine import Engine


RW_MODES = {"rw", "ro"}
LABEL_MODES = {"z", "Z"}
PROPAGATION_MODES = {"private", "rprivate", "slave", "rslave", "shared", "rshared"}
CONSISTENCY_MODES = {"consistent", "cached", "delegated"}
TMPFS_DEFAULTS = ["noexec", "nosuid", "nodev"]


# ---------------------------------------------------------------------------
# -v / --volume
# ---------------------------------------------------------------------------


def _valid_mode(mode: str) -> bool:
    if mode == "":
        return True
    counts = [0, 0, 0, 0, 0]
    for o in mode.split(","):
        for i, group in enumerate((RW_MODES, LABEL_MODES, PROPAGATION_MODES, {"nocopy"}, CONSISTENCY_MODES)):
            if o in group:
                counts[i] += 1
                break
        else:
            return False
    return max(counts) <= 1


def parse_volume(raw: str, volume_driver: str = "") -> Mount:
    """``-v``: ``/ctr``, ``NAME:/ctr[:MODE]`` or ``/host:/ctr[:MODE]``."""
    arr = raw.split(":", 3)
    bad_spec = f"invalid volume specification: '{raw}'"
    if arr[0] == "":
        raise UsageError(bad_spec)
    mode = ""
    if len(arr) == 1:
        source, target = "", arr[0]
    elif len(arr) == 2:
        if _valid_mode(arr[1]):  # "/foo:rw": a destination with a mode is not a volume
            raise UsageError(bad_spec)
        source, target = arr
    elif len(arr) == 3:
        source, target, mode = arr
    else:
        raise UsageError(bad_spec)
    if not _valid_mode(mode):
        raise UsageError(f"invalid mode: {mode}")
    modes = mode.split(",") if mode else []
    kind = "bind" if posixpath.isabs(source) else "volume"
    m = Mount(type=kind, target=target, source=source, readonly="ro" in modes)
    propagation = next((o for o in modes if o in PROPAGATION_MODES), "")
    try:
        if kind == "bind" and "nocopy" in modes:
            raise UsageError("field VolumeOptions must not be specified")
        if kind == "volume" and propagation:
            raise UsageError("field BindOptions must not be specified")
        m.propagation = propagation
        m.nocopy = "nocopy" in modes
        if kind == "volume":
            m.driver = volume_driver
        else:
            m.create_host_path = True  # -v makes a missing host directory; --mount refuses
        _validate(m, check_source=False)
    except UsageError as e:
        raise UsageError(f"{bad_spec}: {e}") from None
    return m


# ---------------------------------------------------------------------------
# --mount
# ---------------------------------------------------------------------------


def csv_record(value: str) -> list[str]:
    """One record of Go's encoding/csv (what the docker CLI reads --mount with)."""
    fields: list[str] = []
    i, n = 0, len(value)
    while True:
        if i < n and value[i] == '"':
            i += 1
            buf = []
            while True:
                j = value.find('"', i)
                if j < 0:
                    raise UsageError(f'parse error on line 1, column {n + 1}: extraneous or missing " in quoted-field')
                buf.append(value[i:j])
                i = j + 1
                if i < n and value[i] == '"':
                    buf.append('"')
                    i += 1
                    continue
                if i < n and value[i] != ",":
                    raise UsageError(f'parse error on line 1, column {i + 1}: extraneous or missing " in quoted-field')
                break
            fields.append("".join(buf))
        else:
            j = value.find(",", i)
            end = n if j < 0 else j
            field = value[i:end]
            if '"' in field:
                col = i + field.index('"') + 1
                raise UsageError(f'parse error on line 1, column {col}: bare " in non-quoted-field')
            fields.append(field)
            i = end
        if i >= n:
            return fields
        i += 1  # the comma
        if i == n:
            fields.append("")
            return fields


def _parse_bool(key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise UsageError(f"invalid value for {key}: {value}")


def parse_mount(value: str) -> Mount:
    """``--mount type=...,source=...,target=...``, as the docker CLI and daemon read it."""
    from pyctr.kernel.mountopts import ram_in_bytes, tmpfs_size

    def fail(message: str) -> UsageError:
        return UsageError(f'invalid argument "{value}" for "--mount" flag: {message}')

    try:
        fields = csv_record(value)
    except UsageError as e:
        raise fail(str(e)) from None
    m = Mount(type="volume", target="")
    used: set[str] = set()  # which option families appeared: volume, bind, tmpfs
    tmpfs: list[str] = []
    for field in fields:
        key, has_value, val = field.partition("=")
        key = key.lower()
        if not has_value:
            if key in ("readonly", "ro"):
                m.readonly = True
                continue
            if key == "volume-nocopy":
                m.nocopy = True
                used.add("volume")
                continue
        try:
            if key == "type":
                m.type = val.lower()
            elif key in ("source", "src"):
                m.source = os.path.abspath(val) if val == "." or val.startswith("./") else val
            elif key in ("target", "dst", "destination"):
                m.target = val
            elif key in ("readonly", "ro"):
                m.readonly = _parse_bool(key, val)
            elif key == "consistency":
                pass  # accepted for compatibility; meaningless on Linux
            elif key == "bind-propagation":
                m.propagation = val.lower()
                used.add("bind")
            elif key == "volume-nocopy":
                m.nocopy = _parse_bool("volume-nocopy", val)
                used.add("volume")
            elif key == "volume-driver":
                m.driver = val
                used.add("volume")
            elif key in ("volume-label", "volume-opt"):  # KEY=VALUE; an empty KEY is ignored, as Docker does
                k, _, v = val.partition("=")
                if k:
                    (m.labels if key == "volume-label" else m.driver_options)[k] = v
                used.add("volume")
            elif key in ("tmpfs-size", "tmpfs-mode"):
                try:
                    tmpfs.append(f"size={tmpfs_size(ram_in_bytes(val))}" if key == "tmpfs-size"
                                 else f"mode={int(val, 8):o}")
                except ValueError:
                    raise UsageError(f"invalid value for {key}: {val}") from None
                used.add("tmpfs")
            else:
                raise UsageError(f"unexpected key '{key}' in '{field}'")
        except UsageError as e:
            raise fail(str(e)) from None
    if not m.type:
        raise fail("type is required")
    if not m.target:
        raise fail("target is required")
    for family in sorted(used):
        if family != m.type:
            raise fail(f"cannot mix '{family}-*' options with mount type '{m.type}'")
    if m.type == "tmpfs":
        m.options = (["ro"] if m.readonly else []) + tmpfs
    _validate(m, check_source=True)
    if m.type == "volume" and not m.source:
        _make_anonymous(m)
    return m


def _validate(m: Mount, check_source: bool) -> None:
    """The daemon's validateMountConfig: one line, prefixed with the mount type."""

    def fail(message: str) -> UsageError:
        return UsageError(f'invalid mount config for type "{m.type}": {message}')

    if not m.target:
        raise fail("field Target must not be empty")
    if posixpath.normpath("/" + m.target.lstrip("/")) == "/" and m.target.startswith("/"):
        raise fail("invalid specification: destination can't be '/'")
    if not posixpath.isabs(m.target):
        raise fail(f"invalid mount path: '{m.target}' mount path must be absolute")
    if m.type == "bind":
        if not m.source:
            raise fail("field Source must not be empty")
        if m.propagation and m.propagation not in PROPAGATION_MODES:
            raise fail(f"invalid propagation mode: {m.propagation}")
        if not posixpath.isabs(m.source):
            raise fail(f"invalid mount path: '{m.source}' mount path must be absolute")
        if check_source and not os.path.lexists(m.source):
            raise fail(f"bind source path does not exist: {m.source}")
    elif m.type == "volume":
        if m.readonly and not m.source:
            raise fail("must not set ReadOnly mode when using anonymous volumes")
        if m.source:
            from pyctr.core.volumes import validate_name

            validate_name(m.source)
    elif m.type == "tmpfs":
        if m.source:
            raise fail("field Source must not be specified")
    else:
        raise fail("mount type unknown")


def _make_anonymous(m: Mount) -> None:
    m.source = os.urandom(32).hex()
    m.labels = {ANONYMOUS_LABEL: "", **m.labels}


# ---------------------------------------------------------------------------
# --tmpfs, --volumes-from, image VOLUME, and putting it all together
# ---------------------------------------------------------------------------


def parse_tmpfs(raw: str) -> Mount:
    """``--tmpfs /path[:options]`` with Docker's defaults ``noexec,nosuid,nodev``."""
    from pyctr.kernel.mountopts import merge

    target, _, opts = raw.partition(":")
    m = Mount(type="tmpfs", target=target)
    m.options = merge(TMPFS_DEFAULTS + (opts.split(",") if opts else []))
    m.readonly = "ro" in m.options
    try:
        _validate(m, check_source=False)
    except UsageError as e:
        raise UsageError(f"invalid --tmpfs '{raw}': {e}") from None
    return m


def parse_volumes_from(engine: Engine, raw: str) -> list[Mount]:
    """The volume and bind mounts of another container; ``:ro`` makes them read-only."""
    from pyctr.core.container import lookup

    if not raw:
        raise UsageError("volumes-from specification cannot be an empty string")
    ref, _, mode = raw.partition(":")
    if mode and (not _valid_mode(mode) or any(o in PROPAGATION_MODES or o == "nocopy" for o in mode.split(","))):
        raise UsageError(f"invalid mode: {mode}")
    other = lookup(engine.db, engine.config.root, ref)
    forced_ro = "ro" in mode.split(",")
    return [m.replace(readonly=m.readonly or forced_ro, labels=dict(m.labels), driver_options=dict(m.driver_options))
            for m in other.spec.mounts if m.type in ("volume", "bind")]


def clean_target(target: str) -> str:
    return posixpath.normpath("/" + target.lstrip("/"))


def build(engine: Engine, *, volumes: tuple[str, ...] = (), mounts: tuple[str, ...] = (),
          tmpfs: tuple[str, ...] = (), volumes_from: tuple[str, ...] = (), volume_driver: str = "",
          image_config: dict[str, Any] | None = None, check: bool = True,
          existing: list[Mount] | tuple[Mount, ...] = ()) -> list[Mount]:
    """Every mount of a new container, in the order they must be made (parents first);
    ``check`` asks the drivers of volumes still to be created whether they can (see below)."""
    driver = volume_driver or (engine.config.volume_driver or "")
    user: list[Mount] = list(existing) + [parse_volume(v, driver) for v in volumes]  # existing: --init's binary
    for value in mounts:
        m = parse_mount(value)
        if m.type == "volume" and not m.driver:
            m.driver = driver
        user.append(m)
    user += [parse_tmpfs(t) for t in tmpfs]
    taken: dict[str, Mount] = {}
    for m in user:
        m.target = clean_target(m.target)
        if m.type == "volume" and not m.source:
            _make_anonymous(m)
        if m.target in taken:
            raise UsageError(f"Duplicate mount point: {m.target}")
        taken[m.target] = m
    for ref in volumes_from:
        for m in parse_volumes_from(engine, ref):
            taken.setdefault(m.target, m)
    image_volumes = ((image_config or {}).get("config") or {}).get("Volumes") or {}
    for path in sorted(image_volumes):
        target = clean_target(path)
        if target != "/" and target not in taken:
            m = Mount(type="volume", target=target, driver=driver)
            _make_anonymous(m)
            taken[target] = m
    ordered = sorted(taken.values(), key=lambda m: len([p for p in m.target.split("/") if p]))  # Docker's sortMounts
    if check:
        check_new_volumes(engine, ordered)
    return ordered


def check_new_volumes(engine: Engine, ms: list[Mount]) -> None:
    """Before anything exists: each volume still to be created has a driver that works here
    and takes its options (``validate``, where the driver has one), so a kernel without
    NFS fails ``run`` now, in one line, instead of leaving a container behind."""
    if not any(m.type == "volume" for m in ms):
        return  # (and the volumes module stays unimported: most runs have no volume)
    from pyctr.core import volumes

    for m in ms:
        if m.type != "volume" or volumes.get(engine, m.source) is not None:
            continue
        drv = volumes.driver(engine, m.driver or engine.config.volume_driver or volumes.DEFAULT_DRIVER)
        validate = getattr(drv, "validate", None)
        if validate is not None:
            validate(dict(m.driver_options))
