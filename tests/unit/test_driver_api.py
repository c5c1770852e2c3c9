"""The stable API docs/plugins.md promises driver authors, used only through its public names."""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest


def _tar(members: list[tuple[str, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            if data is None:
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                tf.addfile(ti)
            else:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_a_vfs_like_driver_applies_whiteouts_with_the_public_names(tmp_path):
    from pyctr.layers import WHITEOUT_OPAQUE, WHITEOUT_PREFIX, extract_layer, extract_layer_atomic

    base = tmp_path / "base"
    extract_layer_atomic(io.BytesIO(_tar([("etc", None), ("etc/a", b"a"), ("etc/b", b"b"), ("opt", None),
                                          ("opt/x", b"x")])), base)
    extract_layer(io.BytesIO(_tar([(f"etc/{WHITEOUT_PREFIX}a", b""), ("opt", None),
                                   (f"opt/{WHITEOUT_OPAQUE}", b""), ("opt/y", b"y")])), base, whiteouts="delete")
    assert sorted(os.listdir(base / "etc")) == ["b"] and sorted(os.listdir(base / "opt")) == ["y"]


@pytest.mark.skipif(os.geteuid() != 0, reason="overlay whiteouts are 0:0 character devices: root makes them")
def test_an_overlay_like_driver_gets_overlay_whiteouts_and_writes_them_back(tmp_path):
    from pyctr.layers import WHITEOUT_PREFIX, create_layer_tar, extract_layer

    diff = tmp_path / "diff"
    diff.mkdir()
    extract_layer(io.BytesIO(_tar([("etc", None), (f"etc/{WHITEOUT_PREFIX}gone", b""), ("etc/new", b"n")])), diff)
    st = os.lstat(diff / "etc" / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    out = io.BytesIO()
    create_layer_tar(diff, out, mtime=0)
    names = tarfile.open(fileobj=io.BytesIO(out.getvalue())).getnames()
    assert f"etc/{WHITEOUT_PREFIX}gone" in names and "etc/new" in names


def test_a_hostile_layer_is_refused_with_the_documented_error(tmp_path):
    from pyctr.core.errors import ImageError
    from pyctr.layers import extract_layer_atomic

    with pytest.raises(ImageError):
        extract_layer_atomic(io.BytesIO(_tar([("../escape", b"x")])), tmp_path / "layer")
    assert not (tmp_path / "escape").exists() and not (tmp_path / "layer").exists()


def test_the_container_record_has_the_documented_fields():
    from pyctr.core.container import Container

    documented = {"id", "name", "image_id", "spec", "drivers", "status", "pid", "exit_code", "oom_killed",
                  "started", "finished", "root"}
    fields = set(getattr(Container, "__annotations__", {}))
    assert documented <= fields, documented - fields
    assert isinstance(Container.dir, property)


def test_the_documented_driver_names_exist():
    from pyctr.core import drivers, errors

    for name in ("StorageDriver", "NetworkDriver", "VolumeDriver", "CgroupDriver", "RuntimeDriver",
                 "DriverContext", "NetworkAttachment"):
        assert hasattr(drivers, name), name
    for name in ("DriverNotSupported", "PrerequisitesMissing", "IncompatibleFilesystem", "NotFound",
                 "Conflict", "UsageError", "ImageError"):
        assert issubclass(getattr(errors, name), errors.PyctrError), name
