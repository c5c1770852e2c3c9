"""The docker CLI (Debian's docker.io 20.10, and a newer one where installed) drives pyctr
through ``pyctr system service``; what it makes is what ``pyctr`` itself sees."""

from __future__ import annotations

import json
import time

import pytest

from pyctr.testing.service import docker_clis

pytestmark = [pytest.mark.root, pytest.mark.skipif(not docker_clis(), reason="no docker CLI (Debian docker.io)")]

CLIS = docker_clis()


@pytest.fixture(params=CLIS, ids=lambda p: "docker-" + p.split("/")[2])
def docker(request, service):
    """The docker CLI against the service: ``docker("run", ...)``."""
    cli = request.param

    def run(*args: str, input: str | None = None, timeout: float = 60):
        return service.docker(*args, cli=cli, input=input, timeout=timeout)

    run.cli = cli
    return run


def test_version_and_info_answer_as_a_docker_daemon(docker):
    r = docker("version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1.41", "linux"]
    info = json.loads(docker("info", "--format", "{{json .}}").stdout)
    assert info["Images"] == 1 and info["OSType"] == "linux" and info["Driver"] in ("overlay2", "vfs")


def test_run_rm_prints_the_output_and_leaves_nothing(docker, busybox):
    r = docker("run", "--rm", "busybox", "echo", "hi")
    assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr
    assert busybox("ps", "-a", "-q").stdout == ""


@pytest.mark.parametrize("command, code", [
    (["sh", "-c", "exit 3"], 3),
    (["/no/such/command"], 127),
    (["/etc/hostname"], 126),
])
def test_exit_codes_are_dockers(docker, busybox, command, code):
    r = docker("run", "--rm", "busybox", *command)
    assert r.returncode == code, r.stderr
    assert busybox("ps", "-a", "-q").stdout == ""


def test_a_refused_option_is_125_with_one_line(docker, busybox):
    r = docker("run", "--rm", "--cap-add", "NOT_A_CAP", "busybox", "true")
    assert r.returncode == 125
    assert "NOT_A_CAP" in r.stderr and "Traceback" not in r.stderr
    assert busybox("ps", "-a", "-q").stdout == ""


def test_stdout_and_stderr_stay_apart(docker):
    r = docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (r.stdout, r.stderr) == ("out\n", "err\n")


def test_piped_stdin_reaches_the_container_and_ends(docker):
    r = docker("run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done", input="line one\nline two\n")
    assert (r.returncode, r.stdout) == (0, "line one\nline two\ndone\n"), r.stderr


def test_detached_container_is_seen_by_ps_logs_inspect_and_pyctr(docker, busybox):
    r = docker("run", "-d", "--name", "web", "--label", "role=test", "busybox", "sh", "-c",
               "echo started; sleep 30")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        assert len(cid) == 64
        assert docker("ps", "-q", "--no-trunc").stdout.split() == [cid]
        assert docker("ps", "-q", "--filter", "label=role=test").stdout.split() == [cid[:12]]
        assert docker("ps", "-q", "--filter", "label=role=other").stdout == ""
        assert docker("inspect", "--format", "{{.State.Status}} {{.Name}}", "web").stdout == "running /web\n"
        deadline = time.monotonic() + 10
        while "started" not in docker("logs", "web").stdout and time.monotonic() < deadline:
            time.sleep(0.1)
        assert docker("logs", "web").stdout == "started\n"
        # one engine: the CLI of pyctr sees the same container
        assert busybox("inspect", "--format", "{{.State.Status}}", "web").stdout == "running\n"
    finally:
        r = docker("rm", "-f", "web")
    assert r.returncode == 0, r.stderr
    assert busybox("ps", "-a", "-q").stdout == ""


def test_a_container_made_by_pyctr_is_seen_by_docker(docker, busybox):
    busybox("create", "--name", "made-by-pyctr", "busybox", "true", check=True)
    try:
        assert docker("ps", "-a", "--format", "{{.Names}} {{.State}}").stdout == "made-by-pyctr created\n"
        r = docker("start", "-a", "made-by-pyctr")
        assert r.returncode == 0, r.stderr
        assert "Exited (0)" in docker("ps", "-a", "--format", "{{.Status}}").stdout
    finally:
        busybox("rm", "-f", "made-by-pyctr")


def test_unknown_names_are_404s_the_cli_understands(docker):
    r = docker("rm", "nothing-here")
    assert r.returncode == 1 and "No such container: nothing-here" in r.stderr
    r = docker("inspect", "nothing-here")
    assert r.returncode == 1 and "No such object: nothing-here" in r.stderr


