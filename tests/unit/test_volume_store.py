"""The volume store: intent before the driver runs, repair of a killed create, in-use refusal.

Uses the real ``local`` driver with plain directories (no mounts, no root).
"""

from __future__ import annotations

import json
import time

import pytest

from pyctr.core import volumes
from pyctr.core.config import Config
from pyctr.core.engine import Engine
from pyctr.core.errors import Conflict, NotFound, UsageError
from pyctr.core.state import transaction


@pytest.fixture
def engine(tmp_path):
    eng = Engine(Config(root=tmp_path / "root", runroot=tmp_path / "run"))
    yield eng
    from pyctr.core.plugins import plugins

    for drv in list(eng._drivers.values()):
        plugins.unregister(drv)


def _killed_create(engine: Engine, name: str) -> None:
    """What a pyctr killed after recording intent and letting the driver start leaves."""
    volumes.get(engine, "x")  # migrations
    with transaction(engine.db):
        engine.db.execute("INSERT INTO volumes(name, driver, options, labels, created, complete)"
                          " VALUES (?, 'local', '{}', '{}', ?, 0)", (name, time.time()))
    volumes.driver(engine, "local").create(name, {})


def test_a_killed_create_is_finished_by_the_next_create(engine):
    _killed_create(engine, "half")
    assert volumes.get(engine, "half") is None  # not shown while incomplete
    vol, created = volumes.create(engine, "half")
    assert created and vol.complete and volumes.get(engine, "half") is not None
    assert [v.name for v in volumes.list_all(engine)] == ["half"]


def test_reconcile_removes_half_created_volumes(engine):
    _killed_create(engine, "half")
    assert volumes.reconcile(engine) == ["removed half-created volume half"]
    assert not (engine.config.root / "volumes" / "half").exists()
    assert "half" not in volumes.driver(engine, "local").list()
    assert engine.db.execute("SELECT COUNT(*) FROM volumes").fetchone()[0] == 0


def test_a_refused_create_leaves_nothing(engine):
    with pytest.raises(UsageError, match='invalid option: "bogus"'):
        volumes.create(engine, "bad", "local", {"bogus": "1"})
    assert engine.db.execute("SELECT COUNT(*) FROM volumes").fetchone()[0] == 0
    assert not (engine.config.root / "volumes" / "bad").exists()


def test_create_returns_the_existing_volume_and_refuses_another_explicit_driver(engine):
    vol, created = volumes.create(engine, "one", labels={"a": "b"})
    again, created_again = volumes.create(engine, "one", "local", {}, explicit_driver=True)
    assert created and not created_again and again.labels == {"a": "b"}
    with pytest.raises(Conflict, match="already exists with driver local"):
        volumes.create(engine, "one", "nfs", {"share": "h:/e"}, explicit_driver=True)


def test_remove_refuses_a_volume_named_by_any_container(engine):
    from pyctr.core.container import Container
    from pyctr.core.spec import ContainerSpec, Mount

    volumes.create(engine, "used")
    spec = ContainerSpec(mounts=[Mount(type="volume", target="/u", source="used")])
    c = Container(id="a" * 64, name="stopped", image_id="x", spec=spec, drivers={}, status="exited",
                  root=engine.config.root)
    with transaction(engine.db):
        c.insert(engine.db)
    with pytest.raises(Conflict, match=f"volume is in use - \\[{'a' * 64}\\]"):
        volumes.remove(engine, "used")
    with transaction(engine.db):
        engine.db.execute("DELETE FROM containers")
    volumes.remove(engine, "used")
    with pytest.raises(NotFound, match="no such volume: used"):
        volumes.remove(engine, "used")
    volumes.remove(engine, "used", force=True)


def test_options_and_labels_are_kept(engine):
    volumes.create(engine, "opts", "local", {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}, {"k": "v"})
    row = engine.db.execute("SELECT options, labels FROM volumes WHERE name = 'opts'").fetchone()
    assert json.loads(row[0]) == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    assert json.loads(row[1]) == {"k": "v"}
    assert volumes.driver(engine, "local").options("opts") == json.loads(row[0])
