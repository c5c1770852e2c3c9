"""The entry-point index (pyctr.core.entrypoints) is rebuilt whenever what it answers could differ."""

from __future__ import annotations

import json

from pyctr.core import entrypoints


def test_an_index_written_for_other_groups_is_not_used(tmp_path, monkeypatch):
    """An index written by a pyctr that had fewer groups (same interpreter, sys.path and
    distributions) read as current made `pyctr run` say "no usable runtime driver here
    (none installed)": the groups are part of the key."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(entrypoints, "_index", None)
    fresh = entrypoints.index()
    assert fresh["pyctr.runtime"], "pyctr's own runtime driver is installed"
    path = entrypoints._cache_file()
    # the file an older pyctr (without the pyctr.runtime group) wrote for this very sys.path
    older_groups = tuple(g for g in entrypoints.GROUPS if g != "pyctr.runtime")
    monkeypatch.setattr(entrypoints, "GROUPS", older_groups)
    old_key = entrypoints._key()
    with open(path, "w") as f:
        json.dump({"key": old_key, "groups": {g: [list(e) for e in fresh[g]] for g in older_groups}}, f)
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(entrypoints, "_index", None)
    assert entrypoints.group("pyctr.runtime") == fresh["pyctr.runtime"]
    # and the current index is used as it is, without a rescan
    monkeypatch.setattr(entrypoints, "_index", None)
    monkeypatch.setattr(entrypoints, "_scan", lambda: (_ for _ in ()).throw(AssertionError("rescanned")))
    assert entrypoints.group("pyctr.runtime") == fresh["pyctr.runtime"]
