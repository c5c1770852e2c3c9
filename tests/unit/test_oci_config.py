"""pyctr-runtime without root: the command-line grammar, config.json checks and translation,
cgroupsPath forms, resources, and the one-line errors (text and JSON log)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pyctr.kernel import linux
from pyctr.oci import cgroups, config
from pyctr.oci.cli import COMMANDS, GLOBAL_FLAGS, OciError, parse
from pyctr.testing.conformance.oci import base_config

RUNTIME = os.path.join(os.path.dirname(sys.executable), "pyctr-runtime")


def _bundle(tmp_path, **changes):
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    data = base_config(["sh"], "x/y")
    for key, value in changes.items():
        node = data
        keys = key.split(".")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return config.Bundle(str(tmp_path), data)


def test_grammar_of_runc():
    values, rest = parse(["--root", "/r", "--log=/l", "-log-format", "json", "create", "-b", "x"], GLOBAL_FLAGS)
    assert values == {"root": "/r", "log": "/l", "log-format": "json"} and rest == ["create", "-b", "x"]
    opts, args = parse(["-b", "B", "--pid-file=P", "--no-pivot", "ID"], COMMANDS["create"])
    assert opts == {"bundle": "B", "pid-file": "P", "no-pivot": True} and args == ["ID"]
    opts, args = parse(["--all", "ID", "KILL"], COMMANDS["kill"])
    assert opts == {"all": True} and args == ["ID", "KILL"]
    opts, args = parse(["-e", "A=1", "--env", "B=2", "-t", "ID", "sh", "-c", "x"], COMMANDS["exec"])
    assert opts == {"env": ["A=1", "B=2"], "tty": True} and args == ["ID", "sh", "-c", "x"]
    with pytest.raises(OciError, match="flag provided but not defined: -nope"):
        parse(["--nope"], COMMANDS["start"])
    with pytest.raises(OciError, match="flag needs an argument"):
        parse(["--bundle"], COMMANDS["create"])


def test_translation(tmp_path):
    b = _bundle(tmp_path)
    assert b.rootfs == str(tmp_path / "rootfs")
    assert b.flags == linux.CLONE_NEWPID | linux.CLONE_NEWNET | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS | linux.CLONE_NEWNS
    assert b.joins == {} and "user" in b.shared and "cgroup" in b.shared
    process = b.process()
    assert process.args == ["sh"] and process.cwd == "/" and process.no_new_privileges
    assert process.identity.bounding & (1 << 5)  # CAP_KILL
    assert process.rlimits == [(7, 1024, 1024)]
    plan = b.plan(process)
    kinds = [(m.target, m.kind or m.fstype) for m in plan.mounts]
    assert kinds[0] == ("/proc", "proc") and ("/sys/fs/cgroup", "cgroup") in kinds
    devpts = next(m for m in plan.mounts if m.fstype == "devpts")
    assert devpts.flags == linux.MS_NOSUID | linux.MS_NOEXEC and "newinstance" in devpts.data
    assert plan.masked[0] == "/proc/acpi" and plan.hostname == "oci-test"


def test_namespace_paths_joined_in_order(tmp_path):
    b = _bundle(tmp_path, **{"linux.namespaces": [{"type": "mount"}, {"type": "network", "path": "/proc/self/ns/net"},
                                                   {"type": "ipc", "path": "/proc/self/ns/ipc"}],
                          "hostname": None})
    assert list(b.joins) == ["ipc", "network"]
    assert b.flags == linux.CLONE_NEWNS


@pytest.mark.parametrize("changes, words", [
    ({"process.args": "sh"}, "process.args: must be an array"),
    ({"linux.namespaces": [{"type": "mount"}, {"type": "time"}]}, "unknown namespace type 'time'"),
    ({"linux.namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "pid"}]}, "pid is listed twice"),
    ({"linux.namespaces": [{"type": "pid"}]}, "a mount namespace is required"),
    ({"root.path": "../../etc"}, "leads outside the bundle"),
    ({"root.path": "missing"}, "does not exist"),
    ({"linux.intelRdt": {"closID": "x"}}, "linux.intelRdt: not supported"),
    ({"process.apparmorProfile": "p"}, "process.apparmorProfile: AppArmor is not supported"),
    ({"linux.uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}, "need a new user namespace"),
    ({"linux.sysctl": {"vm.swappiness": "1"}}, "not a namespaced sysctl"),
    ({"hooks": {"prestart": [{"path": "relative"}]}}, "hooks.prestart[0].path: must be an absolute path"),
    ({"ociVersion": "2.0.0"}, "not a 1.x"),
    ({"linux.seccomp": {"defaultAction": "SCMP_ACT_BOGUS"}}, "unknown action"),
    ({"linux.rootfsPropagation": "sideways"}, "unknown propagation"),
])
def test_bad_config_one_line(tmp_path, changes, words):
    with pytest.raises(OciError) as info:
        b = _bundle(tmp_path, **changes)
        b.plan(b.process())
    assert words in str(info.value) and "\n" not in str(info.value)


def test_unsupported_resources_named():
    with pytest.raises(OciError, match=r"linux.resources.hugepageLimits: not supported"):
        cgroups.resources({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]})
    with pytest.raises(OciError, match=r"linux.resources.cpu.realtimeRuntime"):
        cgroups.resources({"cpu": {"realtimeRuntime": 5}})
    res = cgroups.resources({"memory": {"limit": 1 << 26}, "cpu": {"shares": 512, "cpus": "0"},
                             "pids": {"limit": 0}, "devices": [{"allow": False, "access": "rwm"}]})
    assert res == {"memory": 1 << 26, "memory_swap": -1, "cpu_shares": 512, "cpuset_cpus": "0",
                   "pids_limit": -1, "devices": [{"allow": False, "type": "a", "major": None, "minor": None,
                                                  "access": "rwm"}]}


def test_cgroups_path_forms():
    assert cgroups.path_for("", "abc") == "abc"
    assert cgroups.path_for("/default/abc", "abc") == "/default/abc"
    assert cgroups.path_for("kubepods/pod1/abc", "abc") == "kubepods/pod1/abc"
    assert cgroups.path_for("system.slice:cri-containerd:abc", "abc") == "/system.slice/cri-containerd-abc.scope"
    assert cgroups.path_for("kubepods-besteffort-pod1.slice:cri:abc", "x") == \
        "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-abc.scope"
    with pytest.raises(OciError):
        cgroups.path_for("../escape", "x")


def test_device_rules_as_the_kernel_takes_them():
    from pyctr.plugins.cgroupfs.resources import device_rule

    assert device_rule({"allow": False, "type": "a", "access": "rwm"}) == "deny a *:* rwm"
    assert device_rule({"allow": True, "type": "c", "major": 136, "minor": None, "access": "rwm"}) == "allow c 136:* rwm"


def _run(*args, cwd=None):
    return subprocess.run([RUNTIME, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_cli_errors_are_one_line_and_json_logged(tmp_path):
    log = tmp_path / "log.json"
    p = _run("--root", str(tmp_path / "r"), "--log", str(log), "--log-format", "json", "state", "nope")
    assert p.returncode == 1 and p.stderr == "container nope does not exist\n" and p.stdout == ""
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and entry["msg"] == "container nope does not exist" and entry["time"]
    p = _run("--root", str(tmp_path / "r"), "--log", str(tmp_path / "text.log"), "kill", "nope")
    assert p.returncode == 1 and "does not exist" in (tmp_path / "text.log").read_text()
    assert _run("--root", str(tmp_path / "r"), "delete", "--force", "nope").returncode == 0
    p = _run("--root", str(tmp_path / "r"), "create", "--bundle", str(tmp_path), "bad/id")
    assert p.returncode == 1 and "invalid container id" in p.stderr
    assert "Traceback" not in p.stderr


def test_version_spec_features(tmp_path):
    p = _run("--version")
    assert p.returncode == 0 and p.stdout.splitlines()[0].startswith("pyctr-runtime version ")
    assert p.stdout.splitlines()[1] == "spec: 1.1.0"
    features = json.loads(_run("features").stdout)
    assert features["ociVersionMax"] == "1.1.0" and "createContainer" in features["hooks"]
    assert "SCMP_ACT_ERRNO" in features["linux"]["seccomp"]["actions"]
    assert _run("spec", cwd=tmp_path).returncode == 0
    spec = json.loads((tmp_path / "config.json").read_text())
    assert spec["process"]["args"] == ["sh"] and spec["root"]["path"] == "rootfs"
    p = _run("spec", cwd=tmp_path)
    assert p.returncode == 1 and "exists" in p.stderr


def test_state_directory_of_another_runtime(tmp_path):
    root = tmp_path / "r"
    (root / "theirs").mkdir(parents=True)
    (root / "theirs" / "state.json").write_text(json.dumps({"id": "theirs", "init_process_pid": 1}))
    p = _run("--root", str(root), "state", "theirs")
    assert p.returncode == 1 and "belongs to another runtime" in p.stderr
    p = _run("--root", str(root), "delete", "theirs")
    assert p.returncode == 1 and (root / "theirs" / "state.json").exists()


def test_systemd_cgroup_refused_without_a_driver(tmp_path):
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text(json.dumps(base_config(["true"], "system.slice:x:y")))
    p = _run("--root", str(tmp_path / "r"), "--systemd-cgroup", "create", "--bundle", str(tmp_path), "c")
    assert p.returncode == 1 and "--systemd-cgroup" in p.stderr and "\n" == p.stderr[-1] and p.stderr.count("\n") == 1
    assert not (tmp_path / "r" / "c").exists()


def test_runtime_start_is_cheap():
    """The script imports nothing heavy for state/kill (lazy imports: -X importtime)."""
    p = subprocess.run([sys.executable, "-X", "importtime", "-c",
                        "import sys; sys.argv=['pyctr-runtime','--root','/nonexistent-x','state','x'];"
                        "from pyctr.oci.cli import main; main()"], capture_output=True, text=True, timeout=60)
    imported = {line.split("|")[-1].strip() for line in p.stderr.splitlines() if "|" in line}
    for heavy in ("pluggy", "click", "pyroute2", "subprocess", "pyctr.runtime.launch", "ctypes"):
        assert heavy not in imported, heavy
