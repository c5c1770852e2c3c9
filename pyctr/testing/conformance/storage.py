"""Storage driver conformance: layers, copy-on-write, whiteouts, crash safety.

Like moby's ``graphtest``: every ``pyctr.storage`` driver must pass it. The
container view is read through :meth:`get` of a writable layer, which is how
the runtime sees it.
"""

from __future__ import annotations

import io
import os
import secrets

import pytest

from pyctr.core.errors import PyctrError
from pyctr.testing.tarbuild import entry, gzip_bytes, tar_bytes

pytestmark = pytest.mark.root


def _id() -> str:
    return secrets.token_hex(32)


def _base_tar() -> bytes:
    return tar_bytes(entry("etc", "dir"), entry("etc/motd", data=b"base\n"), entry("etc/gone", data=b"x"),
                     entry("opq", "dir"), entry("opq/old", data=b"old"), entry("bin", "dir"),
                     entry("bin/tool", data=b"#!/bin/sh\n", mode=0o4755), entry("bin/alias", "symlink", link="tool"))


def _top_tar() -> bytes:
    return tar_bytes(entry("etc/.wh.gone"), entry("opq", "dir"), entry("opq/.wh..wh..opq"),
                     entry("opq/new", data=b"new"), entry("etc/added", data=b"top\n"))


class TestStorageDriverConformance:
    @pytest.fixture
    def layers(self, storage_driver):
        made: list[str] = []
        yield made
        for layer in reversed(made):
            storage_driver.put(layer)
            storage_driver.remove(layer)

    def _two_layers(self, driver, made):
        base, top = _id(), _id()
        driver.apply_diff(base, None, io.BytesIO(_base_tar()))
        made.append(base)
        driver.apply_diff(top, base, io.BytesIO(_top_tar()))
        made.append(top)
        return base, top

    def _container(self, driver, made, parent):
        rw = _id()
        driver.create_rw(rw, parent)
        made.append(rw)
        return rw, driver.get(rw)

    def test_apply_diff_makes_an_existing_layer_with_its_files(self, storage_driver, layers):
        layer = _id()
        size = storage_driver.apply_diff(layer, None, io.BytesIO(_base_tar()))
        layers.append(layer)
        assert storage_driver.exists(layer)
        assert size > 0
        root = storage_driver.get(layer)
        assert (root / "etc/motd").read_bytes() == b"base\n"
        assert os.readlink(root / "bin/alias") == "tool"
        assert os.stat(root / "bin/tool").st_mode & 0o4000  # setuid survives

    def test_compressed_layers_are_accepted(self, storage_driver, layers):
        layer = _id()
        storage_driver.apply_diff(layer, None, io.BytesIO(gzip_bytes(_base_tar())))
        layers.append(layer)
        assert storage_driver.exists(layer)

    def test_container_view_applies_whiteouts_and_opaque_directories(self, storage_driver, layers):
        _, top = self._two_layers(storage_driver, layers)
        _, root = self._container(storage_driver, layers, top)
        assert (root / "etc/motd").read_bytes() == b"base\n"
        assert (root / "etc/added").read_bytes() == b"top\n"
        assert not (root / "etc/gone").exists()
        assert sorted(os.listdir(root / "opq")) == ["new"]

    def test_writes_in_a_container_do_not_change_the_image_layers(self, storage_driver, layers):
        base, top = self._two_layers(storage_driver, layers)
        rw, root = self._container(storage_driver, layers, top)
        (root / "etc/motd").write_text("changed\n")
        os.unlink(root / "etc/added")
        (root / "etc/fresh").write_text("new\n")
        other_rw, other = self._container(storage_driver, layers, top)
        assert (other / "etc/motd").read_bytes() == b"base\n"
        assert (other / "etc/added").exists()
        assert not (other / "etc/fresh").exists()

    def test_remove_is_idempotent_and_exists_turns_false(self, storage_driver):
        layer = _id()
        storage_driver.apply_diff(layer, None, io.BytesIO(_base_tar()))
        storage_driver.remove(layer)
        assert not storage_driver.exists(layer)
        storage_driver.remove(layer)

    def test_a_truncated_layer_fails_and_leaves_nothing(self, storage_driver):
        layer = _id()
        before = set(storage_driver.layers())
        with pytest.raises(PyctrError):
            blob = gzip_bytes(_base_tar())
            storage_driver.apply_diff(layer, None, io.BytesIO(blob[: len(blob) // 2]))
        assert not storage_driver.exists(layer)
        assert set(storage_driver.layers()) - before == set()

    def test_a_layer_cut_at_a_member_boundary_fails_and_leaves_nothing(self, storage_driver, layers):
        """Uncompressed, no diff_id (``import`` of a local tar): only the missing
        end-of-archive marker shows the cut."""
        import tarfile

        full = _base_tar()
        last = tarfile.open(fileobj=io.BytesIO(full)).getmembers()[-1]
        cut = full[:last.offset_data + (last.size + 511) // 512 * 512]
        layer = _id()
        before = set(storage_driver.layers())
        with pytest.raises(PyctrError, match="end-of-archive"):
            storage_driver.apply_diff(layer, None, io.BytesIO(cut))
        assert not storage_driver.exists(layer)
        assert set(storage_driver.layers()) - before == set()
        storage_driver.apply_diff(layer, None, io.BytesIO(full))  # the whole one passes
        layers.append(layer)
        assert storage_driver.exists(layer)

    def test_put_releases_what_get_made_and_is_idempotent(self, storage_driver, layers):
        base, top = self._two_layers(storage_driver, layers)
        rw, root = self._container(storage_driver, layers, top)
        storage_driver.put(rw)
        storage_driver.put(rw)
        with open("/proc/self/mountinfo") as f:
            assert str(root) not in f.read()

    def test_a_volatile_layer_mounts_again_after_a_clean_put(self, storage_driver, layers):
        """``run --rm`` marks its layer volatile (mark_volatile; a no-op by default): the
        layer must still show the image, keep writes until put, mount again and go."""
        _, top = self._two_layers(storage_driver, layers)
        rw = _id()
        storage_driver.create_rw(rw, top)
        layers.append(rw)
        storage_driver.mark_volatile(rw)
        root = storage_driver.get(rw)
        assert (root / "etc/motd").read_bytes() == b"base\n"
        (root / "etc/written").write_bytes(b"kept")
        storage_driver.put(rw)
        root = storage_driver.get(rw)  # a restart before removal
        assert (root / "etc/written").read_bytes() == b"kept"
        storage_driver.put(rw)
        storage_driver.remove(rw)
        assert not storage_driver.exists(rw)

    def test_missing_parent_is_not_found(self, storage_driver):
        with pytest.raises(PyctrError):
            storage_driver.create_rw(_id(), _id())

    def test_metadata_names_existing_directories(self, storage_driver, layers):
        _, top = self._two_layers(storage_driver, layers)
        rw, _ = self._container(storage_driver, layers, top)
        for key, value in storage_driver.metadata(rw).items():
            for path in value.split(":"):
                assert os.path.exists(path), (key, path)
