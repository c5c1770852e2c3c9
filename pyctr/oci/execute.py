"""``exec``: one more process in a running container, by :func:`pyctr.runtime.launch.spawn_exec`.

The process is given by ``--process FILE`` (a runtime-spec ``process``
object: containerd and conmon write one) or by the arguments and flags. It
joins every namespace the container's init has of its own, enters its
cgroup, and gets the container's seccomp filter; ``--detach`` leaves it
re-parented to the caller after writing ``--pid-file``, otherwise this
command waits and returns its exit status.
"""

from __future__ import annotations

import json
import os

from pyctr.kernel import linux
from pyctr.oci import cgroups, config
from pyctr.oci.common import Globals, OciError
from pyctr.oci.state import Container

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


def main(glob: Globals, opts: dict[str, Any], cid: str, args: list[str]) -> int:
    c = Container.load(glob.root, cid, lock=False)
    status = c.status()
    if status == "stopped":
        raise OciError("cannot exec in a stopped container")
    if status == "paused" and not opts.get("ignore-paused"):
        raise OciError("cannot exec in a paused container (use --ignore-paused to override)")
    cfg = c.data.get("config") or {}
    process = _process(opts, args, cfg)
    console_path = opts.get("console-socket") or ""
    if process.terminal and not console_path:
        raise OciError("cannot allocate tty if pyctr-runtime will detach without setting console socket"
                       if opts.get("detach") else "process.terminal: exec needs --console-socket for a tty")
    if console_path and not process.terminal:
        raise OciError("cannot use console socket if pyctr-runtime will not detach or allocate tty")
    from pyctr.core.spec import ContainerSpec
    from pyctr.oci.create import connect_console, prepare_process, wait_child, write_pid_file
    from pyctr.runtime import launch

    seccomp = config.Bundle.seccomp_text((cfg.get("linux") or {}).get("seccomp"))
    spec = ContainerSpec(name=cid, seccomp=seccomp, no_new_privileges=process.no_new_privileges)
    joins = {}
    for kind in config.JOIN_ORDER:
        if kind in (c.data.get("own_namespaces") or []) or kind in _joined(cfg):
            joins[kind] = f"/proc/{c.pid}/ns/{linux.NAMESPACE_FILES[kind]}"
    console = connect_console(console_path) if console_path else None
    handle = c.data.get("cgroup")
    drv = cgroups.driver(glob) if handle else None

    def place(pid: int) -> None:
        if drv is not None:
            drv.add_process(handle, pid)
        prepare_process(pid, process)

    run = launch.ExecLaunch(spec=spec, argv=process.args, env=process.env, user="", workdir=process.cwd,
                            joins=joins, console=console.fileno() if console is not None else None,
                            seccomp_cache=os.path.join(glob.root, ".cache", "seccomp"), process=process,
                            preserve_fds=int(opts.get("preserve-fds") or 0))
    try:
        pid = launch.spawn_exec(run, place)
    except launch.ExecError as e:
        raise OciError(str(e), 255 if not opts.get("detach") else 1) from None
    finally:
        if console is not None:
            console.close()
    if opts.get("pid-file"):
        write_pid_file(opts["pid-file"], pid)
    if opts.get("detach"):
        return 0
    return wait_child(pid)


def _joined(cfg: dict[str, Any]) -> set[str]:
    """Namespaces the container joined by path (the init has them too: join them as well)."""
    out = set()
    for ns in (cfg.get("linux") or {}).get("namespaces") or []:
        if isinstance(ns, dict) and ns.get("path") and ns.get("type") in config.NAMESPACES:
            out.add(config.NAMESPACES[ns["type"]])
    return out


def _process(opts: dict[str, Any], args: list[str], cfg: dict[str, Any]) -> Any:
    if opts.get("process"):
        path = opts["process"]
        try:
            with open(path) as f:
                data = json.load(f)
        except OSError as e:
            raise OciError(f"--process: {path}: {e.strerror}") from None
        except ValueError as e:
            raise OciError(f"--process: {path} is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise OciError(f"--process: {path} is not a JSON object")
        return config.process_plan(data, "process.")
    if not args:
        raise OciError("exec: either --process or the command to run is needed")
    base = dict(cfg.get("process") or {})
    base["args"] = args
    base["terminal"] = bool(opts.get("tty"))
    base.pop("consoleSize", None)
    if opts.get("cwd"):
        base["cwd"] = opts["cwd"]
    env = list(base.get("env") or [])
    for e in opts.get("env") or []:
        key = e.split("=", 1)[0]
        env = [x for x in env if x.split("=", 1)[0] != key] + [e]
    base["env"] = env
    if opts.get("user"):
        uid, _, gid = opts["user"].partition(":")
        if not uid.isdigit() or (gid and not gid.isdigit()):
            raise OciError(f"--user: {opts['user']!r} is not UID[:GID]")
        base["user"] = {"uid": int(uid), "gid": int(gid or 0)}
    if opts.get("additional-gids"):
        try:
            base.setdefault("user", {})["additionalGids"] = [int(g) for g in opts["additional-gids"]]
        except ValueError:
            raise OciError("--additional-gids: numbers are needed") from None
    if opts.get("no-new-privs"):
        base["noNewPrivileges"] = True
    if opts.get("cap"):
        caps = dict(base.get("capabilities") or {})
        for key in ("bounding", "effective", "permitted", "inheritable", "ambient"):
            if key != "ambient" or caps.get(key):
                caps[key] = list(dict.fromkeys(list(caps.get(key) or []) + opts["cap"]))
        base["capabilities"] = caps
    if opts.get("apparmor"):
        base["apparmorProfile"] = opts["apparmor"]
    if opts.get("process-label"):
        base["selinuxLabel"] = opts["process-label"]
    return config.process_plan(base, "process.")
