"""cli.common.each: the one loop behind rm/stop/kill/pause/update/wait/rmi and network/volume rm."""

from __future__ import annotations

import click
from click.testing import CliRunner

from pyctr.cli.common import each
from pyctr.core.errors import Conflict, NotFound


def _run(*refs: str, **kw):  # noqa: ANN202
    done = []

    def act(ref: str) -> None:
        if ref.startswith("missing"):
            raise NotFound(f"no such thing: {ref}")
        if ref == "busy":
            raise Conflict("thing busy is in use")
        done.append(ref)

    @click.command()
    @click.argument("refs", nargs=-1)
    def cmd(refs: tuple[str, ...]) -> None:
        each(refs, act, **kw)

    return CliRunner().invoke(cmd, list(refs)), done


def test_all_done_echoes_each_ref_and_exits_0():
    r, done = _run("a", "b")
    assert (r.exit_code, r.stdout, r.stderr, done) == (0, "a\nb\n", "", ["a", "b"])


def test_a_failure_goes_on_with_the_rest_and_exits_1_at_the_end():
    r, done = _run("missing1", "a", "busy", "b")
    assert r.exit_code == 1
    assert done == ["a", "b"] and r.stdout == "a\nb\n"
    assert r.stderr == "Error: no such thing: missing1\nError: thing busy is in use\n"


def test_echo_off_and_a_prefix_of_its_own():
    r, done = _run("a", "missing", echo=False, prefix="Error response from daemon: ")
    assert (r.exit_code, r.stdout, done) == (1, "", ["a"])
    assert r.stderr == "Error response from daemon: no such thing: missing\n"