def test_exec_runs_in_the_container_with_its_exit_code_and_stdin(docker):
    docker("run", "-d", "--name", "ex", "busybox", "sleep", "60")
    try:
        r = docker("exec", "ex", "sh", "-c", "echo $HOSTNAME; cat /proc/1/cmdline | tr '\\0' ' '")
        assert r.returncode == 0, r.stderr
        hostname, cmdline = r.stdout.splitlines()
        assert len(hostname) == 12 and cmdline.strip() == "sleep 60"
        assert docker("exec", "ex", "sh", "-c", "exit 7").returncode == 7
        r = docker("exec", "-i", "ex", "sh", "-c", "tr a-z A-Z", input="shout\n")
        assert r.stdout == "SHOUT\n"
        r = docker("exec", "-e", "GREETING=hello", "-w", "/tmp", "ex", "sh", "-c", "echo $GREETING $PWD")
        assert r.stdout == "hello /tmp\n"
        assert docker("exec", "ex", "/no/such").returncode in (126, 127)
    finally:
        docker("rm", "-f", "ex")


def test_run_it_and_exec_it_on_a_terminal(docker, service):
    from tests.helpers import Terminal

    term = Terminal([docker.cli, "run", "-it", "--rm", "--name", "tty", "busybox", "sh"], service.client_env())
    term.expect("# ")
    term.type("stty size; tty")
    term.expect("/dev/pts/")
    other = Terminal([docker.cli, "exec", "-it", "tty", "sh", "-c", "tty; echo in-exec; exit 4"], service.client_env())
    other.expect("/dev/pts/")
    other.expect("in-exec")
    assert other.wait() == 4
    term.type("exit 5")
    assert term.wait() == 5


def test_events_show_what_both_front_ends_did(docker, busybox):
    start = str(int(time.time()) - 1)
    docker("run", "--rm", "--name", "evt", "busybox", "true")
    busybox("create", "--name", "evt2", "busybox", "true", check=True)
    busybox("rm", "evt2", check=True)
    until = str(int(time.time()) + 1)
    r = docker("events", "--since", start, "--until", until, "--filter", "type=container",
               "--format", "{{.Action}} {{.Actor.Attributes.name}}")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for expected in ("create evt", "attach evt", "start evt", "die evt", "destroy evt", "create evt2", "destroy evt2"):
        assert expected in lines, lines
    r = docker("events", "--since", start, "--until", until, "--filter", "container=evt2", "--filter", "event=destroy",
               "--format", "{{json .}}")
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(e["Type"], e["Action"], e["Actor"]["Attributes"]["name"]) for e in events] == [
        ("container", "destroy", "evt2")]
    r = busybox("events", "--since", start, "--until", until, "--filter", "event=die", "--format",
                "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}")
    assert r.stdout.splitlines() == ["evt 0"], r.stderr


def test_cp_both_ways_stays_inside_the_container(docker, tmp_path):
    secret = tmp_path / "host-secret"
    secret.write_text("host only\n")
    docker("run", "-d", "--name", "cp", "busybox", "sh", "-c",
           f"echo inside > /tmp/file; ln -s {secret} /tmp/out-link; ln -s / /tmp/root-link; "
           f"mkdir -p /tmp/dir/sub; echo deep > /tmp/dir/sub/f; sleep 60")
    try:
        deadline = time.monotonic() + 10
        while docker("exec", "cp", "test", "-e", "/tmp/dir/sub/f").returncode and time.monotonic() < deadline:
            time.sleep(0.1)
        r = docker("cp", "cp:/tmp/file", str(tmp_path / "copied"))
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "copied").read_text() == "inside\n"
        r = docker("cp", "cp:/tmp/dir", str(tmp_path / "dir"))
        assert r.returncode == 0 and (tmp_path / "dir/sub/f").read_text() == "deep\n", r.stderr
        # a symlink to a host path resolves inside the container's root: nothing of the host comes out
        r = docker("cp", "cp:/tmp/out-link", str(tmp_path / "leak"))
        assert r.returncode != 0 or not (tmp_path / "leak").is_file() or \
            (tmp_path / "leak").read_text() != "host only\n"
        r = docker("cp", f"cp:/tmp/root-link{tmp_path}/host-secret", str(tmp_path / "leak2"))
        assert r.returncode != 0 and not (tmp_path / "leak2").exists()
        # and copying in through a symlink pointing out writes inside the container, not on the host
        upload = tmp_path / "upload.txt"
        upload.write_text("uploaded\n")
        docker("exec", "cp", "mkdir", "-p", str(tmp_path))  # the same path inside: where the link really leads
        r = docker("cp", str(upload), f"cp:/tmp/root-link{tmp_path}/planted.txt")
        assert r.returncode == 0, r.stderr
        assert not (tmp_path / "planted.txt").exists()  # not on the host...
        assert docker("exec", "cp", "cat", f"{tmp_path}/planted.txt").stdout == "uploaded\n"  # ...but inside
        r = docker("cp", str(upload), "cp:/tmp/")
        assert r.returncode == 0, r.stderr
        assert docker("exec", "cp", "cat", "/tmp/upload.txt").stdout == "uploaded\n"
        assert secret.read_text() == "host only\n"
    finally:
        docker("rm", "-f", "cp")


