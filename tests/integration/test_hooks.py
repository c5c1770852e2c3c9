"""Every hook, called by a real third-party plugin, in the process its spec names.

The recorder is installed as a distribution of its own (a dist-info on the
path with an entry point), exactly as a pip-installed plugin would be, and
reports each call on stderr with the facts that tell processes apart.
"""

from __future__ import annotations

import os

import pytest

RECORDER = r'''
import os, sys
import click
from pyctr import hookimpl

def _say(name, **kw):
    host = os.readlink("/proc/self/ns/pid") == os.environ.get("HOST_PIDNS")
    extra = " ".join(f"{k}={v}" for k, v in kw.items())
    sys.stderr.write(f"HOOK {name} hostpidns={host} pid={os.getpid()} {extra}\n")
    sys.stderr.flush()

@hookimpl
def pyctr_configure(config):
    _say("pyctr_configure", root=bool(config.get("root")))

@hookimpl
def pyctr_register_commands(register):
    @click.command(name="hello")
    def hello():
        click.echo("hello from a plugin")
    register(hello)

@hookimpl
def pyctr_modify_container_spec(spec):
    spec.env.append("RECORDED=yes")
    _say("pyctr_modify_container_spec")

@hookimpl
def pyctr_namespace_flags(spec):
    _say("pyctr_namespace_flags")
    return None

@hookimpl
def pyctr_create_container(container):
    _say("pyctr_create_container", rootfs_dir=container.dir.is_dir())

@hookimpl
def pyctr_create_runtime(container, pid):
    _say("pyctr_create_runtime", init=pid, waiting=os.path.exists(f"/proc/{pid}"))

@hookimpl
def pyctr_setup_child(spec, rootfs):
    _say("pyctr_setup_child", rootfs_has_bin=os.path.isdir(os.path.join(rootfs, "bin")), cwd_root=os.path.exists(rootfs))

@hookimpl
def pyctr_start_container(spec):
    _say("pyctr_start_container", pivoted=os.path.exists("/bin/busybox") and not os.path.exists(os.environ.get("VENV_MARK", "/nonexistent")))

@hookimpl
def pyctr_poststart(container, pid):
    _say("pyctr_poststart", init=pid)

@hookimpl
def pyctr_poststop(container):
    _say("pyctr_poststop", status=container.status, exit_code=container.exit_code)
    raise RuntimeError("a failing poststop must not stop the others")

@hookimpl
def pyctr_cleanup_orphans(live_container_ids):
    _say("pyctr_cleanup_orphans", live=len(live_container_ids))
    return ["recorder: nothing to clean"]

@hookimpl
def pyctr_report_status():
    return [("Recorder", "listening")]
'''


@pytest.fixture
def recorded(busybox, tmp_path):
    from tests.helpers import install_hook_plugin

    site = tmp_path / "site"
    busybox.env["PYTHONPATH"] = install_hook_plugin(site, "pyctr-recorder", "pyctr_recorder", RECORDER)
    busybox.env["HOST_PIDNS"] = os.readlink("/proc/self/ns/pid")
    busybox.env["VENV_MARK"] = str(site / "pyctr_recorder.py")
    return busybox


def _calls(stderr: str, name: str) -> list[dict[str, str]]:
    out = []
    for line in stderr.splitlines():
        parts = line.split()
        if parts[:2] == ["HOOK", name]:
            out.append(dict(p.split("=", 1) for p in parts[2:]))
    return out


@pytest.fixture
def run_once(recorded):
    r = recorded("--network=none", "run", "--rm", "busybox", "sh", "-c", "echo $RECORDED")
    assert r.returncode == 0, r.stderr
    return r


pytestmark = pytest.mark.root


def test_pyctr_configure_runs_in_the_parent(run_once):
    calls = _calls(run_once.stderr, "pyctr_configure")
    assert calls and calls[0]["hostpidns"] == "True" and calls[0]["root"] == "True"


def test_pyctr_register_commands_adds_a_command(recorded):
    r = recorded("hello")
    assert r.returncode == 0 and r.stdout.strip() == "hello from a plugin"


def test_pyctr_modify_container_spec_changes_what_the_container_gets(run_once):
    assert run_once.stdout.strip() == "yes"
    assert _calls(run_once.stderr, "pyctr_modify_container_spec")


def test_pyctr_namespace_flags_is_asked_in_the_parent(run_once):
    assert _calls(run_once.stderr, "pyctr_namespace_flags")[0]["hostpidns"] == "True"


def test_pyctr_create_container_after_the_container_files_exist(run_once):
    assert _calls(run_once.stderr, "pyctr_create_container")[0]["rootfs_dir"] == "True"


