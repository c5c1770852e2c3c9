"""Seccomp for containers: Docker/OCI profiles compiled by libseccomp.

``load_profile`` reads a profile (the built-in Docker default, a Docker JSON
file, or its text as stored with the container) into plain data and checks
everything that can be checked without the kernel, so the CLI can refuse a
bad file before anything is created. ``build`` turns that data into a filter
the way Docker and runc do: entries chosen by the container's capabilities,
architecture and kernel (moby ``setupSeccomp``), then one libseccomp rule per
syscall (runc ``InitSeccomp``), on the native architecture plus the ones the
profile's archMap adds (x86 and x32 on amd64, as Docker). ``load`` installs
the exported BPF with seccomp(2); ``apply`` does both. pyctr loads the program
itself so that the slow part (tens of milliseconds) can run before the init
is told to go (``Prepared``), and so that loading does not set no_new_privs
behind the user's back (libseccomp's default; Docker leaves that to
``--security-opt no-new-privileges``).

libseccomp (Debian's libseccomp2) is used through ctypes: there are no Python
bindings for this interpreter, and the C library already knows every syscall
number of every architecture, which is the hard part.
"""

from __future__ import annotations

import ctypes
import errno
import os

from pyctr.core.errors import UsageError
from pyctr.core.filekeys import name_for  # the cache's file names

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

#: names that mean the built-in profile (Docker's daemon calls it "builtin")
BUILTIN_NAMES = ("default", "builtin")
UNCONFINED = "unconfined"

# libseccomp's action encodings (seccomp.h); ERRNO and TRACE carry a 16-bit value
_ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
}
_WITH_VALUE = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
# enum scmp_compare
_OPS = {
    "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7,
}
# enum scmp_filter_attr
_ATTR_CTL_NNP = 3
_ATTR_CTL_OPTIMIZE = 8
# profile flags -> seccomp(2) SECCOMP_FILTER_FLAG_* (we load the program ourselves)
_LOAD_FLAGS = {"SCMP_FLAG_TSYNC": 1, "SCMP_FLAG_LOG": 2, "SCMP_FLAG_SPEC_ALLOW": 4}
_SECCOMP_SET_MODE_FILTER = 1

# uname machine -> (the arch name profiles use in includes/excludes, its SCMP_ARCH_*)
_MACHINES = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"), "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "i686": ("x86", "SCMP_ARCH_X86"), "i386": ("x86", "SCMP_ARCH_X86"),
    "armv7l": ("arm", "SCMP_ARCH_ARM"), "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"), "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"),
    "loongarch64": ("loongarch64", "SCMP_ARCH_LOONGARCH64"),
}


# Plain classes, not dataclasses: this module is imported by every container's
# init, and each dataclass costs about a millisecond to create.


class Condition:
    """Which containers an entry applies to (Docker's ``includes``/``excludes``)."""

    __slots__ = ("caps", "arches", "min_kernel")

    def __init__(self, caps: list[str] | None = None, arches: list[str] | None = None,
                 min_kernel: tuple[int, int] | None = None) -> None:
        self.caps = caps or []  #: CAP_* names
        self.arches = arches or []  #: amd64, x86, arm64, ...
        self.min_kernel = min_kernel


class Syscall:
    __slots__ = ("names", "action", "args", "includes", "excludes")

    def __init__(self, names: list[str], action: int, args: list[tuple[int, int, int, int]],
                 includes: Condition, excludes: Condition) -> None:
        self.names = names
        self.action = action  #: libseccomp action code, errno folded in
        self.args = args  #: (index, op, value, valueTwo)
        self.includes = includes
        self.excludes = excludes


class Profile:
    """A checked profile; ``default_action`` None means no filter at all."""

    __slots__ = ("default_action", "architectures", "arch_map", "syscalls", "flags", "source")

    def __init__(self, default_action: int | None, source: str = "") -> None:
        self.default_action = default_action
        self.architectures: list[str] = []  #: SCMP_ARCH_* beyond the native one
        self.arch_map: dict[str, list[str]] = {}  #: native -> sub-architectures
        self.syscalls: list[Syscall] = []
        self.flags: list[str] = []
        self.source = source

    @property
    def enabled(self) -> bool:
        return self.default_action is not None