def test_user_network_resolves_names_and_volumes_persist(docker, busybox):
    assert docker("network", "create", "appnet").returncode == 0
    assert docker("volume", "create", "data").returncode == 0
    try:
        assert "appnet" in docker("network", "ls", "--format", "{{.Name}}").stdout.split()
        r = docker("run", "-d", "--name", "server", "--network", "appnet", "--network-alias", "db",
                   "-v", "data:/data", "busybox", "sh", "-c", "echo kept > /data/f; sleep 60")
        assert r.returncode == 0, r.stderr
        r = docker("run", "--rm", "--network", "appnet", "busybox", "sh", "-c", "ping -c1 -W2 server && ping -c1 -W2 db")
        assert r.returncode == 0, r.stdout + r.stderr
        docker("rm", "-f", "server")
        r = docker("run", "--rm", "-v", "data:/data", "busybox", "cat", "/data/f")
        assert r.stdout == "kept\n"
        assert docker("volume", "inspect", "--format", "{{.Driver}}", "data").stdout == "local\n"
        assert docker("network", "rm", "appnet").returncode == 0
        assert docker("volume", "rm", "data").returncode == 0
        assert busybox("volume", "ls", "-q").stdout == ""
    finally:
        docker("rm", "-f", "server")
        docker("network", "rm", "appnet")
        docker("volume", "rm", "-f", "data")


def test_stop_and_restart(docker):
    docker("run", "-d", "--name", "st", "busybox", "sh", "-c", "trap 'exit 9' TERM; while true; do sleep 0.1; done")
    try:
        r = docker("stop", "-t", "5", "st")
        assert r.returncode == 0, r.stderr
        assert docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "st").stdout == "exited 9\n"
        assert docker("start", "st").returncode == 0
        assert docker("inspect", "--format", "{{.State.Status}}", "st").stdout == "running\n"
        assert docker("kill", "st").returncode == 0
    finally:
        docker("rm", "-f", "st")


def test_pull_from_a_local_registry(docker, service, tmp_path):
    from pyctr.testing.dockerpy import _layer
    from pyctr.testing.images import image_config, image_manifest, push_layout, write_oci_layout
    from pyctr.testing.registry import start_registry
    from pyctr.testing.rootfs import build_busybox_rootfs

    reg = start_registry(workdir=tmp_path / "registry")
    try:
        layer = _layer(build_busybox_rootfs(tmp_path / "rootfs"), {"/hello": b"#!/bin/sh\necho pulled\n"})
        config = image_config([layer], cmd=["/hello"])
        layout = tmp_path / "layout"
        write_oci_layout(layout, "1", [layer.blob, config], image_manifest([layer], config))
        push_layout(layout, "1", reg, "demo/hello")
        r = docker("pull", f"{reg.host}/demo/hello:1")
        assert r.returncode == 0, r.stderr
        assert "Downloaded newer image" in r.stdout or "Pull complete" in r.stdout
        assert docker("run", "--rm", f"{reg.host}/demo/hello:1").stdout == "pulled\n"
        r = docker("run", "--rm", f"{reg.host}/demo/missing:1")
        assert r.returncode == 125 and "Unable to find image" in r.stderr
    finally:
        docker("rmi", f"{reg.host}/demo/hello:1")
        reg.stop()


def test_logs_follow_until_the_container_ends(docker, service):
    import subprocess

    r = docker("run", "-d", "--name", "lf", "busybox", "sh", "-c",
               "echo one; echo err >&2; sleep 1; echo two; sleep 1; echo three")
    assert r.returncode == 0, r.stderr
    try:
        follower = subprocess.Popen([docker.cli, "logs", "-f", "lf"], env=service.client_env(),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = follower.communicate(timeout=30)  # returns by itself when the container exits
        assert follower.returncode == 0
        assert (out, err) == ("one\ntwo\nthree\n", "err\n")
        assert docker("logs", "--tail", "1", "lf").stdout == "three\n"
        r = docker("logs", "-t", "lf")
        assert len(r.stdout.splitlines()) == 3 and r.stdout.startswith("20")  # RFC 3339 stamps
    finally:
        docker("rm", "-f", "lf")
