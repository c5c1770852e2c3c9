"""Seccomp profiles: Docker's default as pyctr carries it, Docker JSON files, errors,
and filters built by the real libseccomp and loaded by the real kernel (no root:
an unprivileged process may load a filter once it has no_new_privs)."""

from __future__ import annotations

import ctypes
import errno
import json
import os

import pytest

from pyctr.core.errors import UsageError
from pyctr.runtime import seccomp
from pyctr.runtime.security import DEFAULT_CAPABILITIES

EPERM_ACTION = 0x00050000 | errno.EPERM
ALLOW = 0x7FFF0000
AMD64 = dict(machine="x86_64", kernel=(6, 1))


def allowed(calls: list[seccomp.Syscall]) -> dict[str, list[seccomp.Syscall]]:
    out: dict[str, list[seccomp.Syscall]] = {}
    for call in calls:
        for name in call.names:
            out.setdefault(name, []).append(call)
    return out


def unconditional(calls: list[seccomp.Syscall]) -> set[str]:
    return {n for c in calls if c.action == ALLOW and not c.args for n in c.names}


# --- Docker's default profile -------------------------------------------------


def test_default_profile_is_dockers_shape():
    p = seccomp.load_profile("default")
    assert p.enabled and p.default_action == EPERM_ACTION  # SCMP_ACT_ERRNO, defaultErrnoRet 1
    assert p.arch_map["SCMP_ARCH_X86_64"] == ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    first = p.syscalls[0]
    assert first.action == ALLOW and not first.args and 350 <= len(first.names) <= 400
    assert {"read", "write", "execve", "openat", "wait4", "capset", "setresuid"} <= set(first.names)
    gated = {"mount", "umount2", "unshare", "setns", "bpf", "open_tree", "move_mount", "fsopen", "clone"}
    assert not gated & set(first.names)


def test_default_without_sys_admin_blocks_namespace_and_mount_syscalls():
    arches, calls = seccomp.select(seccomp.load_profile("default"), list(DEFAULT_CAPABILITIES), **AMD64)
    assert arches == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]  # Docker on amd64
    names = allowed(calls)
    for name in ("mount", "umount2", "unshare", "setns", "bpf", "fsmount", "syslog"):
        assert name not in names, name
    # clone only without CLONE_NEW* flags; clone3 answered ENOSYS so libc falls back to clone
    (clone,) = names["clone"]
    assert clone.args == [(0, 7, 0x7E020000, 0)]  # SCMP_CMP_MASKED_EQ
    (clone3,) = names["clone3"]
    assert clone3.action == 0x00050000 | errno.ENOSYS
    assert len(names["personality"]) == 5 and all(c.args for c in names["personality"])
    assert "arch_prctl" in names and "s390_runtime_instr" not in names
    assert "ptrace" in unconditional(calls)  # kernel >= 4.8


def test_default_with_sys_admin_allows_them_and_drops_the_clone_rules():
    _, calls = seccomp.select(seccomp.load_profile("default"), [*DEFAULT_CAPABILITIES, "SYS_ADMIN"], **AMD64)
    free = unconditional(calls)
    assert {"mount", "umount2", "unshare", "setns", "clone", "clone3"} <= free
    assert all(not c.args for c in allowed(calls)["clone"])
    assert all(c.action == ALLOW for c in allowed(calls)["clone3"])


def test_capability_names_with_or_without_prefix_and_min_kernel():
    p = seccomp.load_profile("default")
    _, calls = seccomp.select(p, ["CAP_SYS_PTRACE", "sys_time"], machine="x86_64", kernel=(4, 4))
    names = allowed(calls)
    assert "kcmp" in names and "clock_settime" in names
    assert len(names["ptrace"]) == 1  # only the CAP_SYS_PTRACE entry: the minKernel 4.8 one is out
    _, calls = seccomp.select(p, [], machine="x86_64", kernel=(4, 4))
    assert "ptrace" not in allowed(calls)


def test_other_architectures_choose_their_entries():
    _, calls = seccomp.select(seccomp.load_profile("default"), [], machine="s390x", kernel=(6, 1))
    names = allowed(calls)
    assert names["clone"][0].args[0][0] == 1  # s390 passes the flags second
    assert "arch_prctl" not in names and "s390_runtime_instr" in names


# --- profile files ----------------------------------------------------------


