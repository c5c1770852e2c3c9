"""``ps``, ``images``, ``inspect`` and ``version`` without click: the same parse, the same bytes.

The fast path (pyctr.cli.fastpath) parses the read commands with the option
tables click builds them from and calls the same bodies (pyctr.cli.reads).
Here click's own parser is the reference for every argv, and every command
is run both ways on one store, as a user runs it (a subprocess): the fast
path, and click (the fast path switched off in that process); stdout, stderr
and the exit code must be identical, and the fast path must have taken the
argv (not stepped aside). ``pyctr ps`` is also checked for what it imports:
no click, no pluggy, no plugin and no driver module, no typing, uuid or platform.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings

import click
import pytest

from pyctr.cli import fastpath
from pyctr.cli.group import cli

# The command with the fast path switched off: click parses and runs it.
CLICK_ONLY = r"""
import sys
from pyctr.cli import fastpath
fastpath.run = lambda args: None
sys.argv[0] = "pyctr"
from pyctr.cli import main
main(sys.argv[1:])
"""

# The command as `python -m pyctr` runs it, reporting what it imported when it leaves (os._exit).
IMPORTS = r"""
import os, sys
before = set(sys.modules)
out, real_exit = sys.argv.pop(1), os._exit
def report(code):
    with open(out, "w") as f:
        f.write("\n".join(sorted(set(sys.modules) - before)))
    real_exit(code)
