"""The detached container's monitor: small, standard library only.

After ``pyctr run -d`` has started the container, the process that started
it (a daemon, re-parented to init, and a child subreaper so the container's
init is its child) replaces itself with this file run as
``python -S -I monitor.py``: no site packages, no pyctr imports, so it costs
little memory while the container runs. It copies the container's stdout and
stderr into Docker's json-file log, waits for the init to exit, then execs
``pyctr`` once more to record the exit and release the container's resources
(``pyctr internal-finish``), where the plugins and drivers run.
"""

import errno
import json
import os
import select
import signal
import sys
import time


def _now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%09dZ" % int(t % 1 * 1e9)


def main(argv):
    # argv: init_pid log_path|- out_fd err_fd python finish_args...
    init_pid = int(argv[0])
    log_path = argv[1]
    fds = {int(argv[2]): "stdout"}
    if argv[3] != "-":
        fds[int(argv[3])] = "stderr"
    finish = argv[4:]
    log = None if log_path == "-" else open(log_path, "ab", buffering=0)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # outlive a stray kill; the container decides
    partial = {fd: b"" for fd in fds}
    status = None
    open_fds = set(fds)
    while True:
        if status is None:
            try:
                pid, st = os.waitpid(init_pid, os.WNOHANG)
                if pid:
                    status = st
            except ChildProcessError:
                status = 255 << 8
        else:
            # reap any other re-parented descendants quietly
            try:
                while os.waitpid(-1, os.WNOHANG)[0]:
                    pass
            except ChildProcessError:
                pass
        if not open_fds and status is not None:
            break
        try:
            ready, _, _ = select.select(list(open_fds) + [wake_r], [], [], 0.2 if status is not None else None)
        except InterruptedError:
            continue
        if wake_r in ready:
            try:
                os.read(wake_r, 512)
            except BlockingIOError:
                pass
        if status is not None and not ready:
            break  # the init is gone and nobody writes any more
        for fd in ready:
            if fd == wake_r:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError as e:
                data = b"" if e.errno == errno.EIO else b""
            if not data:
                open_fds.discard(fd)
                if partial[fd]:
                    _log(log, fds[fd], partial[fd])
                    partial[fd] = b""
                continue
            lines = (partial[fd] + data).split(b"\n")
            partial[fd] = lines.pop()
            for line in lines:
                _log(log, fds[fd], line + b"\n")
    for fd, rest in partial.items():
        if rest:
            _log(log, fds[fd], rest)
    code = os.waitstatus_to_exitcode(status if status is not None else 0)
    code = 128 - code if code < 0 else code
    if log:
        log.close()
    os.execv(finish[0], finish + [str(code)])


def _log(log, stream, data):
    if log is None:
        return
    entry = {"log": data.decode("utf-8", "replace"), "stream": stream, "time": _now()}
    log.write((json.dumps(entry) + "\n").encode())


if __name__ == "__main__":
    main(sys.argv[1:])