def write(tmp_path, data) -> str:
    path = tmp_path / "profile.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_docker_profile_file_is_read(tmp_path):
    path = write(tmp_path, {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"name": "chmod", "action": "SCMP_ACT_KILL_PROCESS", "args": []},
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 40, "valueTwo": 0, "op": "SCMP_CMP_EQ"}],
             "includes": {"caps": ["CAP_NET_RAW"]}, "excludes": {"arches": ["s390x"]}},
        ],
    })
    p = seccomp.load_profile(path)
    assert p.default_action == ALLOW and p.source == path
    assert p.architectures == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    mkdir, chmod, sock = p.syscalls
    assert mkdir.names == ["mkdir", "mkdirat"] and mkdir.action == 0x00050000 | 13
    assert chmod.names == ["chmod"] and chmod.action == 0x80000000
    assert sock.args == [(0, 4, 40, 0)] and sock.includes.caps == ["CAP_NET_RAW"]
    _, calls = seccomp.select(p, [], **AMD64)
    assert [c.names for c in calls] == [["mkdir", "mkdirat"], ["chmod"]]  # socket needs NET_RAW
    # the same profile given as text, as it is stored with a container
    assert seccomp.load_profile(open(path).read()).syscalls[0].names == ["mkdir", "mkdirat"]


def test_option_value_reads_the_file_now(tmp_path):
    text = json.dumps({"defaultAction": "SCMP_ACT_ALLOW"})
    path = write(tmp_path, text)
    assert seccomp.option_value(path) == text
    assert seccomp.option_value("unconfined") == "unconfined"
    assert seccomp.option_value("builtin") == seccomp.option_value("default") == "default"


def test_unconfined_and_empty_profiles_mean_no_filter(tmp_path):
    assert not seccomp.load_profile("unconfined").enabled
    assert not seccomp.load_profile(write(tmp_path, "{}")).enabled
    assert seccomp.build(seccomp.load_profile("unconfined"), []) is None


@pytest.mark.parametrize("content, words", [
    ("{\"defaultAction\":", "decoding seccomp profile"),
    ("[]", "not a JSON object"),
    ({"defaultAction": "SCMP_ACT_MAYBE"}, "unknown action 'SCMP_ACT_MAYBE'"),
    ({"defaultAction": "SCMP_ACT_NOTIFY"}, "SCMP_ACT_NOTIFY"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}, "errnoRet"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"],
      "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}, "both 'architectures' and 'archMap'"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["x86"]}, "unknown architecture"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {"names": ["read"]}}, "'syscalls' is not a list"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"]}]}, "unknown action ''"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "read", "names": ["write"],
                                                       "action": "SCMP_ACT_ALLOW"}]}, "both 'name' and 'names'"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]}, "names no syscall"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                                                       "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
     "argument index must be 0 to 5"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                                                       "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]},
     "not a 64-bit unsigned integer"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                                                       "args": [{"index": 0, "value": 1, "op": "=="}]}]},
     "unknown operator '=='"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                                                       "includes": {"minKernel": "four"}}]}, "minKernel"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SCMP_FLAG_FAST"]}, "unknown flag"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/run/agent.sock"}, "not supported"),
])
def test_bad_profiles_give_one_line_naming_the_file(tmp_path, content, words):
    path = write(tmp_path, content)
    with pytest.raises(UsageError) as e:
        seccomp.option_value(path)
    message = str(e.value)
    assert words in message and path in message and "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match=r"opening seccomp profile .*: No such file or directory"):
        seccomp.load_profile(str(tmp_path / "nope.json"))


# --- built by libseccomp, loaded by the kernel ------------------------------


def run_filtered(compiled: seccomp.Filter, body) -> int:
    """Load ``compiled`` in a forked child (no_new_privs first, so no root is needed) and run body."""
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
            seccomp.load(compiled)
            code = body()
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_the_kernel_enforces_a_built_filter(tmp_path):
    profile = seccomp.parse({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EROFS},
            {"names": ["no_such_syscall_at_all"], "action": "SCMP_ACT_ERRNO"},  # skipped, as runc does
            {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO",  # one index twice: either matches
             "args": [{"index": 0, "value": os.PRIO_PGRP, "op": "SCMP_CMP_EQ"},
                      {"index": 0, "value": os.PRIO_USER, "op": "SCMP_CMP_EQ"}]},
        ],
    }, "test")
    compiled = seccomp.build(profile, [])
    assert compiled is not None and compiled.program and len(compiled.program) % 8 == 0

    def body() -> int:
        try:
            os.mkdir(tmp_path / "x")
            return 1
        except OSError as e:
            if e.errno != errno.EROFS:
                return 2
        (tmp_path / "f").write_text("still allowed")
        for which, want in ((os.PRIO_PGRP, errno.EPERM), (os.PRIO_USER, errno.EPERM), (os.PRIO_PROCESS, 0)):
            try:
                os.getpriority(which, 0)
                got = 0
            except OSError as e:
                got = e.errno
            if got != want:
                return 3
        status = open("/proc/self/status").read()
        return 0 if "Seccomp:\t2" in status and "Seccomp_filters:\t1" in status else 4

    assert run_filtered(compiled, body) == 0
    assert not (tmp_path / "x").exists()


