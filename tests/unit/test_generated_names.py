"""Unnamed containers get Docker-style names reserved by the record's insert itself, so two
creates at once never fail with a name conflict (Docker's generateNewName: six random names,
from the second on with a digit, then the short id)."""

from __future__ import annotations

import os
import threading

import pytest

from pyctr.core import lifecycle, names
from pyctr.core.container import Container
from pyctr.core.errors import Conflict
from pyctr.core.spec import ContainerSpec
from pyctr.core.state import connect, transaction


def _container(root) -> Container:
    return Container(id=os.urandom(32).hex(), name="", image_id="sha256:" + "0" * 64, spec=ContainerSpec(),
                     drivers={}, root=root)


def _insert_unnamed(root) -> Container:
    db = connect(root)
    try:
        c = _container(root)
        with transaction(db):
            lifecycle._insert_with_a_generated_name(db, c)
        return c
    finally:
        db.close()


def test_names_look_like_dockers_and_never_boring_wozniak():
    for retry in (0, 1, 5):
        for _ in range(200):
            name = names.random_name(retry)
            left, _, right = name.partition("_")
            assert left in names.LEFT
            base = right.rstrip("0123456789")
            assert base in names.RIGHT and name != "boring_wozniak"
            assert len(right) - len(base) == (1 if retry else 0)


def test_a_taken_name_makes_the_insert_take_the_next(tmp_path, monkeypatch):
    # a generator with one name (and its ten digit variants): every collision path is taken
    monkeypatch.setattr(names, "LEFT", ("jolly",))
    monkeypatch.setattr(names, "RIGHT", ("hopper",))
    made = [_insert_unnamed(tmp_path) for _ in range(12)]
    got = [c.name for c in made]
    assert len(set(got)) == 12
    assert got[0] == "jolly_hopper"
    assert all(n == "jolly_hopper" or n[:-1] == "jolly_hopper" or n == c.id[:12] for n, c in zip(got, made))
    assert all(c.spec.name == c.name for c in made)
    db = connect(tmp_path)
    assert sorted(r[0] for r in db.execute("SELECT name FROM containers")) == sorted(got)
    db.close()


def test_when_every_name_is_taken_the_short_id_is_the_name(tmp_path, monkeypatch):
    monkeypatch.setattr(names, "random_name", lambda retry=0: "jolly_hopper")
    first, second = _insert_unnamed(tmp_path), _insert_unnamed(tmp_path)
    assert first.name == "jolly_hopper" and second.name == second.id[:12]


def test_an_id_conflict_after_every_name_is_still_a_conflict(tmp_path, monkeypatch):
    monkeypatch.setattr(names, "random_name", lambda retry=0: "jolly_hopper")
    a = _insert_unnamed(tmp_path)
    db = connect(tmp_path)
    b = _container(tmp_path)
    b.id = a.id[:12] + b.id[12:]
    with transaction(db):
        db.execute("UPDATE containers SET name = ? WHERE id = ?", (a.id[:12], a.id))
    db.execute("INSERT INTO containers(id, name, image_id, spec, drivers, status, created, runtime)"
               " VALUES ('x', 'jolly_hopper', '', '{}', '{}', 'created', 0, '{}')")
    with pytest.raises(Conflict), transaction(db):
        lifecycle._insert_with_a_generated_name(db, b)
    db.close()


def test_concurrent_unnamed_inserts_never_conflict(tmp_path, monkeypatch):
    # 3 names x 11 variants for 24 writers at once: a name checked first and inserted later
    # would collide here nearly every time
    monkeypatch.setattr(names, "LEFT", ("jolly",))
    monkeypatch.setattr(names, "RIGHT", ("hopper", "turing", "curie"))
    connect(tmp_path).close()
    start = threading.Barrier(24)
    made: list[Container] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            start.wait()
            made.append(_insert_unnamed(tmp_path))
        except BaseException as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({c.name for c in made}) == 24
