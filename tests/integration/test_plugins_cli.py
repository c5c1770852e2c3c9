"""pyctr plugins / info / the example third-party distribution."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def test_plugins_lists_every_builtin_and_the_example(pyctr):
    r = pyctr("plugins", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = {(x["Kind"], x["Name"]): x for x in json.loads(r.stdout)}
    for kind, name in [("storage", "vfs"), ("network", "none"), ("network", "host"), ("hook", "namespace:pid"),
                       ("hook", "namespace:network"), ("hook", "namespace:user")]:
        assert (kind, name) in rows
        assert rows[(kind, name)]["Distribution"] == "pyctr"
    assert rows[("volume", "example")]["Distribution"] == "pyctr-example"
    assert rows[("hook", "example-labels")]["Distribution"] == "pyctr-example"


def test_disabling_autoload_drops_the_example_hook_plugin_but_not_builtins(pyctr):
    pyctr.env["PYCTR_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    names = {x["Name"] for x in json.loads(pyctr("plugins", "--format", "json").stdout)}
    assert "example-labels" not in names
    assert "namespace:pid" in names


def test_load_plugins_allow_list(pyctr):
    pyctr.env["PYCTR_LOAD_PLUGINS"] = "pyctr-example"  # a distribution
    names = {x["Name"] for x in json.loads(pyctr("plugins", "--format", "json").stdout)}
    assert "example-labels" in names
    pyctr.env["PYCTR_LOAD_PLUGINS"] = "example-labels"  # an entry point's name
    names = {x["Name"] for x in json.loads(pyctr("plugins", "--format", "json").stdout)}
    assert "example-labels" in names
    pyctr.env["PYCTR_LOAD_PLUGINS"] = ""  # none
    names = {x["Name"] for x in json.loads(pyctr("plugins", "--format", "json").stdout)}
    assert "example-labels" not in names
    pyctr.env["PYCTR_LOAD_PLUGINS"] = "some-other-dist"  # a name nothing has: said, not silently nothing
    r = pyctr("plugins")
    assert r.returncode == 125 and "PYCTR_LOAD_PLUGINS names some-other-dist" in r.stderr, r.stderr


def test_info_reports_storage_cgroup_kernel(pyctr):
    r = pyctr("info")
    assert r.returncode == 0, r.stderr
    assert "Storage Driver:" in r.stdout
    assert "Backing Filesystem:" in r.stdout
    assert "Cgroup Version:" in r.stdout
    assert f"Kernel Version: {os.uname().release}" in r.stdout
    data = json.loads(pyctr("info", "--format", "json").stdout)
    assert data["KernelVersion"] == os.uname().release
    assert data["CgroupVersion"] in ("1", "2")


@pytest.mark.root
def test_example_hook_plugin_labels_containers_and_sets_env(busybox):
    r = busybox("--network=none", "run", "--rm", "busybox", "sh", "-c", "echo $PYCTR_EXAMPLE")
    assert r.stdout.strip() == "1"
    busybox.env["PYCTR_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    r = busybox("--network=none", "run", "--rm", "busybox", "sh", "-c", "echo x$PYCTR_EXAMPLE")
    assert r.stdout.strip() == "x"


@pytest.mark.parametrize("loader", ["index", "stevedore"])
def test_two_distributions_claiming_one_driver_name_is_a_clear_error(pyctr, tmp_path, loader):
    """A real second distribution (a dist-info on the path) claiming ``vfs``."""
    if loader == "stevedore":
        pyctr.env["PYCTR_STEVEDORE"] = "1"
    site = tmp_path / "site"
    info = site / "pyctr_impostor-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pyctr-impostor\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[pyctr.storage]\nvfs = impostor:Driver\n")
    pyctr.env["PYTHONPATH"] = str(site)
    r = pyctr("--storage-driver=vfs", "info")
    assert r.returncode == 125
    assert len(r.stderr.strip().splitlines()) == 1
    assert "pyctr-impostor" in r.stderr and "vfs" in r.stderr


@pytest.mark.parametrize("argv", [["--help"], ["ps"], ["ps", "-a"], ["images"]])
def test_light_commands_import_no_driver_and_no_pyroute2(pyctr, argv):
    # (the fast path leaves through os._exit, click through SystemExit: report either way)
    code = (
        "import os, sys\n"
        "def report():\n"
        "    heavy = [m for m in sys.modules if m.startswith(('pyroute2', 'pyctr.storage_plugins.', "
        "'pyctr.network_plugins.', 'pyctr.plugins.cgroupfs', 'pyctr.plugins.volume'))\n"
        # the bridge's small built-in prune plugin is no driver (it imports the driver only when it has work)
        "             and m != 'pyctr.network_plugins.bridge_prune']\n"
        "    print('HEAVY', heavy, file=sys.stderr, flush=True)\n"
        "real_exit = os._exit\n"
        "os._exit = lambda code: (report(), real_exit(code))\n"
        "from pyctr.cli import main\n"
        f"sys.argv = ['pyctr'] + {argv!r}\n"
        "try:\n    main()\nexcept SystemExit:\n    report()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=pyctr.env)
    assert "HEAVY []" in r.stderr, r.stderr


@pytest.mark.root
def test_run_imports_neither_click_nor_pyroute2(busybox):
    """The start path: `run` is parsed without click (pyctr.cli.fastpath). Read from
    -X importtime, because the fast path leaves with os._exit (no code runs after it)."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "pyctr", "run", "--rm", "--network", "none",
                        "busybox", "true"], capture_output=True, text=True, env=busybox.env)
    assert r.returncode == 0, r.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")]
    assert "pyctr.runtime.launch" in imported  # the listing is real: the runtime was imported
    heavy = [m for m in imported if m.split(".")[0] in ("click", "pyroute2")]
    assert heavy == [], heavy


