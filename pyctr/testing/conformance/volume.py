"""Volume driver conformance: what every ``pyctr.volume`` driver must do."""

from __future__ import annotations

import os
import secrets

import pytest

from pyctr.core.errors import Conflict, NotFound, PyctrError


def _name() -> str:
    return "conf" + secrets.token_hex(4)


class TestVolumeDriverConformance:
    def test_create_gives_a_writable_directory(self, volume_driver):
        name = _name()
        volume_driver.create(name, {})
        try:
            path = volume_driver.mount(name, "c1")
            assert os.path.isdir(path)
            (path / "file").write_text("data")
            assert (volume_driver.path(name) / "file").read_text() == "data"
            volume_driver.unmount(name, "c1")
        finally:
            volume_driver.remove(name)

    def test_listed_after_create_and_gone_after_remove(self, volume_driver):
        name = _name()
        volume_driver.create(name, {})
        assert name in volume_driver.list()
        volume_driver.remove(name)
        assert name not in volume_driver.list()

    def test_data_survives_unmount_and_remount(self, volume_driver):
        name = _name()
        volume_driver.create(name, {})
        try:
            (volume_driver.mount(name, "c1") / "kept").write_text("1")
            volume_driver.unmount(name, "c1")
            assert (volume_driver.mount(name, "c2") / "kept").read_text() == "1"
            volume_driver.unmount(name, "c2")
        finally:
            volume_driver.remove(name)

    def test_remove_refuses_a_volume_in_use(self, volume_driver):
        name = _name()
        volume_driver.create(name, {})
        volume_driver.mount(name, "c1")
        with pytest.raises(Conflict):
            volume_driver.remove(name)
        volume_driver.unmount(name, "c1")
        volume_driver.remove(name)

    def test_reference_counting_keeps_data_available_until_last_user(self, volume_driver):
        name = _name()
        volume_driver.create(name, {})
        try:
            first = volume_driver.mount(name, "c1")
            second = volume_driver.mount(name, "c2")
            volume_driver.unmount(name, "c1")
            assert os.path.isdir(second) and os.path.samefile(first, second)
            volume_driver.unmount(name, "c2")
        finally:
            volume_driver.remove(name)

    def test_remove_of_missing_volume_is_not_found(self, volume_driver):
        with pytest.raises(NotFound):
            volume_driver.remove(_name())

    @pytest.mark.parametrize("bad", ["../escape", "a/b", ".hidden", ""])
    def test_invalid_names_are_refused_without_creating_anything(self, volume_driver, bad):
        before = set(volume_driver.list())
        with pytest.raises(PyctrError):
            volume_driver.create(bad, {})
        assert set(volume_driver.list()) == before
