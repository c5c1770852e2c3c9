"""The click-free ``pyctr run`` parser agrees with click, or steps aside.

For every argv below, click's own parser (the real group and ``run``
command) is the reference: when click accepts the argv, the fast path must
produce exactly click's parameters (or decline); when click rejects it, the
fast path must decline so click prints the error.
"""

from __future__ import annotations

import warnings

import click
import pytest

from pyctr.cli import fastpath
from pyctr.cli.containers import run as run_command
from pyctr.cli.group import cli


def click_parse(argv: list[str]):
    """(global flags, run's params, image, command) as click sees them, or None if click refuses."""
    try:
        ctx = cli.make_context("pyctr", list(argv), resilient_parsing=False)
        with warnings.catch_warnings():  # click 8.2 deprecates protected_args; 8.1 needs it
            warnings.simplefilter("ignore", DeprecationWarning)
            rest = list(ctx.protected_args) + list(ctx.args)
        if not rest or rest[0] != "run":
            return "not-run"
        sub = run_command.make_context("run", rest[1:], parent=ctx)
    except click.exceptions.Exit:
        return None  # --help / --version: click prints and exits
    except click.UsageError:
        return None
    params = dict(sub.params)
    image, command = params.pop("image"), params.pop("command")
    return ctx.params, params, image, tuple(command)


ACCEPTED = [
    # (the driver and its options are checked after parsing: one line, exit 125, as Docker's)
    ["run", "--log-driver", "syslog", "--log-opt", "max-size=1m", "--log-opt", "max-file=3", "busybox"],
    ["run", "--health-cmd", "wget -q -O- localhost", "--health-interval=1s", "--no-healthcheck", "busybox"],
    ["run", "busybox"],
    ["run", "--rm", "--network", "none", "busybox", "true"],
    ["--root", "/tmp/r", "--storage-driver=vfs", "run", "busybox", "true"],
    ["-s", "overlay2", "--network=bridge", "--volume-driver=nfs", "run", "busybox"],
    ["run", "-it", "--name", "busybox", "--rm", "busybox", "/bin/sh"],
    ["run", "--rm", "-it", "--name", "busybox", "--user=99:99", "busybox", "/bin/sh"],
    ["run", "-dit", "busybox", "sh"],
    ["run", "-e", "A=1", "-eB=2", "--env", "C=3", "--env=D=4", "busybox", "env"],
    ["run", "-m", "10m", "--memory-swap", "-1", "--cpus", "0.5", "busybox"],
    ["run", "--cpu-shares", "512", "-c", "256", "--pids-limit=-1", "busybox"],
    ["run", "--mount", "type=volume,source=nfsvolume,target=/app,volume-driver=local,volume-opt=type=nfs,"
     "volume-opt=device=:/opt/test,volume-opt=o=addr=127.0.0.1", "busybox"],
    ["run", "-p", "127.0.0.1:8080:80", "-P", "--expose", "90", "busybox"],
    ["run", "--log-driver", "none", "--pull", "never", "busybox"],
    ["run", "-v", "/a:/b:ro", "-v", "vol:/c", "--tmpfs", "/t", "busybox"],
    ["run", "--", "busybox", "ls"],
    ["run", "busybox", "sh", "-c", "echo --help -it"],
    ["run", "--name", "-weird", "busybox"],
    ["run", "-w/tmp", "-uroot", "busybox"],
    ["run", "--rm", "--rm", "--name", "a", "--name", "b", "busybox"],
    ["run", "--security-opt", "no-new-privileges", "--cap-add", "NET_ADMIN", "--cap-drop=ALL", "busybox"],
    ["run", "--net", "host", "busybox"],
    ["--log-level", "debug", "run", "busybox"],
]

REFUSED = [
    ["run"],
    ["run", "--help"],
    ["run", "--bogus", "busybox"],
    ["run", "--rm=yes", "busybox"],
    ["run", "--cpu-shares", "lots", "busybox"],
    ["run", "--no-healthcheck=yes", "busybox"],
    ["run", "--pull", "sometimes", "busybox"],
    ["run", "-iZ", "busybox"],
    ["run", "--name"],
    ["--log-level", "loud", "run", "busybox"],
    ["--bogus", "run", "busybox"],
    ["--help"],
    ["--version"],
]


@pytest.mark.parametrize("argv", ACCEPTED, ids=lambda a: " ".join(a)[:60])
def test_fast_path_parses_as_click_does(argv):
    expected = click_parse(argv)
    assert expected not in (None, "not-run"), "click should accept this argv"
    got = fastpath.parse(argv)
    assert got is not None, "the fast path stepped aside from an ordinary argv"
    flags, options, image, command = got
    assert (flags, options, image, command) == expected


@pytest.mark.parametrize("argv", REFUSED, ids=lambda a: " ".join(a)[:60])
def test_fast_path_steps_aside_where_click_refuses(argv):
    assert click_parse(argv) is None
    assert fastpath.parse(argv) is None


@pytest.mark.parametrize("argv", [["ps"], ["images"], ["rm", "x"], ["container", "run", "busybox"]])
def test_other_commands_are_left_to_click(argv):
    assert fastpath.parse(argv) is None


def test_option_tables_and_click_commands_have_the_same_parameters():
    """Every option click knows for run is in the table the fast path reads, and the reverse."""
    from pyctr.cli.options import GLOBAL_OPTIONS, RUN_OPTIONS

    click_run = {p.name for p in run_command.params if isinstance(p, click.Option)}
    assert click_run - {"help"} == {o.dest for o in RUN_OPTIONS}
    click_global = {p.name for p in cli.params if isinstance(p, click.Option)}
    assert click_global - {"help", "version"} == {o.dest for o in GLOBAL_OPTIONS}


@pytest.mark.parametrize("argv", [["run", "--name=", "busybox"], ["run", "-e", "", "busybox"], ["run", "-ite", "X=1", "busybox"]])
def test_empty_and_clustered_values(argv):
    assert fastpath.parse(argv) == click_parse(argv)