os._exit = report
sys.argv[0] = "pyctr"
from pyctr.cli import main
main(sys.argv[1:])
"""


def click_parse(argv: list[str]):
    """(global flags, command, its params) as click parses them, or None where click refuses."""
    try:
        ctx = cli.make_context("pyctr", list(argv), resilient_parsing=False)
        with warnings.catch_warnings():  # click 8.2 deprecates protected_args; 8.1 needs it
            warnings.simplefilter("ignore", DeprecationWarning)
            rest = list(ctx.protected_args) + list(ctx.args)
        command = cli.get_command(ctx, rest[0])
        sub = command.make_context(rest[0], rest[1:], parent=ctx)
    except click.exceptions.Exit:
        return None  # --help / --version
    except click.UsageError:
        return None
    return ctx.params, rest[0], dict(sub.params)


PARSED = [
    ["ps"], ["ps", "-a"], ["ps", "-aq"], ["ps", "-qa", "--no-trunc"], ["ps", "--all", "--quiet"],
    ["ps", "--format", "{{.Names}}"], ["ps", "--format={{.ID}}\t{{.Status}}"], ["ps", "-f", "status=exited", "-a"],
    ["ps", "--filter", "name=a", "--filter", "label=x=y"], ["ps", "-n", "2"], ["ps", "-n2"], ["ps", "--last=-1"],
    ["ps", "-l"], ["ps", "-alq"], ["--root", "/tmp/x", "ps"], ["-s", "vfs", "--log-level", "debug", "ps", "-a"],
    ["images"], ["images", "busybox"], ["images", "-q", "busybox"], ["images", "busybox", "-q"],
    ["images", "--digests", "--no-trunc"], ["images", "-f", "dangling=true", "-f", "reference=b*"],
    ["images", "--format", "json"], ["images", "-a"], ["images", "--", "-weird"],
    ["inspect", "c1"], ["inspect", "c1", "c2", "busybox"], ["inspect", "-f", "{{.Id}}", "c1"],
    ["inspect", "c1", "-f", "{{.State.Status}}"], ["inspect", "c1", "--format={{.Name}}", "c2"],
    ["inspect", "--type", "image", "busybox"], ["inspect", "--type=container", "-s", "c1"],
    ["inspect", "-sf{{.Id}}", "c1"], ["inspect", "--", "-x"], ["inspect", "-", "c1"],
    ["version"], ["version", "-f", "json"], ["version", "--format", "{{.Client.Version}}"],
]

REFUSED = [
    ["ps", "extra"], ["ps", "--bogus"], ["ps", "-n", "two"], ["ps", "--all=yes"], ["ps", "--format"],
    ["ps", "--help"], ["ps", "-a", "--help"], ["images", "a", "b"], ["images", "-Z"],
    ["inspect"], ["inspect", "--type", "volume", "x"], ["inspect", "-f"], ["inspect", "x", "--help"],
    ["version", "x"], ["version", "--format"], ["--bogus", "ps"], ["--help"], ["-v"], ["--version"],
    ["--log-level", "loud", "ps"],
]


@pytest.mark.parametrize("argv", PARSED, ids=lambda a: " ".join(a)[:60])
def test_the_fast_path_parses_read_commands_as_click_does(argv):
    expected = click_parse(argv)
    assert expected is not None, "click should accept this argv"
    assert fastpath.parse_read(argv) == expected


@pytest.mark.parametrize("argv", REFUSED, ids=lambda a: " ".join(a)[:60])
def test_the_fast_path_steps_aside_where_click_refuses(argv):
    assert click_parse(argv) is None
    assert fastpath.parse_read(argv) is None


def test_read_option_tables_and_click_commands_have_the_same_parameters():
    from pyctr.cli.options import IMAGES_OPTIONS, INSPECT_OPTIONS, PS_OPTIONS, VERSION_OPTIONS

    for name, table in (("ps", PS_OPTIONS), ("images", IMAGES_OPTIONS), ("inspect", INSPECT_OPTIONS),
                        ("version", VERSION_OPTIONS)):
        command = cli.get_command(None, name)
        options = {p.name for p in command.params if isinstance(p, click.Option)} - {"help"}
        assert options == {o.dest for o in table}, name
        assert fastpath.READ_COMMANDS[name][0] is table


# -- the same output both ways, on a real store ---------------------------------------------------

DAY = 86400.0


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A private root (vfs): an image imported by pyctr, three containers (created, exited,
    running: a real process), made older than a minute so that times print the same in both runs."""
    from pyctr.core import state
    from pyctr.core.container import Container
    from pyctr.core.drivers import DriverContext
    from pyctr.core.processes import starttime
    from pyctr.core.spec import ContainerSpec
    from pyctr.storage_plugins.vfs import VfsStorageDriver

    base = tmp_path_factory.mktemp("reads")
    root = base / "root"
    env = dict(os.environ, PYCTR_ROOT=str(root), PYCTR_RUNROOT=str(base / "run"),
               PYCTR_CONFIG=str(base / "none.toml"), PYCTR_STORAGE_DRIVER="vfs", PYCTR_DISABLE_PLUGIN_AUTOLOAD="1")
    rootfs = base / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "hostname").write_text("reads\n")
    for tag in ("busybox", "localhost:5000/team/tool:1.2"):
        subprocess.run([sys.executable, "-m", "pyctr", "import", "--change", 'LABEL role=test', str(rootfs), tag],
                       env=env, check=True, capture_output=True)
    conn = state.connect(root)
    now = time.time()
    for n, tag in enumerate(("docker.io/library/busybox:latest", "localhost:5000/team/tool:1.2")):
        conn.execute("UPDATE images SET created = ? WHERE id = (SELECT image_id FROM tags WHERE name = ?)",
                     (now - (4 - n) * DAY, tag))
    image_id, layers = conn.execute("SELECT images.id, layers FROM images JOIN tags ON tags.image_id = images.id"
                                    " WHERE tags.name = 'docker.io/library/busybox:latest'").fetchone()
    sleeper = subprocess.Popen(["sleep", "300"])
    vfs = VfsStorageDriver(DriverContext(root=root, runroot=base / "run"))
    rows = [
        ("c1", "created", ["sleep", "100"], {"a": "b"}, 0, {}),
        ("c2", "exited", ["sh", "-c", "exit 3; a long command line that gets truncated"], {}, 0, {}),
        ("c3", "running", ["sleep", "300"], {"a": "c"}, sleeper.pid, {"starttime": starttime(sleeper.pid)}),
    ]
    for n, (name, status, argv, labels, pid, runtime) in enumerate(rows):
        cid = os.urandom(32).hex()
        spec = ContainerSpec(image="busybox", image_id=image_id, name=name, argv=argv, labels=labels,
                             cmd=argv, network={"mode": "none"})
        c = Container(id=cid, name=name, image_id=image_id, spec=spec,
                      drivers={"storage": "vfs", "network": "none", "cgroup": "cgroupfs"},
                      status=status, pid=pid, exit_code=3 if status == "exited" else 0,
                      created=now - (5 - n) * DAY, started=now - 2 * DAY if pid else 0.0,
                      finished=now - DAY if status == "exited" else 0.0, runtime=runtime, root=root)
        c.insert(conn)
        c.save(conn)
        vfs.create_rw(cid, json.loads(layers)[-1])
    conn.close()
    yield env
    sleeper.kill()
    sleeper.wait()


OUTPUTS = [
    ["ps"], ["ps", "-a"], ["ps", "-aq"], ["ps", "-a", "--no-trunc"], ["ps", "-a", "--format", "json"],
    ["ps", "-a", "--format", "table {{.Names}}\t{{.Status}}\t{{.State}}"], ["ps", "-a", "--format", "{{.Labels}}"],
    ["ps", "-a", "--filter", "status=exited"], ["ps", "-a", "-f", "label=a"], ["ps", "-n", "2"], ["ps", "-l", "-q"], ["ps", "-n2", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "bogus=1"], ["ps", "-a", "--filter", "health=fine"], ["ps", "--format", "{{.Nope"],
    ["images"], ["images", "-q"], ["images", "--digests", "--no-trunc"], ["images", "--format", "json"],
    ["images", "busybox"], ["images", "-f", "reference=localhost:5000/*"], ["images", "-f", "label=role=test"],
    ["images", "-f", "since=busybox"], ["images", "-f", "nope=1"],
    ["inspect", "c1"], ["inspect", "c3", "busybox"], ["inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "c3"],
    ["inspect", "c2", "--format", "{{json .Config.Labels}}"], ["inspect", "--type", "image", "busybox"],
    ["inspect", "--type", "container", "busybox"], ["inspect", "nothere", "c1"], ["inspect", "-f", "{{.Bad", "c1"],
    ["version"], ["version", "-f", "json"], ["version", "--format", "{{.Client.Os}}/{{.Client.Arch}}"],
]


@pytest.mark.parametrize("argv", OUTPUTS, ids=lambda a: " ".join(a)[:60])
def test_read_commands_print_the_same_both_ways(store, argv):
    assert fastpath.parse_read(argv) is not None, "the fast path stepped aside"
    fast = subprocess.run([sys.executable, "-m", "pyctr", *argv], env=store, capture_output=True, text=True,
                          timeout=60)
    slow = subprocess.run([sys.executable, "-c", CLICK_ONLY, *argv], env=store, capture_output=True, text=True,
                          timeout=60)
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)
    assert "Traceback" not in fast.stderr


