"""The docker CLI (Debian's docker.io 20.10, and a newer one where installed) drives pyctr
through ``pyctr system service``; what it makes is what ``pyctr`` itself sees."""

from __future__ import annotations

import json
import time

import pytest

from pyctr.testing.service import Service, docker_clis

pytestmark = [pytest.mark.root, pytest.mark.skipif(not docker_clis(), reason="no docker CLI (Debian docker.io)")]

CLIS = docker_clis()


@pytest.fixture
def service(busybox, tmp_path):
    svc = Service(tmp_path, busybox.env).start()
    yield svc
    assert svc.stop() == 0, svc.log.read_text()


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
