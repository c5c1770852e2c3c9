"""Seccomp in real containers: what the kernel says inside (/proc/self/status,
the errno of refused syscalls), through the pyctr command line."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.root

RUN = ("--network=none", "run", "--rm")


def status(busybox, *options: str) -> dict[str, str]:
    r = busybox(*RUN, *options, "busybox", "cat", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    return dict(line.split(":\t", 1) for line in r.stdout.splitlines() if ":\t" in line)


def test_default_container_has_one_filter_and_no_new_privs_unset(busybox):
    s = status(busybox)
    assert s["Seccomp"] == "2"
    assert s["Seccomp_filters"] == "1"
    assert s["NoNewPrivs"] == "0"  # Docker sets it only for --security-opt no-new-privileges


def test_unshare_and_mount_fail_with_eperm_in_a_default_container(busybox):
    r = busybox(*RUN, "busybox", "sh", "-c",
                "unshare -m true; echo m=$?; unshare -U true; echo u=$?; mkdir /mnt; mount -t tmpfs x /mnt; echo t=$?")
    assert r.returncode == 0, r.stderr
    assert "m=1" in r.stdout and "u=1" in r.stdout and "t=1" in r.stdout
    assert "unshare(0x20000): Operation not permitted" in r.stderr
    assert "unshare(0x10000000): Operation not permitted" in r.stderr
    assert "permission denied" in r.stderr  # busybox's words for EPERM from mount


def test_seccomp_is_what_refuses_a_user_namespace(busybox):
    """unshare(CLONE_NEWUSER) needs no capability: only the profile stops it."""
    script = "unshare -U true && echo created"
    assert "created" not in busybox(*RUN, "busybox", "sh", "-c", script).stdout
    r = busybox(*RUN, "--security-opt", "seccomp=unconfined", "busybox", "sh", "-c", script)
    assert r.returncode == 0 and "created" in r.stdout, r.stderr


def test_cap_sys_admin_opens_the_gated_syscalls(busybox):
    r = busybox(*RUN, "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c",
                "mkdir /mnt && mount -t tmpfs x /mnt && unshare -m true && echo mounted")
    assert r.returncode == 0 and "mounted" in r.stdout, r.stderr
    assert status(busybox, "--cap-add", "SYS_ADMIN")["Seccomp"] == "2"


def test_unconfined_and_privileged_have_no_filter(busybox):
    assert status(busybox, "--security-opt", "seccomp=unconfined")["Seccomp"] == "0"
    assert status(busybox, "--privileged")["Seccomp"] == "0"


def test_non_root_user_gets_the_filter_with_and_without_no_new_privileges(busybox):
    s = status(busybox, "--user", "99:99")
    assert (s["Seccomp"], s["Seccomp_filters"], s["NoNewPrivs"]) == ("2", "1", "0")
    assert s["Uid"].split()[0] == "99" and s["CapEff"] == "0000000000000000"
    s = status(busybox, "--user", "99:99", "--security-opt", "no-new-privileges")
    assert (s["Seccomp"], s["Seccomp_filters"], s["NoNewPrivs"]) == ("2", "1", "1")


def test_custom_profile_denies_mkdir_only(busybox, tmp_path):
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }))
    r = busybox(*RUN, "--security-opt", f"seccomp={profile}", "busybox", "sh", "-c",
                "mkdir /x; echo mkdir=$?; touch /y && echo touched; grep Seccomp: /proc/self/status")
    assert r.returncode == 0, r.stderr
    assert "mkdir=1" in r.stdout and "touched" in r.stdout and "Seccomp:\t2" in r.stdout
    assert "Operation not permitted" in r.stderr
    # the profile was read at create: the container keeps it, not the file's path
    with_file = busybox(*RUN, "--security-opt", f"seccomp={profile}", "busybox", "unshare", "-U", "true")
    assert with_file.returncode == 0, with_file.stderr  # this profile allows everything else


@pytest.mark.parametrize("content", ['{"defaultAction":', '{"defaultAction": "SCMP_ACT_SOMETIMES"}', None])
def test_bad_profile_exits_125_with_one_line_and_creates_nothing(busybox, tmp_path, content):
    profile = tmp_path / "bad.json"
    if content is not None:
        profile.write_text(content)
    r = busybox(*RUN, "--security-opt", f"seccomp={profile}", "busybox", "true")
    assert r.returncode == 125
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(profile) in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert busybox("ps", "-a", "-q", check=True).stdout.strip() == ""


def test_exec_gets_the_containers_filter(busybox, tmp_path):
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }))
    names = {"d": (), "u": ("--security-opt", "seccomp=unconfined"), "p": ("--security-opt", f"seccomp={profile}")}
    try:
        for name, options in names.items():
            busybox("--network=none", "run", "-d", "--name", name, *options, "busybox", "sleep", "300", check=True)
        grep = ("grep", "^Seccomp:", "/proc/self/status")
        assert busybox("exec", "d", *grep).stdout.split() == ["Seccomp:", "2"]
        assert busybox("exec", "-u", "99:99", "d", *grep).stdout.split() == ["Seccomp:", "2"]
        assert busybox("exec", "u", *grep).stdout.split() == ["Seccomp:", "0"]
        r = busybox("exec", "d", "unshare", "-U", "true")
        assert r.returncode != 0 and "Operation not permitted" in r.stderr
        r = busybox("exec", "p", "sh", "-c", "mkdir /x; echo mkdir=$?; touch /y && echo touched")
        assert "mkdir=1" in r.stdout and "touched" in r.stdout, r.stderr
    finally:
        busybox("rm", "-f", *names)