def test_the_store_is_what_the_outputs_are_about(store):
    """(The comparisons above compare something: three containers, two tags, one running.)"""
    run = lambda *a: subprocess.run([sys.executable, "-m", "pyctr", *a], env=store, capture_output=True,
                                    text=True, timeout=60)
    assert run("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout == (
        "c3 Up 2 days\nc2 Exited (3) 24 hours ago\nc1 Created\n")
    assert run("images", "--format", "{{.Repository}}:{{.Tag}}").stdout == (
        "localhost:5000/team/tool:1.2\nbusybox:latest\n")
    data = json.loads(run("inspect", "c1").stdout)
    assert data[0]["GraphDriver"]["Name"] == "vfs" and data[0]["GraphDriver"]["Data"]
    assert run("inspect", "nothere").returncode == 1


# -- what ps imports --------------------------------------------------------------------------------

#: what ``pyctr ps`` imports beyond the interpreter's start-up, on 3.11-3.13 (one of them may import fewer)
PS_STDLIB = {
    "__future__", "_json", "_sqlite3", "collections.abc", "copyreg", "enum", "errno", "fnmatch", "gc",
    "json", "json.decoder", "json.encoder", "json.scanner", "ntpath", "pathlib", "re", "re._casefix",
    "re._compiler", "re._constants", "re._parser", "_sre", "urllib", "urllib.parse", "ipaddress", "nt",
    "_winapi", "functools", "collections", "_collections", "_functools", "itertools", "keyword", "operator",
    "_operator", "reprlib", "types", "importlib", "importlib._bootstrap", "importlib._bootstrap_external",
    "warnings", "math", "pathlib._abc", "pathlib._local", "glob", "_opcode_metadata", "grp", "contextlib",
}
PS_PYCTR = {
    "pyctr", "pyctr.cli", "pyctr.cli.fastpath", "pyctr.cli.options", "pyctr.cli.output", "pyctr.cli.reads",
    "pyctr.cli.settings", "pyctr.cli.tabwriter", "pyctr.core", "pyctr.core.config", "pyctr.core.container",
    "pyctr.core.engine", "pyctr.core.errors", "pyctr.core.processes", "pyctr.core.records",
    "pyctr.core.rootless", "pyctr.core.spec", "pyctr.core.state",
    "pyctr.core.units",  # go-units' HumanDuration for STATUS/CREATED, shared with inspect's Status (stdlib only)
}
#: never on a read command's way: click and pluggy (the fast path's reason to be), plugins and drivers
#: (nothing to call), typing/uuid/platform (pyctr needs none of them to read)
NEVER = {"click", "pluggy", "typing", "uuid", "platform", "inspect", "pyctr.core.plugins", "pyctr.core.selection",
         "pyctr.core.lifecycle", "pyctr.core.drivers", "pyctr.core.entrypoints", "importlib.metadata",
         "pyctr.storage_plugins", "pyctr.network_plugins", "pyctr.plugins", "pyctr.runtime", "pyctr.images"}


def imports_of(env, tmp_path, *argv) -> set[str]:
    listing = tmp_path / "imported.txt"
    proc = subprocess.run([sys.executable, "-c", IMPORTS, str(listing), *argv], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return set(listing.read_text().split())


def test_ps_imports_only_these_modules(store, tmp_path):
    imported = imports_of(store, tmp_path, "ps", "-a")
    new = sorted(imported - PS_STDLIB - PS_PYCTR)
    assert not new, (f"pyctr ps now imports {new}: keep them off the read path (import where used), or add them "
                     f"to this test's lists with the reason")
    assert not imported & NEVER


@pytest.mark.parametrize("argv", [["images"], ["version"], ["inspect", "c3", "busybox"],
                                  ["inspect", "-f", "{{.State.Status}}", "c3"], ["ps", "--format", "{{.Names}}"]])
def test_the_other_read_commands_load_no_click_pluggy_or_plugins(store, tmp_path, argv):
    imported = imports_of(dict(store, PYCTR_DISABLE_PLUGIN_AUTOLOAD=""), tmp_path, *argv)  # (pyctr-example installed)
    unwanted = {"click", "pluggy", "typing", "uuid", "platform", "importlib.metadata", "pyctr.core.lifecycle",
                "pyctr.plugins.namespaces", "pyctr.runtime"}
    assert not imported & unwanted, sorted(imported & unwanted)