def test_default_filter_blocks_unshare_with_eperm_and_clone3_with_enosys():
    compiled = seccomp.build(seccomp.load_profile("default"), list(DEFAULT_CAPABILITIES))

    def body() -> int:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x10000000) != -1 or ctypes.get_errno() != errno.EPERM:  # CLONE_NEWUSER needs no cap
            return 1
        if libc.syscall(435, None, 0) != -1 or ctypes.get_errno() != errno.ENOSYS:  # clone3
            return 2
        if libc.personality(ctypes.c_ulong(0xFFFFFFFF)) < 0:  # querying is allowed
            return 3
        return 0 if os.getpid() > 0 and os.listdir("/") else 4

    assert run_filtered(compiled, body) == 0


def test_prepared_keeps_a_failure_for_load_and_privileged_means_none():
    broken = seccomp.Prepared('{"defaultAction": "SCMP_ACT_SOMETIMES"}', False, [])
    assert broken.filter is None
    with pytest.raises(UsageError, match="unknown action 'SCMP_ACT_SOMETIMES'"):
        broken.load()
    privileged = seccomp.Prepared("default", True, [])
    assert privileged.filter is None and privileged.error is None
    privileged.load()  # nothing to install
    assert seccomp.Prepared("unconfined", False, []).filter is None
    built = seccomp.Prepared("default", False, list(DEFAULT_CAPABILITIES))
    assert built.error is None and built.filter is not None and len(built.filter.program) > 1000 * 8


def test_compiled_filters_are_cached_by_their_inputs(tmp_path):
    """cached_build: the first call compiles and stores, the next reads the same program;
    other capabilities or another profile text are another entry; damage means a recompile."""
    caps = list(DEFAULT_CAPABILITIES)
    fresh = seccomp.build(seccomp.load_profile("default"), caps)
    first = seccomp.cached_build("default", caps, str(tmp_path))
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".bpf"
    assert (first.program, first.flags) == (fresh.program, fresh.flags)
    again = seccomp.cached_build("default", caps, str(tmp_path))
    assert (again.program, again.flags) == (fresh.program, fresh.flags)
    assert list(tmp_path.iterdir()) == files  # read, not rewritten under another name

    with_admin = seccomp.cached_build("default", caps + ["CAP_SYS_ADMIN"], str(tmp_path))
    assert len(list(tmp_path.iterdir())) == 2 and with_admin.program != fresh.program
    text = json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO"}]})
    custom = seccomp.cached_build(text, caps, str(tmp_path))
    assert len(list(tmp_path.iterdir())) == 3 and custom.program != fresh.program

    files[0].write_bytes(b"garbage")  # a damaged entry is compiled again and replaced
    repaired = seccomp.cached_build("default", caps, str(tmp_path))
    assert repaired.program == fresh.program and files[0].read_bytes().endswith(fresh.program)


def test_cache_key_changes_with_every_input():
    caps = list(DEFAULT_CAPABILITIES)
    base = seccomp.cache_key("default", caps)
    assert seccomp.cache_key("default", list(reversed(caps))) == base  # order does not matter
    assert seccomp.cache_key("default", caps[:-1]) != base
    assert seccomp.cache_key('{"defaultAction": "SCMP_ACT_ALLOW"}', caps) != base


def test_an_unwritable_cache_only_costs_the_compile(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    compiled = seccomp.cached_build("default", list(DEFAULT_CAPABILITIES), str(blocker / "cache"))
    assert compiled is not None and compiled.program
    assert seccomp.cached_build("unconfined", [], str(tmp_path / "u")) is None
    assert not (tmp_path / "u").exists()


def test_a_cached_filter_is_used_only_for_its_own_key(tmp_path):
    # the file name is a short checksum: a file under that name made for other inputs
    # (a collision, or an older format) must be compiled over, never loaded
    caps = list(DEFAULT_CAPABILITIES)
    fresh = seccomp.cached_build("default", caps, str(tmp_path))
    (path,) = tmp_path.iterdir()
    other_key = seccomp.cache_key("default", caps[:-1]).encode()
    path.write_bytes(seccomp._CACHE_MAGIC + len(other_key).to_bytes(4, "little") + other_key
                     + (0).to_bytes(4, "little") + b"\0" * 8)
    again = seccomp.cached_build("default", caps, str(tmp_path))
    assert (again.program, again.flags) == (fresh.program, fresh.flags)
    assert path.read_bytes().endswith(fresh.program)


def test_cache_file_names_are_stable_across_processes_and_pythons():
    from pyctr.core.filekeys import name_for

    # FNV-1a 64's published test vectors: no per-process seed, no interpreter dependency
    assert name_for("") == "cbf29ce484222325"
    assert name_for("a") == "af63dc4c8601ec8c"
    assert name_for("foobar") == "85944171f73967e8"
