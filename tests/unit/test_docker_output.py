"""Output as Docker prints it: tabwriter padding, `table` headers, PORTS, go-units.

The tabwriter is checked against the docker CLI itself where it is installed:
``docker context ls`` formats its table locally (no daemon needed), so the
same cells laid out by pyctr and by docker must match byte for byte. The
listing commands are run as a user runs them, on a private root (no root needed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from pyctr.cli.common import bytes_size, human_duration, human_size
from pyctr.cli.ports import Port, displayable, of_container
from pyctr.cli.tabwriter import format_lines

DOCKER = shutil.which("docker")


@pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")
def test_tabwriter_matches_the_docker_cli(tmp_path):
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path))
    env.pop("DOCKER_HOST", None)
    env.pop("DOCKER_CONTEXT", None)
    contexts = [("xy", "a description much longer than the name"), ("a-much-longer-context-name", ""),
                ("mid-size.name", "ünïcödé description")]
    for name, desc in contexts:
        subprocess.run([DOCKER, "context", "create", name, "--description", desc, "--docker",
                        f"host=unix:///nonexistent/{name}.sock"], env=env, check=True, capture_output=True)
    for template in ("{{.Name}}\t{{.Description}}\t{{.DockerEndpoint}}", "{{.Name}}\t{{.Description}}",
                     "{{.Description}}\t{{.Name}}\t", "{{.Name}}"):
        raw = subprocess.run([DOCKER, "context", "ls", "--format", template], env=env, check=True,
                             capture_output=True, text=True).stdout
        table = subprocess.run([DOCKER, "context", "ls", "--format", "table " + template], env=env, check=True,
                               capture_output=True, text=True).stdout
        header = table.split("\n", 1)[0]
        # the header's own cells, recovered from docker's: names are single words or "DOCKER ENDPOINT"
        names = {"{{.Name}}": "NAME", "{{.Description}}": "DESCRIPTION", "{{.DockerEndpoint}}": "DOCKER ENDPOINT"}
        cells = [names.get(part, "") for part in template.split("\t")]
        assert header.split()[0] == cells[0].split()[0]
        lines = ["\t".join(cells)] + raw.rstrip("\n").split("\n")
        assert "\n".join(format_lines(lines)) + "\n" == table, template


def test_tabwriter_go_rules():
    # min width 10, padding 3, the last cell never padded, trailing padding kept
    assert format_lines(["A\tB\tC", "long-cell-value\t\tz"]) == [
        "A" + " " * 17 + "B" + " " * 9 + "C", "long-cell-value" + " " * 3 + " " * 10 + "z"]
    # blocks: a column exists only for the consecutive lines that have it
    assert format_lines(["a\tb", "only", "ccccccccccccc\td"]) == ["a         b", "only", "ccccccccccccc   d"]
    assert format_lines([]) == []


def recorded(text: str) -> list[str]:
    return text.strip("\n").split("\n")


def test_recorded_docker_tables():
    # Docker's output as its documentation and every terminal show it
    images = recorded("""
REPOSITORY   TAG       IMAGE ID       CREATED       SIZE
busybox      latest    a416a98b71e2   4 weeks ago   4.26MB
""")
    assert format_lines(["REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE",
                         "busybox\tlatest\ta416a98b71e2\t4 weeks ago\t4.26MB"]) == images
    volumes = recorded("""
DRIVER    VOLUME NAME
local     data
""")
    assert format_lines(["DRIVER\tVOLUME NAME", "local\tdata"]) == volumes
    networks = recorded("""