@pytest.mark.root
def test_drivers_load_through_stevedore_too(busybox):
    busybox.env["PYCTR_STEVEDORE"] = "1"
    r = busybox("--network=none", "--storage-driver=overlay2", "run", "--rm", "busybox", "echo", "via-stevedore")
    assert r.returncode == 0 and r.stdout.strip() == "via-stevedore", r.stderr
    r = busybox("--storage-driver=nope", "run", "busybox", "true")
    assert r.returncode == 125 and "nope" in r.stderr


def test_installing_a_distribution_refreshes_the_entry_point_index(pyctr, tmp_path):
    """The index is keyed on sys.path and dist-info mtimes: a new distribution is seen at once."""
    site = tmp_path / "site"
    site.mkdir()
    pyctr.env["PYTHONPATH"] = str(site)
    names = {x["Name"] for x in json.loads(pyctr("plugins", "--format", "json").stdout)}
    assert "late-driver" not in names
    info = site / "pyctr_late-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pyctr-late\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[pyctr.volume]\nlate-driver = pyctr_example.volume:ExampleVolumeDriver\n")
    names = {x["Name"] for x in json.loads(pyctr("plugins", "--format", "json").stdout)}
    assert "late-driver" in names


@pytest.mark.root
def test_a_hook_plugin_that_fails_to_import_is_named_and_listed(busybox, tmp_path):
    from tests.helpers import install_hook_plugin

    busybox.env["PYTHONPATH"] = install_hook_plugin(tmp_path / "site", "pyctr-broken", "pyctr_broken",
                                                    "import no_such_module_anywhere\n")
    r = busybox("--network=none", "run", "--rm", "busybox", "true")
    assert r.returncode == 125, r.stderr
    (line,) = r.stderr.splitlines()  # one line, naming the entry point and the distribution
    assert "'broken'" in line and "pyctr-broken" in line and "no_such_module_anywhere" in line, line
    assert busybox("ps", "-a", "-q").stdout.strip() == ""  # nothing half-made
    listed = busybox("plugins")
    assert listed.returncode == 0, listed.stderr
    (row,) = [x for x in listed.stdout.splitlines() if x.split()[:1] == ["broken"]]
    assert "pyctr-broken" in row and "no: failed to load" in row and "no_such_module_anywhere" in row, row
    busybox.env["PYCTR_IGNORE_PLUGIN_ERRORS"] = "1"
    assert busybox("--network=none", "run", "--rm", "busybox", "true").returncode == 0


HALF_DRIVERS = r'''
from pyctr.core.drivers import NetworkDriver, VolumeDriver

class HalfNetwork(NetworkDriver):
    """connect only: disconnect (abstract) is missing"""
    def connect(self, container, pid):
        return None

class HalfVolume(VolumeDriver):
    """create only"""
    def create(self, name, options):
        return {}

class NotADriver:
    pass
'''


def _install_half_drivers(site) -> str:
    info = site / "pyctr_half-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pyctr-half\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[pyctr.network]\nhalfnet = half_drivers:HalfNetwork\n"
                                           "[pyctr.volume]\nhalfvol = half_drivers:HalfVolume\n"
                                           "notavol = half_drivers:NotADriver\n")
    (site / "half_drivers.py").write_text(HALF_DRIVERS)
    return str(site)


@pytest.mark.root
def test_a_driver_missing_an_abstract_method_is_reported_and_makes_nothing(busybox, tmp_path):
    busybox.env["PYTHONPATH"] = _install_half_drivers(tmp_path / "site")
    rows = {(x["Kind"], x["Name"]): x for x in json.loads(busybox("plugins", "--format", "json", check=True).stdout)}
    assert rows[("network", "halfnet")]["Supported"].startswith("no: ")
    assert "does not implement disconnect" in rows[("network", "halfnet")]["Supported"]
    assert "pyctr-half" in rows[("network", "halfnet")]["Supported"]
    assert "does not implement" in rows[("volume", "halfvol")]["Supported"]
    assert "is not a volume driver" in rows[("volume", "notavol")]["Supported"]
    for args in (["--network", "halfnet"], ["--volume-driver", "halfvol", "-v", "data:/data"],
                 ["--mount", "type=volume,source=other,target=/data,volume-driver=notavol"]):
        r = busybox("run", "--rm", *args, "busybox", "true")
        assert r.returncode == 125, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "pyctr-half" in r.stderr, r.stderr
        assert busybox("ps", "-a", "-q", check=True).stdout == "", args
        assert busybox("volume", "ls", "-q", check=True).stdout == "", args
