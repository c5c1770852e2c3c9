"""pyctr as an ordinary user: the seed's demos that make sense without root, and who owns what.

Every command runs as the unprivileged test user (tests/rootless/conftest.py);
the host-side checks (owners of processes and files) are read by root from
/proc and the filesystem, independently of pyctr.
"""

from __future__ import annotations

import os
import time

import pytest


def test_info_says_rootless_and_where(session):
    out = session.pyctr("info", check=True).stdout
    assert "Rootless: true" in out
    assert f"Docker Root Dir: {session.home}/.local/share/pyctr" in out
    assert f"Run Root: {session.runtime}/pyctr" in out
    start, count = session.user.subuids[0]
    assert f"UID Map: 0->{session.user.uid} (1), 1->{start} ({count})" in out
    assert "ID Mapping Helpers: /usr/bin/newuidmap /usr/bin/newgidmap" in out


def test_pid1_ps_hostname(busybox):
    done = busybox.pyctr("run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo $$; hostname; ps; id",
                         check=True)
    lines = done.stdout.splitlines()
    assert lines[0] == "1"
    assert len(lines[1]) == 12  # the container id's prefix, as Docker's
    assert "uid=0(root) gid=0(root)" in done.stdout
    ps = [line for line in lines if line.split()[:1] and line.split()[0].isdigit()]
    assert [p.split()[0] for p in ps] == ["1", "3"] or ps[0].split()[0] == "1"


def test_user_99(busybox):
    done = busybox.pyctr("run", "--rm", "--network", "none", "--user=99:99", "busybox", "id", check=True)
    assert done.stdout.strip() == "uid=99(user99) gid=99(group99)"