NETWORK ID     NAME      DRIVER    SCOPE
7fca4eb8c647   bridge    bridge    local
9f904ee27bf5   none      null      local
""")
    assert format_lines(["NETWORK ID\tNAME\tDRIVER\tSCOPE", "7fca4eb8c647\tbridge\tbridge\tlocal",
                         "9f904ee27bf5\tnone\tnull\tlocal"]) == networks


@pytest.mark.parametrize("ports,want", [
    ([Port(9988)], "9988/tcp"),
    ([Port(9988, "tcp", "0.0.0.0", 8899)], "0.0.0.0:8899->9988/tcp"),
    ([Port(9988, "tcp", "::", 8899)], "[::]:8899->9988/tcp"),
    ([Port(9988, "tcp", "4.3.2.1", 9988)], "4.3.2.1:9988->9988/tcp"),
    ([Port(9988, "udp"), Port(9988, "tcp")], "9988/tcp, 9988/udp"),
    ([Port(9998, "udp", "1.2.3.4", 9998), Port(9999, "udp", "1.2.3.4", 9999)], "1.2.3.4:9998-9999->9998-9999/udp"),
    ([Port(80), Port(81), Port(82), Port(90)], "80-82/tcp, 90/tcp"),
    ([Port(80, "tcp", "127.0.0.1", 8080), Port(443)], "443/tcp, 127.0.0.1:8080->80/tcp"),
])
def test_ps_ports_like_docker(ports, want):
    assert displayable(ports) == want


def test_ports_of_a_container():
    got = of_container([{"container_port": 80, "proto": "tcp", "host_ip": "", "host_port": 8080}], ["80/tcp", "53/udp"])
    assert displayable(got) == "53/udp, 0.0.0.0:8080->80/tcp"


@pytest.mark.parametrize("n,precision,want", [
    (0, 4, "0B"), (999, 4, "999B"), (1000, 4, "1kB"), (4261376, 3, "4.26MB"), (4261376, 4, "4.261MB"),
    (123456789, 3, "123MB"), (123456789, 4, "123.5MB"), (1.2e9, 3, "1.2GB"), (999999, 3, "1e+03kB"),
])
def test_go_units_human_size(n, precision, want):
    assert human_size(n, precision) == want


def test_go_units_bytes_size_and_duration():
    assert bytes_size(1.5 * 1024 * 1024) == "1.5MiB"
    assert bytes_size(512) == "512B"
    cases = {0.4: "Less than a second", 1: "1 second", 59: "59 seconds", 60: "About a minute",
             3599: "59 minutes", 3600: "About an hour", 5399: "About an hour", 5400: "2 hours",
             47 * 3600: "47 hours", 48 * 3600: "2 days", 14 * 86400: "2 weeks", 60 * 86400: "2 months",
             800 * 86400: "2 years"}
    for seconds, want in cases.items():
        assert human_duration(seconds) == want, seconds


@pytest.fixture
def cli(tmp_path):
    env = dict(os.environ, PYCTR_ROOT=str(tmp_path / "root"), PYCTR_RUNROOT=str(tmp_path / "run"),
               PYCTR_CONFIG=str(tmp_path / "none.toml"))

    def run(*args):
        r = subprocess.run([sys.executable, "-m", "pyctr", *args], env=env, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout

    return run


@pytest.mark.parametrize("args,want", [
    (["ps"], "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"),
    (["ps", "--format", "table {{.ID}}\\t{{.Names}}\\t{{.Ports}}\\t{{.RunningFor}}"],
     "CONTAINER ID   NAMES     PORTS     CREATED\n"),
    (["images"], "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"),
    (["images", "--format", "table {{.Repository}}\t{{.ID}}\t{{.CreatedSince}}"], "REPOSITORY   IMAGE ID   CREATED\n"),
    (["volume", "ls"], "DRIVER    VOLUME NAME\n"),
    (["volume", "ls", "--format", "table {{.Name}}\t{{.Mountpoint}}"], "VOLUME NAME   MOUNTPOINT\n"),
    (["network", "ls", "--format", "table {{.Name}}\t{{.IPv6}}"],
     "NAME      IPV6\nhost      false\nnone      false\n"),
    (["system", "df", "--format", "table {{.Type}}\t{{.Reclaimable}}"],
     "TYPE            RECLAIMABLE\nImages          0B\nContainers      0B\nLocal Volumes   0B\nBuild Cache     0B\n"),
])
def test_listing_commands_print_docker_headers(cli, args, want):
    assert cli(*args) == want


def test_non_table_template_prints_rows_only(cli):
    assert cli("network", "ls", "--format", "{{.Name}}") == "host\nnone\n"
    assert cli("images", "--format", "{{.Repository}}") == ""


def test_network_ls_filters_apply_to_host_and_none_too(cli):
    assert cli("network", "ls", "--filter", "name=ho", "--format", "{{.Name}}") == "host\n"
    assert cli("network", "ls", "-f", "driver=null", "--format", "{{.Name}}") == "none\n"  # (Docker's driver name)
    assert cli("network", "ls", "-f", "name=appnet", "-q") == ""


def test_ps_command_column_quotes_arguments_with_spaces_as_dockerd():
    from pyctr.cli.reads import docker_command

    # dockerd 20.10's list: `sh -c 'echo hi; sleep 1'` (checked live in tests/clients/interop/test_docker_engine.py)
    assert docker_command(["sh", "-c", "echo hi; sleep 1"]) == "sh -c 'echo hi; sleep 1'"
    assert docker_command(["/bin/echo", "a b", "c"]) == "/bin/echo 'a b' c"
    assert docker_command(["/path with space/x"]) == "/path with space/x"
    assert docker_command([]) == ""


def test_network_ls_predefined_networks_have_docker_shaped_ids(cli):
    out = cli("network", "ls").splitlines()
    assert out[0] == "NETWORK ID     NAME      DRIVER    SCOPE"
    rows = {line.split()[1]: line.split() for line in out[1:]}
    assert rows["none"][2] == "null" and rows["host"][2] == "host"
    assert all(len(r[0]) == 12 and int(r[0], 16) >= 0 for r in rows.values())
    assert cli("network", "ls", "--filter", "name=none", "--format", "{{.Name}} {{.Driver}}") == "none null\n"
