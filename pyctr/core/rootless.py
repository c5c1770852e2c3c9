"""Rootless mode: who the user is, and where a user's pyctr keeps its files.

pyctr run by an ordinary user works as rootless podman does: every command
enters a user namespace that maps the user to root and the user's
``/etc/subuid``/``/etc/subgid`` ranges to the ids above (kept alive by a pause
process, :mod:`pyctr.runtime.userns`), and inside it pyctr is root over
everything it made. Once a command is inside, ``getuid()`` says 0, so the
user's own uid travels in :data:`ENV_UID` to that command and to every pyctr
process it starts (monitors, ``internal-finish``).

The paths are podman's rootless defaults under pyctr's name:

* the store: ``$XDG_DATA_HOME/pyctr`` (``~/.local/share/pyctr``)
* the run root: ``$XDG_RUNTIME_DIR/pyctr`` (it must be set and be the user's:
  a tmpfs that goes away at logout, where locks, sockets and the pause
  process's pid live)
* the config file: ``$XDG_CONFIG_HOME/pyctr/pyctr.toml`` (``~/.config/pyctr``)

Standard library only: imported by every command of a rootless user.
"""

from __future__ import annotations

import os

from pyctr.core.errors import StateError, UsageError

#: the user's real uid, set once a command is inside the user's namespace
ENV_UID = "_PYCTR_ROOTLESS_UID"
#: the user's real gid, beside it
ENV_GID = "_PYCTR_ROOTLESS_GID"
#: "1" when the namespace maps only the user's own ids (no /etc/subuid range)
ENV_SINGLE = "_PYCTR_ROOTLESS_SINGLE"

_INITIAL_UID_MAP = "0 0 4294967295"


def in_user_namespace() -> bool:
    """True when this process is not in the initial user namespace (read from its uid map)."""
    try:
        with open("/proc/self/uid_map") as f:
            return " ".join(f.read().split()) != _INITIAL_UID_MAP
    except OSError:
        return False


def uid() -> int | None:
    """The rootless user's own uid, or None when pyctr runs as real root.

    Outside the namespace: ``geteuid()`` when it is not 0. Inside: the uid the
    command that entered recorded (only believed while the process really is
    in a user namespace, so a stray variable cannot make root rootless).
    """
    euid = os.geteuid()
    if euid != 0:
        return euid
    recorded = os.environ.get(ENV_UID)
    if recorded and recorded.isdigit() and in_user_namespace():
        return int(recorded)
    return None


def active() -> bool:
    """Is this pyctr rootless (an ordinary user, or inside that user's namespace)?"""
    return uid() is not None


def gid() -> int:
    """The rootless user's own gid (call only when :func:`active`)."""
    recorded = os.environ.get(ENV_GID)
    if os.geteuid() == 0 and recorded and recorded.isdigit():
        return int(recorded)
    return os.getegid()


def single_mapping() -> bool:
    """True when the user's namespace maps only the user's own uid and gid."""
    return os.environ.get(ENV_SINGLE) == "1"


def _home(user_uid: int) -> str:
    home = os.environ.get("HOME")
    if home:
        return home
    import pwd

    try:
        return pwd.getpwuid(user_uid).pw_dir
    except KeyError:
        raise UsageError(f"uid {user_uid} has no home directory and HOME is not set; "
                         "set HOME or give --root and --runroot") from None


def data_home(user_uid: int) -> str:
    return os.environ.get("XDG_DATA_HOME") or os.path.join(_home(user_uid), ".local", "share")


def config_home(user_uid: int) -> str:
    return os.environ.get("XDG_CONFIG_HOME") or os.path.join(_home(user_uid), ".config")


def runtime_dir(user_uid: int) -> str:
    """``$XDG_RUNTIME_DIR``, checked: set, a directory, the user's own and closed to others.

    Checked before the command enters the namespace (inside it the user's own
    files look owned by root), or again inside with the recorded uid.
    """
    path = os.environ.get("XDG_RUNTIME_DIR")
    if not path:
        raise UsageError("XDG_RUNTIME_DIR is not set: rootless pyctr keeps its run state there; log in through "
                         f"a session that sets it, or export XDG_RUNTIME_DIR=/run/user/{user_uid} "
                         "(a directory of yours, mode 0700)")
    if os.geteuid() == 0:
        return path  # inside the namespace: checked on the way in
    try:
        st = os.stat(path)
    except OSError as e:
        raise UsageError(f"XDG_RUNTIME_DIR={path} cannot be used: {e.strerror}") from None
    if st.st_uid != user_uid:
        raise UsageError(f"XDG_RUNTIME_DIR={path} belongs to uid {st.st_uid}, not to you (uid {user_uid}); "
                         "point it at a directory of your own, mode 0700")
    if st.st_mode & 0o077:
        raise UsageError(f"XDG_RUNTIME_DIR={path} is open to other users (mode {st.st_mode & 0o777:o}); "
                         f"chmod 0700 {path}")
    return path


def default_root(user_uid: int) -> str:
    return os.path.join(data_home(user_uid), "pyctr")


def default_runroot(user_uid: int) -> str:
    return os.path.join(runtime_dir(user_uid), "pyctr")


def default_config_file(user_uid: int) -> str:
    return os.path.join(config_home(user_uid), "pyctr", "pyctr.toml")


def check_owned(path: str, what: str, user_uid: int) -> None:
    """A store or run root of a rootless user must be the user's: a root-made
    store and a user's never mix (their layers' owners and overlay markers differ).

    Checked outside the namespace, where ownership shows as it is; the first
    existing directory on the way up is what counts for one not yet made.
    """
    existing = path
    while not os.path.exists(existing):
        parent = os.path.dirname(existing)
        if parent == existing:
            return
        existing = parent
    try:
        st = os.stat(existing)
    except OSError as e:
        raise StateError(f"the {what} {path} cannot be used: {e.strerror}") from None
    if existing == path and st.st_uid != user_uid:
        raise StateError(f"the {what} {path} belongs to uid {st.st_uid}, not to you (uid {user_uid}): a store "
                         "made by root and a user's store never mix; give --root/--runroot a directory of yours")
    if existing != path and not os.access(existing, os.W_OK | os.X_OK):
        raise StateError(f"the {what} {path} cannot be made: {existing} is not writable by you (uid {user_uid}); "
                         "give --root/--runroot a directory of yours")