def _host_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def _wait_for_pid(session, name: str) -> int:
    for _ in range(100):
        pid = session.pyctr("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
        if pid.isdigit() and pid != "0":
            return int(pid)
        time.sleep(0.05)
    raise AssertionError(f"{name} never got a pid")


def test_root_inside_the_user_outside(busybox):
    """The container's root is the user on the host; its uid 99 is the user's subordinate id 99."""
    user = busybox.user
    busybox.pyctr("run", "-d", "--name", "r", "--network", "none", "busybox", "sleep", "60", check=True)
    busybox.pyctr("run", "-d", "--name", "u99", "--network", "none", "--user", "99:99", "busybox", "sleep", "60",
                  check=True)
    try:
        root_pid, u99_pid = _wait_for_pid(busybox, "r"), _wait_for_pid(busybox, "u99")
        inside = busybox.pyctr("exec", "r", "id", "-u", check=True).stdout.strip()
        assert inside == "0"
        status = _host_status(root_pid)
        assert status["Uid"].split() == [str(user.uid)] * 4
        assert status["Gid"].split() == [str(user.gid)] * 4
        status = _host_status(u99_pid)
        assert status["Uid"].split() == [str(user.shifted(99))] * 4
        assert status["Gid"].split() == [str(user.shifted_gid(99))] * 4
        # Nothing of this user's pyctr runs as root on the host: every process in the
        # user's namespace (monitors, inits) has a host uid of the user's own range.
        pause = busybox.pause_pid()
        user_ns = os.readlink(f"/proc/{pause}/ns/user")
        in_ns = [p for p in map(int, filter(str.isdigit, os.listdir("/proc")))
                 if _readlink(f"/proc/{p}/ns/user") == user_ns]
        assert root_pid in in_ns and u99_pid in in_ns and len(in_ns) >= 5  # pause, 2 monitors, 2 inits
        for p in in_ns:
            uid = int(_host_status(p)["Uid"].split()[0]) if os.path.exists(f"/proc/{p}") else user.uid
            assert uid in user.host_uids(), (p, uid)
    finally:
        busybox.pyctr("rm", "-f", "r", "u99")


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def test_layers_are_extracted_with_ids_shifted(busybox):
    """An image's root files belong to the user on the host, its uid 99 files to subordinate id 99,
    and nothing in the user's store belongs to root."""
    user = busybox.user
    store = busybox.store
    homes = list(store.glob("overlay2/*/diff/home/user99"))
    assert len(homes) == 1
    st = os.lstat(homes[0])
    assert (st.st_uid, st.st_gid) == (user.shifted(99), user.shifted_gid(99))
    busybox_bin = next(store.glob("overlay2/*/diff/bin/busybox"))
    assert os.lstat(busybox_bin).st_uid == user.uid
    owners = set()
    for dirpath, dirnames, filenames in os.walk(store):
        for name in dirnames + filenames:
            owners.add(os.lstat(os.path.join(dirpath, name)).st_uid)
    assert owners <= user.host_uids(), owners - user.host_uids()
    assert 0 not in owners


def test_overlay_mount_is_in_the_users_namespace_only(busybox):
    """The container's root is an overlay mounted inside the user's mount namespace (with
    userxattr), seen there and not on the host."""
    busybox.pyctr("run", "-d", "--name", "o", "--network", "none", "busybox", "sleep", "60", check=True)
    try:
        _wait_for_pid(busybox, "o")
        merged = busybox.pyctr("inspect", "--format", "{{.GraphDriver.Data.MergedDir}}", "o", check=True).stdout.strip()
        seen = busybox.pyctr("unshare", "cat", "/proc/self/mountinfo", check=True).stdout
        line = next(line for line in seen.splitlines() if line.split()[4] == merged)
        assert " - overlay overlay " in line and "userxattr" in line
        with open("/proc/self/mountinfo") as f:
            assert merged not in f.read()
    finally:
        busybox.pyctr("rm", "-f", "o")


def test_files_of_the_user_store_only(busybox):
    """Everything pyctr made (store, run root) belongs to the user's ids: it never ran as root."""
    busybox.pyctr("run", "--rm", "--network", "none", "busybox", "true", check=True)
    for top in (busybox.store, busybox.runtime):
        for dirpath, dirnames, filenames in os.walk(top):
            for name in dirnames + filenames:
                uid = os.lstat(os.path.join(dirpath, name)).st_uid
                assert uid in busybox.user.host_uids(), os.path.join(dirpath, name)


@pytest.mark.parametrize("flag", ["-m", "--cpus", "--pids-limit"])
def test_limits_refused_without_delegation(busybox, flag):
    """This host's cgroup v1 cannot be delegated: a limit is refused in one line, nothing is left."""
    if open("/proc/self/mountinfo").read().find(" /sys/fs/cgroup cgroup2 ") >= 0:
        pytest.skip("cgroup v2 here: tests/rootless/test_cgroups_v2.py")
    value = {"-m": "10m", "--cpus": "0.5", "--pids-limit": "20"}[flag]
    done = busybox.pyctr("run", "--rm", "--network", "none", flag, value, "busybox", "true")
    assert done.returncode == 125
    assert len(done.stderr.strip().splitlines()) == 1
    assert "cgroup v1" in done.stderr and "delegated" in done.stderr
    assert busybox.pyctr("ps", "-aq", check=True).stdout.strip() == ""


def test_detached_logs_exec_stop_start(busybox):
    busybox.pyctr("run", "-d", "--name", "d", "--network", "none", "busybox", "sh", "-c",
                  "echo started; trap 'exit 0' TERM; while true; do sleep 0.1; done", check=True)
    try:
        for _ in range(50):
            if busybox.pyctr("logs", "d").stdout == "started\n":
                break
            time.sleep(0.1)
        assert busybox.pyctr("logs", "d", check=True).stdout == "started\n"
        assert busybox.pyctr("exec", "d", "hostname", check=True).stdout.strip() == \
            busybox.pyctr("inspect", "--format", "{{.Config.Hostname}}", "d", check=True).stdout.strip()
        busybox.pyctr("stop", "d", check=True)
        assert busybox.pyctr("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "d",
                             check=True).stdout.strip() == "exited 0"
        busybox.pyctr("start", "d", check=True)
        assert busybox.pyctr("inspect", "--format", "{{.State.Status}}", "d", check=True).stdout.strip() == "running"
        _wait_for_pid(busybox, "d")
    finally:
        busybox.pyctr("rm", "-f", "d")


def test_attach_interactive_stdin(busybox):
    done = busybox.pyctr("run", "--rm", "-i", "--network", "none", "busybox", "sh", "-c", "read x; echo got-$x",
                         input="hello\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "got-hello\n"


def test_userns_keep_id(busybox):
    """--userns=keep-id: the user's own uid and gid inside; what it writes in a bind mount is the user's."""
    user = busybox.user
    work = busybox.home / "keep"
    busybox.run(["mkdir", str(work)], check=True)
    out = busybox.pyctr("run", "--rm", "--network", "none", "--userns=keep-id", "-v", f"{work}:/w", "busybox", "sh",
                        "-c", "id -u; id -g; stat -c %u /w; touch /w/made; cat /proc/self/uid_map", check=True)
    lines = out.stdout.split("\n")
    assert lines[:3] == [str(user.uid), str(user.gid), str(user.uid)]
    st = os.lstat(work / "made")
    assert (st.st_uid, st.st_gid) == (user.uid, user.gid)
    # the container's root is the user's first subordinate id on the host
    assert f"{user.uid}          0          1" in " ".join(lines[3:]) or any(
        line.split() == [str(user.uid), "0", "1"] for line in lines[3:])


def test_api_socket_in_the_runtime_dir(busybox):
    """pyctr system service as the user listens on $XDG_RUNTIME_DIR/pyctr/pyctr.sock."""
    import subprocess

    sock = busybox.runtime / "pyctr" / "pyctr.sock"
    service = subprocess.Popen([busybox.python, "-m", "pyctr", "system", "service", "--time", "0"],
                               user=busybox.user.uid, group=busybox.user.gid, extra_groups=[], env=busybox.env,
                               cwd=str(busybox.home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        ping = busybox.run(["curl", "-s", "--unix-socket", str(sock), "http://d/_ping"], check=True).stdout
        assert ping == "OK"
        images = busybox.run(["curl", "-s", "--unix-socket", str(sock), "http://d/images/json"], check=True).stdout
        assert "busybox:latest" in images
        assert os.stat(sock).st_uid == busybox.user.uid
    finally:
        service.terminate()
        service.wait(timeout=10)


def test_attach_to_a_detached_container(busybox):
    """pyctr attach, as the user, to a container started with run -d -i: stdin in, output and exit code out."""
    busybox.pyctr("run", "-d", "-i", "--name", "a", "--network", "none", "busybox", "sh", "-c",
                  "read x; echo got-$x; exit 3", check=True)
    try:
        done = busybox.pyctr("attach", "a", input="hello\n", timeout=60)
        assert done.stdout == "got-hello\n", done.stderr
        assert done.returncode == 3
        assert busybox.pyctr("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "a",
                             check=True).stdout.strip() == "exited 3"
    finally:
        busybox.pyctr("rm", "-f", "a")
