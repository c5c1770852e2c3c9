"""The event journal from pyctr's own command line: what the CLI changes is journaled as the
API's changes are (images, execs, volume mounts), and ``pyctr events`` reads it back."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.root


def test_the_cli_journals_tags_execs_and_volume_mounts(busybox):
    since = str(int(time.time()) - 1)
    busybox("tag", "busybox", "again:1", check=True)
    busybox("--network=none", "run", "-d", "--name", "ev", "-v", "evdata:/data", "busybox", "sleep", "60", check=True)
    try:
        assert busybox("exec", "ev", "sh", "-c", "exit 3").returncode == 3
    finally:
        busybox("rm", "-f", "ev", check=True)
    busybox("volume", "rm", "evdata", check=True)
    busybox("rmi", "again:1", check=True)
    until = str(int(time.time()) + 1)
    r = busybox("events", "--since", since, "--until", until, "--format", "{{json .}}", check=True)
    events = [json.loads(line) for line in r.stdout.splitlines()]
    seen = [(e["Type"], e["Action"], e["Actor"]["Attributes"]) for e in events]
    names = [(t, a, attrs.get("name")) for t, a, attrs in seen]
    assert ("image", "tag", "again:1") in names and ("image", "untag", "again:1") in names
    mounts = [attrs for t, a, attrs in seen if (t, a) == ("volume", "mount")]
    assert [(m["destination"], m["read/write"]) for m in mounts] == [("/data", "true")]
    execs = [(a, attrs.get("exitCode")) for t, a, attrs in seen if a.startswith("exec_")]
    assert execs == [("exec_create: sh -c exit 3", None), ("exec_start: sh -c exit 3", None), ("exec_die", "3")]
    ids = {attrs["execID"] for t, a, attrs in seen if a.startswith("exec_")}
    assert len(ids) == 1
    assert [a for t, a, _ in seen if t == "volume"] == ["create", "mount", "destroy"]