def test_pyctr_create_runtime_while_the_init_waits(run_once):
    call = _calls(run_once.stderr, "pyctr_create_runtime")[0]
    assert call["hostpidns"] == "True" and call["waiting"] == "True"


def test_pyctr_setup_child_runs_in_the_child_before_pivot_root(run_once):
    call = _calls(run_once.stderr, "pyctr_setup_child")[0]
    assert call["hostpidns"] == "False"  # already in the container's PID namespace
    assert call["pid"] == "1"
    assert call["rootfs_has_bin"] == "True"  # the rootfs is still a path under the host's tree


def test_pyctr_start_container_runs_after_pivot_root(run_once):
    call = _calls(run_once.stderr, "pyctr_start_container")[0]
    assert call["pid"] == "1" and call["pivoted"] == "True"


def test_pyctr_poststart_gets_the_init_pid(run_once):
    init = _calls(run_once.stderr, "pyctr_create_runtime")[0]["init"]
    assert _calls(run_once.stderr, "pyctr_poststart")[0]["init"] == init


def test_pyctr_poststop_runs_once_the_container_stopped_even_if_it_fails(run_once):
    calls = _calls(run_once.stderr, "pyctr_poststop")
    assert len(calls) == 1 and calls[0]["hostpidns"] == "True"
    assert (calls[0]["status"], calls[0]["exit_code"]) == ("exited", "0")


SECOND = r'''
import sys
from pyctr import hookimpl

@hookimpl
def pyctr_poststop(container):
    sys.stderr.write(f"HOOK second_poststop status={container.status} exit_code={container.exit_code}\n")
'''


def test_pyctr_poststop_gets_the_exit_code_and_every_plugin_runs_though_one_fails(recorded, tmp_path):
    from tests.helpers import install_hook_plugin

    install_hook_plugin(tmp_path / "site", "pyctr-second", "pyctr_second", SECOND)
    r = recorded("--network=none", "run", "--rm", "busybox", "sh", "-c", "exit 3")
    assert r.returncode == 3, r.stderr
    for name in ("pyctr_poststop", "second_poststop"):  # the recorder's raises; the other still runs
        calls = _calls(r.stderr, name)
        assert [(c["status"], c["exit_code"]) for c in calls] == [("exited", "3")], (name, r.stderr)


def test_pyctr_cleanup_orphans_runs_in_system_prune(recorded):
    r = recorded("system", "prune", "-f")
    assert r.returncode == 0, r.stderr
    assert "recorder: nothing to clean" in r.stdout
    assert _calls(r.stderr, "pyctr_cleanup_orphans")


def test_pyctr_report_status_adds_info_lines(recorded):
    assert "Recorder: listening" in recorded("info").stdout


COUNTER = r'''
import os, time
from pyctr import hookimpl

@hookimpl
def pyctr_poststop(container):
    fd = os.open(os.environ["POSTSTOP_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{container.id} {container.status} {container.exit_code} {os.getpid()}\n".encode())
    os.close(fd)
    time.sleep(1.5)  # a hook with work to do (a call over the network): the stop is not recorded meanwhile
'''


def test_pyctr_poststop_runs_exactly_once_on_rm_f_of_a_detached_container(busybox, tmp_path):
    """rm -f kills the init and cleans up; the container's monitor sees the same exit and
    finishes it too: one of them runs the poststop hooks, once."""
    import json
    import sqlite3
    import time

    from tests.helpers import install_hook_plugin

    busybox.env["PYTHONPATH"] = install_hook_plugin(tmp_path / "site", "pyctr-counter", "pyctr_counter", COUNTER)
    log = tmp_path / "poststop.log"
    busybox.env["POSTSTOP_LOG"] = str(log)
    ids = [busybox("--network=none", "run", "-d", "busybox", "sleep", "100", check=True).stdout.strip()
           for _ in range(2)]
    db = sqlite3.connect(busybox.root / "pyctr.db")
    monitors = [json.loads(db.execute("SELECT runtime FROM containers WHERE id = ?", (cid,)).fetchone()[0])["monitor"]
                for cid in ids]
    db.close()
    busybox("rm", "-f", *ids, check=True)
    deadline = time.monotonic() + 30
    while any(os.path.exists(f"/proc/{pid}") for pid in monitors) and time.monotonic() < deadline:
        time.sleep(0.05)  # each monitor hands over to internal-finish, which may clean up too
    assert not any(os.path.exists(f"/proc/{pid}") for pid in monitors)
    lines = log.read_text().splitlines()
    for cid in ids:
        calls = [line.split()[1:3] for line in lines if line.startswith(cid)]
        assert calls == [["exited", "137"]], lines