def load_profile(path_or_name: str) -> Profile:
    """``default``, ``unconfined``, a profile file's path, or the profile's JSON text.

    Raises UsageError (one line, exit 125) for a file that cannot be read or
    a profile pyctr cannot apply.
    """
    if path_or_name in BUILTIN_NAMES:
        from pyctr.runtime import seccomp_default

        return parse(seccomp_default.profile(), "default")
    if path_or_name == UNCONFINED:
        return Profile(None, source=UNCONFINED)
    if path_or_name.lstrip().startswith("{"):
        return parse_text(path_or_name, "the container's seccomp profile")
    return parse_text(read_file(path_or_name), path_or_name)


def option_value(value: str) -> str:
    """What ``--security-opt seccomp=VALUE`` stores with the container.

    A file is read and checked at once, and its text kept (Docker does the
    same), so a bad file stops ``run``/``create`` before anything is made and
    a later ``start`` does not depend on the file still being there.
    """
    if value in BUILTIN_NAMES:
        return "default"
    if value == UNCONFINED:
        return value
    text = read_file(value)
    parse_text(text, value)
    return text


def read_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise UsageError(f"opening seccomp profile ({path}) failed: {e.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"decoding seccomp profile ({path}) failed: not UTF-8 text") from None


def parse_text(text: str, source: str) -> Profile:
    import json

    try:
        data = json.loads(text)
    except ValueError as e:
        raise UsageError(f"decoding seccomp profile ({source}) failed: {e}") from None
    return parse(data, source)


def parse(data: Any, source: str) -> Profile:
    """Check a decoded Docker/OCI profile and turn it into a Profile."""

    def bad(why: str) -> UsageError:
        return UsageError(f"invalid seccomp profile ({source}): {why}")

    if not isinstance(data, dict):
        raise bad("not a JSON object")
    syscalls = data.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise bad("'syscalls' is not a list")
    default = data.get("defaultAction") or ""
    if not default and not syscalls:
        return Profile(None, source=source)  # Docker reads an empty profile as "no seccomp"
    default_errno = data.get("defaultErrnoRet")
    profile = Profile(_action(default, default_errno, "defaultAction", bad), source=source)
    arches = data.get("architectures") or []
    arch_map = data.get("archMap") or []
    if arches and arch_map:
        raise bad("both 'architectures' and 'archMap' are specified, use either one")
    profile.architectures = [_arch(a, bad) for a in _strings(arches, "architectures", bad)]
    if not isinstance(arch_map, list):
        raise bad("'archMap' is not a list")
    for entry in arch_map:
        if not isinstance(entry, dict):
            raise bad("an 'archMap' entry is not an object")
        native = _arch(entry.get("architecture"), bad)
        subs = _strings(entry.get("subArchitectures") or [], "subArchitectures", bad)
        profile.arch_map[native] = [_arch(s, bad) for s in subs]
    for flag in _strings(data.get("flags") or [], "flags", bad):
        if flag not in _LOAD_FLAGS:
            raise bad(f"unknown flag {flag!r}")
        profile.flags.append(flag)
    if data.get("listenerPath"):
        raise bad("SCMP_ACT_NOTIFY listeners are not supported")
    for number, entry in enumerate(syscalls):
        profile.syscalls.append(_syscall(entry, number, bad))
    return profile


def _syscall(entry: Any, number: int, bad: Any) -> Syscall:
    if not isinstance(entry, dict):
        raise bad(f"syscalls[{number}] is not an object")
    name, names = entry.get("name"), entry.get("names")
    if name and names:
        raise bad(f"syscalls[{number}] has both 'name' and 'names', use either one")
    names = [name] if name else _strings(names or [], f"syscalls[{number}].names", bad)
    if not names or not all(names):
        raise bad(f"syscalls[{number}] names no syscall")
    where = f"syscalls[{number}] ({names[0]})"
    action = _action(entry.get("action") or "", entry.get("errnoRet"), f"{where}.action", bad)
    args = entry.get("args") or []
    if not isinstance(args, list):
        raise bad(f"{where}.args is not a list")
    parsed = []
    for arg in args:
        if not isinstance(arg, dict):
            raise bad(f"{where}.args has an entry that is not an object")
        index, value, two = arg.get("index"), arg.get("value", 0), arg.get("valueTwo", 0)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= 5:
            raise bad(f"{where}: argument index must be 0 to 5, not {index!r}")
        for v in (value, two):
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 64:
                raise bad(f"{where}: argument value {v!r} is not a 64-bit unsigned integer")
        op = arg.get("op")
        if op not in _OPS:
            raise bad(f"{where}: unknown operator {op!r}")
        parsed.append((index, _OPS[op], value, two))
    return Syscall(names, action, parsed, _condition(entry.get("includes"), where, bad),
                   _condition(entry.get("excludes"), where, bad))


def _condition(data: Any, where: str, bad: Any) -> Condition:
    if not data:
        return Condition()
    if not isinstance(data, dict):
        raise bad(f"{where}: includes/excludes must be an object")
    cond = Condition(caps=_strings(data.get("caps") or [], f"{where} caps", bad),
                     arches=_strings(data.get("arches") or [], f"{where} arches", bad))
    minimum = data.get("minKernel")
    if minimum:
        major, _, minor = str(minimum).partition(".")
        if not (major.isdigit() and minor.isdigit()):
            raise bad(f"{where}: minKernel {minimum!r} is not MAJOR.MINOR")
        cond.min_kernel = (int(major), int(minor))
    return cond


def _action(name: str, value: Any, where: str, bad: Any) -> int:
    if name == "SCMP_ACT_NOTIFY":
        raise bad(f"{where}: SCMP_ACT_NOTIFY is not supported")
    if name not in _ACTIONS:
        raise bad(f"{where}: unknown action {name!r}")
    if value is None:
        value = errno.EPERM  # runc's choice for ERRNO and TRACE without a value
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFF:
        raise bad(f"{where}: errnoRet {value!r} is not 0 to 65535")
    return _ACTIONS[name] | value if name in _WITH_VALUE else _ACTIONS[name]


def _arch(name: Any, bad: Any) -> str:
    if not isinstance(name, str) or not name.startswith("SCMP_ARCH_") or len(name) <= 10:
        raise bad(f"unknown architecture {name!r}")
    return name


def _strings(value: Any, what: str, bad: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(f"'{what}' must be a list of strings")
    return list(value)


# --- choosing entries for this container (moby setupSeccomp) -----------------


def _kernel() -> tuple[int, int]:
    major, minor = (os.uname().release.split(".") + ["0"])[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def select(profile: Profile, capabilities: list[str], machine: str | None = None,
           kernel: tuple[int, int] | None = None) -> tuple[list[str], list[Syscall]]:
    """(architectures to add, entries that apply) for a container with these capabilities."""
    go_arch, native = _MACHINES.get(machine or os.uname().machine, ("", ""))
    kernel = kernel or _kernel()
    caps = {c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper() for c in capabilities}
    arches = list(profile.architectures)
    if native in profile.arch_map:
        arches += [native, *profile.arch_map[native]]
    chosen = []
    for call in profile.syscalls:
        ex, inc = call.excludes, call.includes
        if go_arch in ex.arches or caps & set(ex.caps) or (ex.min_kernel and kernel >= ex.min_kernel):
            continue
        if inc.arches and go_arch not in inc.arches:
            continue
        if not set(inc.caps) <= caps or (inc.min_kernel and kernel < inc.min_kernel):
            continue
        chosen.append(call)
    return arches, chosen


# --- libseccomp -------------------------------------------------------------


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


def _library() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        raise OSError(errno.ENOSYS, "libseccomp.so.2 is not installed (Debian package libseccomp2)") from None
    ctx, u32 = ctypes.c_void_p, ctypes.c_uint32
    lib.seccomp_init.argtypes, lib.seccomp_init.restype = [u32], ctx
    lib.seccomp_release.argtypes, lib.seccomp_release.restype = [ctx], None
    lib.seccomp_attr_set.argtypes = [ctx, ctypes.c_int, u32]
    lib.seccomp_arch_resolve_name.argtypes, lib.seccomp_arch_resolve_name.restype = [ctypes.c_char_p], u32
    lib.seccomp_arch_add.argtypes = [ctx, u32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctx, u32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    lib.seccomp_export_bpf.argtypes = [ctx, ctypes.c_int]
    return lib


def _check(rc: int, what: str) -> None:
    if rc < 0:
        raise OSError(-rc, f"seccomp: {what}: {os.strerror(-rc)}")


class Filter:
    """A compiled filter: classic BPF instructions and the seccomp(2) flags to load them with."""

    __slots__ = ("program", "flags")

    def __init__(self, program: bytes, flags: int = 0) -> None:
        self.program = program
        self.flags = flags


def build(profile: Profile, capabilities: list[str]) -> Filter | None:
    """Build the filter for a container with ``capabilities``; None when the profile is off.

    Like runc, an entry whose syscall libseccomp does not know is skipped (a
    profile may name syscalls newer than the library), an entry whose action
    is the default one is redundant and skipped, and conditions repeating one
    argument index become separate rules (either may match).
    """
    if not profile.enabled:
        return None
    arches, calls = select(profile, capabilities)
    lib = _library()
    ctx = lib.seccomp_init(profile.default_action)
    if not ctx:
        raise OSError(errno.EINVAL, "seccomp: seccomp_init failed")
    try:
        # libseccomp would set no_new_privs when loading; Docker leaves that
        # to --security-opt no-new-privileges. (We load the program ourselves,
        # but keep the attribute honest for anyone exporting it.)
        _check(lib.seccomp_attr_set(ctx, _ATTR_CTL_NNP, 0), "no_new_privs attribute")
        if sum(len(c.names) for c in calls) > 32:  # runc counts one entry per name
            # A binary tree instead of a list: each syscall the container makes
            # then passes ~10 comparisons instead of up to ~400, for a few ms more
            # here. Old libraries lack the attribute; that is not an error.
            lib.seccomp_attr_set(ctx, _ATTR_CTL_OPTIMIZE, 2)
        for name in arches:
            token = lib.seccomp_arch_resolve_name(name[len("SCMP_ARCH_"):].lower().encode())
            if not token:
                raise OSError(errno.EINVAL, f"seccomp: libseccomp does not know {name}")
            rc = lib.seccomp_arch_add(ctx, token)
            if rc != -errno.EEXIST:  # the native one is always there
                _check(rc, f"adding {name}")
        for call in calls:
            if call.action == profile.default_action:
                continue
            groups = [call.args]
            indexes = [a[0] for a in call.args]
            if len(set(indexes)) != len(indexes):
                groups = [[a] for a in call.args]
            for name in call.names:
                number = lib.seccomp_syscall_resolve_name(name.encode())
                if number == -1:  # __NR_SCMP_ERROR: unknown to this libseccomp
                    continue
                for group in groups:
                    array = (_ArgCmp * max(len(group), 1))(*[_ArgCmp(*a) for a in group])
                    rc = lib.seccomp_rule_add_array(ctx, call.action, number, len(group), array)
                    if rc != -errno.EEXIST:
                        _check(rc, f"rule for {name}")
        return Filter(_export(lib, ctx), sum(_LOAD_FLAGS[f] for f in set(profile.flags)))
    finally:
        lib.seccomp_release(ctx)


def _export(lib: ctypes.CDLL, ctx: int) -> bytes:
    """The BPF program libseccomp generated (libseccomp 2.5 can only write it to an fd)."""
    fd = os.memfd_create("pyctr-seccomp", os.MFD_CLOEXEC)
    try:
        _check(lib.seccomp_export_bpf(ctx, fd), "exporting the filter")
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


class _Armed:
    """A filter's seccomp(2) call, its arguments made as ctypes objects ahead.

    Made before a fork: in the forked child each object made is page faults
    of the copied address space (~1 ms there for what takes 0.3 ms here).
    """

    __slots__ = ("program", "fprog", "syscall", "args")

    def __init__(self, compiled: Filter) -> None:
        from pyctr.kernel import linux

        self.program = ctypes.create_string_buffer(compiled.program, len(compiled.program))
        self.fprog = _SockFprog(len(compiled.program) // 8, ctypes.cast(self.program, ctypes.c_char_p))
        self.syscall = ctypes.CDLL(None, use_errno=True).syscall
        self.args = (ctypes.c_long(linux.SYS_seccomp), ctypes.c_uint(_SECCOMP_SET_MODE_FILTER),
                     ctypes.c_uint(compiled.flags), ctypes.byref(self.fprog))

    def load(self) -> None:
        if self.syscall(*self.args) < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"seccomp: loading the filter: {os.strerror(err)}")


def load(compiled: Filter) -> None:
    """Install the filter in this process (and, through execve, the container's command).

    Without no_new_privs the kernel wants CAP_SYS_ADMIN in the process's
    user namespace, which is why the init loads it before dropping
    capabilities unless no_new_privs is set (runc's order).
    """
    _Armed(compiled).load()


def apply(profile: Profile, capabilities: list[str]) -> None:
    """Compile ``profile`` for a container with ``capabilities`` and load it into this process."""
    compiled = build(profile, capabilities)
    if compiled is not None:
        load(compiled)


class Prepared:
    """A filter compiled before it is needed, loaded later; a failure is kept until ``load``.

    pyctr prepares it before it forks a container's init or an ``exec``'d
    process (pyctr.runtime.launch), which loads it: so libseccomp is
    called outside the container, and the forked process makes nothing of it
    (see :class:`_Armed`). With ``cache_dir`` the compiled program is looked
    up there first (see :func:`cached_build`).
    """

    def __init__(self, seccomp: str, privileged: bool, capabilities: list[str],
                 cache_dir: str | None = None) -> None:
        self.filter: Filter | None = None
        self.error: BaseException | None = None
        self._armed: _Armed | None = None
        if privileged:  # Docker: --privileged runs without seccomp
            return
        try:
            self.filter = cached_build(seccomp, capabilities, cache_dir)
            self._armed = _Armed(self.filter) if self.filter is not None else None
        except Exception as e:  # noqa: BLE001  (re-raised by load())
            self.error = e

    def load(self) -> None:
        if self.error is not None:
            raise self.error
        if self._armed is not None:
            self._armed.load()



# --- the compiled-filter cache ---------------------------------------------
#
# Compiling Docker's default profile costs ~35 ms of CPU in every container's
# init (libseccomp resolves ~350 syscalls on three architectures and builds a
# tree), yet the result depends only on the inputs below. crun keeps compiled
# filters for the same reason. A cached program is a file that holds its key
# (every input, in full) before the program, named by a short checksum of that
# key (pyctr.core.filekeys: no hashlib, whose import loads OpenSSL, on the
# start path), written rename-atomically; a file whose key differs, a missing,
# short or unwritable cache only costs the compile.

_CACHE_MAGIC = b"PYCTRBPF2"


def cache_key(seccomp: str, capabilities: list[str]) -> str:
    """Everything a compiled filter depends on, as one string."""
    parts = [seccomp, ",".join(sorted(capabilities)), os.uname().machine, "%d.%d" % _kernel(), _library_version()]
    # pyctr's compiler and default profile (by path: a cache hit need not import the profile)
    profile = os.path.join(os.path.dirname(__file__), "seccomp_default.py")
    if not os.path.exists(profile):  # an install without sources: ask the module where it is
        from pyctr.runtime import seccomp_default

        profile = seccomp_default.__file__
    for module in (__file__, profile):
        st = os.stat(module)
        parts.append(f"{module}:{st.st_mtime_ns}:{st.st_size}")
    return "\0".join(parts)


def _library_version() -> str:
    class Version(ctypes.Structure):
        _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]

    lib = _library()
    lib.seccomp_version.restype = ctypes.POINTER(Version)
    v = lib.seccomp_version().contents
    return f"{v.major}.{v.minor}.{v.micro}"


def cached_build(seccomp: str, capabilities: list[str], cache_dir: str | None) -> Filter | None:
    """:func:`build` for the profile named or given by ``seccomp``, through the cache."""
    if cache_dir is None or seccomp == UNCONFINED:
        return build(load_profile(seccomp), capabilities)
    key = cache_key(seccomp, capabilities).encode()
    path = os.path.join(cache_dir, name_for(key) + ".bpf")
    # MAGIC, len(key) (4 bytes), key, flags (4 bytes), the program (8-byte instructions)
    head = _CACHE_MAGIC + len(key).to_bytes(4, "little") + key
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data.startswith(head) and (len(data) - len(head) - 4) % 8 == 0:
            flags = int.from_bytes(data[len(head):len(head) + 4], "little")
            program = data[len(head) + 4:]
            return Filter(program, flags) if program else None
    except OSError:
        pass
    compiled = build(load_profile(seccomp), capabilities)
    blob = head + (compiled.flags if compiled else 0).to_bytes(4, "little") + (
        compiled.program if compiled else b"")
    try:
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb", opener=lambda p, flags: os.open(p, flags, 0o600)) as f:
            f.write(blob)
        os.replace(tmp, path)
    except OSError:
        pass  # e.g. a remapped root cannot write here: the next container compiles again
    return compiled
