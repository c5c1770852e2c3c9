"""The json-file log: Docker's options checked, the monitor's rotation, and reading across rotated files."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import threading
import time

import pytest

from pyctr.core import logconfig
from pyctr.core.errors import UsageError
from pyctr.runtime import logfiles


def _monitor_module():
    # the monitor runs as a script (python -S -I monitor.py); load the same file
    from pyctr.runtime import monitor

    return monitor


@pytest.mark.parametrize("opts, expected", [
    ({}, (-1, 1, False)),
    ({"max-size": "1m"}, (1_000_000, 1, False)),
    ({"max-size": "10k", "max-file": "3"}, (10_000, 3, False)),
    ({"max-size": "1MiB", "max-file": "3", "compress": "true"}, (1_000_000, 3, True)),
    ({"max-size": "2g", "max-file": "1", "compress": "false"}, (2_000_000_000, 1, False)),
])
def test_rotation_options_read_as_docker_reads_them(opts, expected):
    assert logconfig.rotation(opts) == expected


@pytest.mark.parametrize("driver, opts, message", [
    ("syslogd", {}, "unknown log driver 'syslogd'"),
    ("json-file", {"max-size": "ten"}, "invalid max-size"),
    ("json-file", {"max-size": "0"}, "positive"),
    ("json-file", {"max-size": "-1m"}, "invalid max-size"),
    ("json-file", {"max-file": "0"}, "cannot be less than 1"),
    ("json-file", {"max-file": "x"}, "invalid max-file"),
    ("json-file", {"compress": "true"}, "compress cannot be true"),
    ("json-file", {"max-size": "1m", "max-file": "2", "compress": "maybe"}, "invalid compress"),
    ("json-file", {"max-sise": "1m"}, "unknown log opt 'max-sise' for json-file log driver"),
    ("none", {"max-size": "1m"}, "unknown log opt 'max-size' for none log driver"),
])
def test_bad_log_options_are_one_line_errors(driver, opts, message):
    with pytest.raises(UsageError) as e:
        logconfig.validate(driver, opts)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_the_configured_default_applies_to_its_own_driver_only():
    class Cfg:
        log_driver = "json-file"
        log_opts = {"max-size": "10m", "max-file": "2"}

    assert logconfig.from_options(None, (), Cfg) == ("json-file", {"max-size": "10m", "max-file": "2"})
    assert logconfig.from_options(None, ("max-file=5",), Cfg) == ("json-file", {"max-size": "10m", "max-file": "5"})
    assert logconfig.from_options("none", (), Cfg) == ("none", {})
    with pytest.raises(UsageError):
        logconfig.from_options(None, ("max-size",), Cfg)


def test_extra_attributes_from_labels_env_and_tag():
    attrs = logconfig.extra_attributes({"labels": "app,missing", "env": "MODE", "tag": "{{.Name}}/{{.ID}}"},
                                       "ab" * 32, "web", "busybox", "sha256:" + "cd" * 32,
                                       {"app": "shop", "other": "x"}, ["MODE=prod", "PATH=/bin"])
    assert attrs == {"app": "shop", "MODE": "prod", "tag": "web/" + "ab" * 6}


def _write(log, n, size=100):
    for i in range(n):
        log.write("stdout", (f"{i:06d} " + "x" * (size - 8) + "\n").encode())


def _numbers(entries):
    return [int(e["log"][:6]) for e in entries]


def test_rotation_keeps_max_file_files_of_about_max_size(tmp_path):
    mon = _monitor_module()
    path = str(tmp_path / "c-json.log")
    log = mon.JsonLog(path, 10_000, 3, False)
    _write(log, 1000)
    log.close()
    names = sorted(os.listdir(tmp_path))
    assert names == ["c-json.log", "c-json.log.1", "c-json.log.2"]
    for name in names[1:]:
        size = os.path.getsize(tmp_path / name)
        assert 10_000 <= size < 10_000 + 200  # past max-size by at most one entry, as Docker's
    entries, current = logfiles.read(path)
    current.close()
    got = _numbers(entries)
    assert got == list(range(got[0], 1000))  # in order, nothing lost within what is kept
    assert 1000 - got[0] <= 3 * 10_000 // 150 + 3


def test_compressed_rotation_is_read_back(tmp_path):
    mon = _monitor_module()
    path = str(tmp_path / "c-json.log")
    log = mon.JsonLog(path, 5_000, 4, True)
    _write(log, 300)
    log.close()
    names = sorted(os.listdir(tmp_path))
    assert names == ["c-json.log", "c-json.log.1.gz", "c-json.log.2.gz", "c-json.log.3.gz"]
    with gzip.open(tmp_path / "c-json.log.1.gz") as f:
        assert json.loads(f.readline())["stream"] == "stdout"
    entries, current = logfiles.read(path, tail=50)
    current.close()
    assert _numbers(entries) == list(range(250, 300))


def test_one_file_is_started_again_at_max_size(tmp_path):
    mon = _monitor_module()
    path = str(tmp_path / "c-json.log")
    log = mon.JsonLog(path, 1_000, 1, False)
    _write(log, 25)
    log.close()
    assert os.listdir(tmp_path) == ["c-json.log"]
    assert os.path.getsize(path) <= 1_100


def test_attributes_are_written_with_each_entry(tmp_path):
    mon = _monitor_module()
    path = str(tmp_path / "c-json.log")
    log = mon.JsonLog(path, attrs='{"app":"shop"}')
    log.write("stderr", b"oops\n")
    log.close()
    entry = json.loads(open(path).read())
    assert entry["attrs"] == {"app": "shop"} and entry["stream"] == "stderr" and entry["log"] == "oops\n"
    assert logfiles.entry_time(entry) == pytest.approx(time.time(), abs=5)


@pytest.mark.parametrize("max_file, compress", [(3, False), (3, True), (1, False)])
def test_follow_goes_on_across_rotations(tmp_path, max_file, compress):
    mon = _monitor_module()
    path = str(tmp_path / "c-json.log")
    log = mon.JsonLog(path, 2_000, max_file, compress)
    _write(log, 5)
    entries, current = logfiles.read(path)
    seen = _numbers(entries)
    done = threading.Event()

    def writer():
        for i in range(5, 400):
            log.write("stdout", (f"{i:06d} " + "y" * 92 + "\n").encode())
            if i % 2 == 0:
                time.sleep(0.002)  # a file (~14 entries) every ~15 ms: a follower a rotation behind catches up
        log.close()
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    seen += _numbers(logfiles.follow(path, current, lambda: not done.is_set(), poll=0.001))
    t.join()
    assert seen == list(range(400))  # every entry once, in order, though the file rotated ~20 times


def test_a_rotation_while_the_set_is_opened_is_noticed(tmp_path):
    path = str(tmp_path / "c-json.log")
    open(path, "w").close()
    rotated, current = logfiles.open_all(path)
    assert rotated == [] and current is not None
    current.close()
    assert logfiles.rotated_files(str(tmp_path / "missing" / "x.log")) == []
