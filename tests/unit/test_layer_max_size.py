"""The ``layer-max-size`` setting: parsed as go-units sizes from the file or PYCTR_LAYER_MAX_SIZE,
handed to the storage driver as its option, and enforced by the extraction."""

from __future__ import annotations

import io

import pytest

from pyctr.core import config
from pyctr.core.engine import Engine
from pyctr.core.errors import ImageError, UsageError
from pyctr.layers import extract_layer
from pyctr.testing.corpus import compression_bombs


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("PYCTR_CONFIG", str(tmp_path / "pyctr.toml"))
    monkeypatch.delenv("PYCTR_LAYER_MAX_SIZE", raising=False)
    return tmp_path


def test_default_then_file_then_environment(env, monkeypatch):
    cfg = config.load({})
    assert cfg.layer_max_size == 8 << 30 and cfg.origin["layer_max_size"] == "default"
    (env / "pyctr.toml").write_text('layer-max-size = "512m"\n')
    assert config.load({}).layer_max_size == 512 << 20
    (env / "pyctr.toml").write_text("layer_max_size = 1048576\n")
    assert config.load({}).layer_max_size == 1 << 20
    monkeypatch.setenv("PYCTR_LAYER_MAX_SIZE", "2GiB")
    cfg = config.load({})
    assert cfg.layer_max_size == 2 << 30 and cfg.origin["layer_max_size"] == "environment"
    monkeypatch.setenv("PYCTR_LAYER_MAX_SIZE", "0")
    assert config.load({}).layer_max_size == 0


@pytest.mark.parametrize("value", ['"lots"', "-5", "true", '"1x"'])
def test_bad_values_are_one_line(env, value):
    (env / "pyctr.toml").write_text(f"layer-max-size = {value}\n")
    with pytest.raises(UsageError, match="layer-max-size"):
        config.load({})


def test_the_storage_driver_gets_the_limit_as_its_option(env, monkeypatch):
    monkeypatch.setenv("PYCTR_ROOT", str(env / "root"))
    monkeypatch.setenv("PYCTR_RUNROOT", str(env / "run"))
    monkeypatch.setenv("PYCTR_STORAGE_DRIVER", "vfs")
    assert Engine(config.load({})).storage.layer_max_size == 8 << 30
    monkeypatch.setenv("PYCTR_LAYER_MAX_SIZE", "3m")
    assert Engine(config.load({})).storage.layer_max_size == 3 << 20
    monkeypatch.setenv("PYCTR_LAYER_MAX_SIZE", "0")
    assert Engine(config.load({})).storage.layer_max_size is None


def test_extraction_names_the_setting_and_none_means_no_limit(tmp_path):
    _name, blob = compression_bombs(4 << 20)[0]
    (tmp_path / "a").mkdir()
    with pytest.raises(ImageError, match=r"more than 1048576 bytes \(the layer-max-size setting\)"):
        extract_layer(io.BytesIO(blob), tmp_path / "a", max_size=1 << 20, limit_name="layer-max-size")
    (tmp_path / "b").mkdir()
    assert extract_layer(io.BytesIO(blob), tmp_path / "b", max_size=None) == 4 << 20
