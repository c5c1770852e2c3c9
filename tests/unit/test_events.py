"""The event journal: Docker's event shape, appends from many processes, rotation, following, filters."""

from __future__ import annotations

import multiprocessing
import os

from pyctr.core import events


def _write_many(runroot: str, tag: str, n: int) -> None:
    for i in range(n):
        events.append(runroot, events.make_event("container", "start", f"{tag}{i}", {"name": f"{tag}{i}"}))


def test_docker_shape():
    e = events.make_event("container", "die", "abc", {"name": "web", "image": "busybox", "exitCode": 3})
    assert e["status"] == "die" and e["id"] == "abc" and e["from"] == "busybox"
    assert e["Type"] == "container" and e["Action"] == "die" and e["scope"] == "local"
    assert e["Actor"] == {"ID": "abc", "Attributes": {"name": "web", "image": "busybox", "exitCode": "3"}}
    assert e["time"] == e["timeNano"] // 10**9
    n = events.make_event("network", "connect", "netid", {"container": "abc"})
    assert "status" not in n and "id" not in n


def test_appends_from_several_processes_never_interleave(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "MAX_BYTES", 20_000)  # rotations happen while they write
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), tag, 200)) for tag in "abcd"]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    path = events.journal_path(tmp_path)
    rotated = path.with_name(events.FILE_NAME + ".1")
    assert rotated.exists() and os.path.getsize(path) <= 20_000
    kept = list(events.read(tmp_path))
    assert all(e["Action"] == "start" for e in kept)  # every line whole
    ids = [e["id"] for e in kept]
    assert len(ids) == len(set(ids))
    for tag in "abcd":  # each writer's own order holds
        mine = [int(i[1:]) for i in ids if i[0] == tag]
        assert mine == sorted(mine)


def test_follower_sees_new_events_across_a_rotation(tmp_path, monkeypatch):
    events.append(tmp_path, events.make_event("container", "create", "old"))
    follower = events.Follower(tmp_path)
    assert follower.poll() == []  # it starts at the end
    size = os.path.getsize(events.journal_path(tmp_path))  # one event's line
    monkeypatch.setattr(events, "MAX_BYTES", size * 4 + 10)  # one rotation among the six below
    for i in range(6):
        events.append(tmp_path, events.make_event("container", "start", f"n{i}"))
    assert events.journal_path(tmp_path).with_name(events.FILE_NAME + ".1").exists()
    seen = [e["id"] for e in follower.poll()]
    assert seen == [f"n{i}" for i in range(6)]
    follower.close()


def test_since_and_until(tmp_path):
    for i, t in enumerate((100.0, 200.0, 300.0)):
        events.append(tmp_path, events.make_event("container", "start", f"c{i}", now=t))
    assert [e["id"] for e in events.read(tmp_path, since=150, until=250)] == ["c1"]


def test_filters():
    start = events.make_event("container", "start", "abcdef", {"name": "web", "image": "busybox", "role": "x"})
    vol = events.make_event("volume", "create", "data", {"driver": "local"})
    assert events.matches(start, {"type": ["container"], "event": ["start", "die"]})
    assert not events.matches(vol, {"type": ["container"]})
    assert events.matches(start, {"container": ["web"]}) and events.matches(start, {"container": ["abc"]})
    assert events.matches(start, {"label": ["role=x"]}) and not events.matches(start, {"label": ["role=y"]})
    assert events.matches(start, {"image": ["busybox"]}) and events.matches(vol, {"volume": ["data"]})
    health = events.make_event("container", "health_status: healthy", "abcdef", {"name": "web"})
    assert events.matches(health, {"event": ["health_status"]})


def test_an_unwritable_journal_is_skipped(tmp_path):
    (tmp_path / "events").write_text("not a directory")
    events.append(tmp_path, events.make_event("container", "start", "x"))  # no error
