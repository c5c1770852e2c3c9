"""The detached container's monitor: small, standard library only.

After ``pyctr run -d`` has started the container, the process that started
it (a daemon, re-parented to init, and a child subreaper so the container's
init is its child) replaces itself with this file run as
``python -S -I monitor.py``: no site packages, no pyctr imports, so it costs
little memory while the container runs. It copies the container's output
into Docker's json-file log and to attached clients (``pyctr attach``
connects to its unix socket; what a client types goes to the container's
stdin), waits for the init to exit, then execs ``pyctr`` once more to record
the exit and release the container's resources (``pyctr internal-finish``),
where the plugins and drivers run.

An attached client and the monitor speak in frames, a type byte and a 4-byte
big-endian length, then the payload: the client sends ``d`` (bytes for the
container's stdin), ``c`` (no more stdin: the container's stdin pipe is
closed, as Docker does when an attached ``-i`` client's input ends) and ``w``
(a ``struct winsize`` for the container's terminal); the monitor sends ``o``
(the container's stdout, or its terminal's output), ``e`` (its stderr) and,
once the init has exited, ``x`` (its exit code as 4 signed bytes) before it
closes. The service (pyctr.api) runs :class:`Monitor` in-process, in a process
its launcher forked, instead of exec'ing this file (pyctr.runtime.detach).
"""

# The C halves of signal and socket: their Python wrappers build IntEnum classes,
# which pulls enum, functools and collections into every monitor (RSS measured in the notes).
import _signal as signal
import _socket
import os
import select
import struct
import sys
import time
from _json import encode_basestring_ascii as _quote  # the C encoder: no json package in memory


def _now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%09dZ" % int(t % 1 * 1e9)


class JsonLog:
    """Docker's json-file log: one JSON object a line, rotated as Docker rotates it.

    With a ``max_size``, a write that finds the file at or past it first
    rotates: ``.N-1`` is deleted, ``.1`` .. ``.N-2`` move up one, the file
    becomes ``.1`` (with ``compress``, ``.1.gz``, written beside it and renamed
    into place before ``.1`` goes, so a reader always finds one whole copy)
    and a new file begins; with one file the old one is unlinked (a reader
    that has it open still reads it to its end). A file may pass ``max_size``
    by its last entry, as Docker's does.
    """

    def __init__(self, path, max_size=-1, max_file=1, compress=False, attrs=""):
        self.path = path
        self.max_size = max_size
        self.max_file = max_file
        self.compress = compress and max_file > 1
        self.attrs = ',"attrs":' + attrs if attrs else ""
        self.file = open(path, "ab", buffering=0)
        self.size = os.fstat(self.file.fileno()).st_size

    def write(self, stream, data):
        if self.max_size >= 0 and self.size >= self.max_size:
            self.rotate()
        text = _quote(data.decode("utf-8", "replace"))
        entry = ('{"log":%s,"stream":"%s"%s,"time":"%s"}\n' % (text, stream, self.attrs, _now())).encode()
        try:
            self.file.write(entry)
        except OSError:  # a full disk loses this line, never the container
            return
        self.size += len(entry)

    def rotate(self):
        self.file.close()
        path, ext = self.path, ".gz" if self.compress else ""
        try:
            if self.max_file < 2:
                os.unlink(path)
            else:
                _unlink("%s.%d%s" % (path, self.max_file - 1, ext))
                for i in range(self.max_file - 1, 1, -1):
                    try:
                        os.rename("%s.%d%s" % (path, i - 1, ext), "%s.%d%s" % (path, i, ext))
                    except FileNotFoundError:
                        pass
                os.rename(path, path + ".1")
        except OSError:
            pass  # as Docker: the current file is truncated below whatever happened
        self.file = open(path, "wb", buffering=0)
        self.size = 0
        if self.compress:
            _gzip(path + ".1")

    def close(self):
        self.file.close()


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _gzip(path):
    """``path`` -> ``path.gz`` (zlib's gzip framing, no gzip module), then ``path`` goes."""
    import zlib

    tmp = path + ".gz.tmp"
    try:
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
            while True:
                chunk = src.read(262144)
                if not chunk:
                    break
                dst.write(packer.compress(chunk))
            dst.write(packer.flush())
        os.rename(tmp, path + ".gz")
        os.unlink(path)
    except OSError:
        _unlink(tmp)  # the uncompressed file stays; a reader reads it as it is


class Monitor:
    def __init__(self, init_pid, log_path, out_fd, err_fd, in_fd, listen_fd, client_fds=(),
                 rotation=(-1, 1, False), attrs="", prober=None):
        self.init_pid = init_pid
        self.log = None if log_path == "-" else JsonLog(log_path, *rotation, attrs=attrs)
        self.streams = {out_fd: "stdout"}
        if err_fd >= 0:
            self.streams[err_fd] = "stderr"
        self.partial = {fd: b"" for fd in self.streams}
        self.in_fd = in_fd
        self.listener = _socket.socket(fileno=listen_fd) if listen_fd >= 0 else None
        self.clients = []
        self.received = {}  # client socket -> bytes of an incomplete frame
        for client_fd in client_fds:  # attached from before the start (run -it, the API's attach)
            client = _socket.socket(fileno=client_fd)
            client.setblocking(False)
            self.clients.append(client)
            self.received[client] = b""
        self.terminal = out_fd if os.isatty(out_fd) else -1  # the pty master, with -t
        self.status = None
        self.prober = prober  # the health checks' schedule (prober.py), with a HEALTHCHECK

    def run(self):
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # outlive a stray kill; the container decides
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        open_fds = set(self.streams)
        while True:
            self._reap()
            if self.status is not None and not open_fds:
                break
            readers = list(open_fds) + [wake_r] + [c.fileno() for c in self.clients]
            if self.listener is not None:
                readers.append(self.listener.fileno())
            wait = 0.2 if self.status is not None else self.prober.timeout() if self.prober else None
            try:
                ready, _, _ = select.select(readers, [], [], wait)
            except InterruptedError:
                continue
            if self.prober is not None and self.status is None:
                self.prober.tick()
            if self.status is not None and not ready:
                break  # the init is gone and nobody writes any more
            for fd in ready:
                if fd == wake_r:
                    try:
                        os.read(wake_r, 512)
                    except BlockingIOError:
                        pass
                elif self.listener is not None and fd == self.listener.fileno():
                    client = _socket.socket(fileno=self.listener._accept()[0])
                    client.setblocking(False)
                    self.clients.append(client)
                    self.received[client] = b""
                elif fd in self.streams:
                    if not self._output(fd):
                        open_fds.discard(fd)
                else:
                    self._input(fd)
        for fd, rest in self.partial.items():
            if rest:
                self._log(self.streams[fd], rest)
        code = os.waitstatus_to_exitcode(self.status if self.status is not None else 0)
        code = 128 - code if code < 0 else code
        for client in self.clients:
            try:
                client.send(b"x" + struct.pack(">Ii", 4, code))  # 9 bytes: a client this far behind loses it
            except OSError:
                pass
            client.close()
        if self.log:
            self.log.close()
        return code

    def _reap(self):
        if self.status is None:
            try:
                pid, st = os.waitpid(self.init_pid, os.WNOHANG)
                if pid:
                    self.status = st
                    if self.prober is not None:
                        self.prober.stop()
            except ChildProcessError:
                self.status = 255 << 8
        try:  # the health probe, and re-parented descendants (reaped quietly)
            while True:
                pid, st = os.waitpid(-1, os.WNOHANG)
                if not pid:
                    break
                if pid == self.init_pid and self.status is None:  # (it exited since the call above)
                    self.status = st
                    if self.prober is not None:
                        self.prober.stop()
                elif self.prober is not None:
                    self.prober.reaped(pid, st)
        except ChildProcessError:
            pass

    def _output(self, fd):
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the pty's last user is gone
            data = b""
        if not data:
            if self.partial[fd]:
                self._log(self.streams[fd], self.partial[fd])
                self.partial[fd] = b""
            return False
        frame = (b"e" if self.streams[fd] == "stderr" else b"o") + struct.pack(">I", len(data)) + data
        for client in list(self.clients):
            try:
                client.sendall(frame)
            except OSError:  # a slow or gone client is dropped, the container never waits for it
                self._drop(client)
        lines = (self.partial[fd] + data).split(b"\n")
        self.partial[fd] = lines.pop()
        for line in lines:
            self._log(self.streams[fd], line + b"\n")
        return True

    def _input(self, fd):
        client = next((c for c in self.clients if c.fileno() == fd), None)
        if client is None:
            # dropped earlier in this round (a send to it failed after it detached):
            # its end-of-file is still in select's answer, and must not stop the monitor
            return
        try:
            data = client.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._drop(client)
            return
        buf = self.received[client] + data
        while len(buf) >= 5:
            kind, size = buf[:1], struct.unpack(">I", buf[1:5])[0]
            if len(buf) < 5 + size:
                break
            payload, buf = buf[5:5 + size], buf[5 + size:]
            if kind == b"d" and self.in_fd >= 0:
                try:
                    os.write(self.in_fd, payload)
                except OSError:
                    pass
            elif kind == b"c" and self.in_fd >= 0 and self.terminal < 0:
                os.close(self.in_fd)  # the container reads end-of-file
                self.in_fd = -1
            elif kind == b"w" and self.terminal >= 0 and size == 8:
                import fcntl
                import termios

                try:
                    fcntl.ioctl(self.terminal, termios.TIOCSWINSZ, payload)  # the kernel signals SIGWINCH
                except OSError:
                    pass
        self.received[client] = buf

    def _drop(self, client):
        self.clients.remove(client)
        self.received.pop(client, None)
        client.close()

    def _log(self, stream, data):
        if self.log is not None:
            self.log.write(stream, data)


def main(argv):
    # argv: init_pid log_path|- rotation attrs|- health|- out_fd err_fd|- in_fd|- listen_fd|- client_fd[,fd...]|-
    #       finish_command... (ending in "internal-finish ID")
    # rotation: MAX_SIZE,MAX_FILE,COMPRESS (-1,1,0: never rotated); attrs: a JSON object's text, or -;
    # health: the probes' schedule (prober.py), or -
    def fd(text):
        return -1 if text == "-" else int(text)

    size, files, compress = argv[2].split(",")
    finish = argv[10:]
    prober = None
    if argv[4] != "-":
        # prober.py lives beside this file; appended, so that no module of the standard library is shadowed
        sys.path.append(os.path.dirname(os.path.abspath(__file__)))
        from prober import Prober

        prober = Prober(finish[:-2] + ["healthcheck", "run", finish[-1]], argv[4])
    clients = [int(x) for x in argv[9].split(",")] if argv[9] != "-" else []
    monitor = Monitor(int(argv[0]), argv[1], *(fd(a) for a in argv[5:9]), clients,
                      rotation=(int(size), int(files), compress == "1"), attrs="" if argv[3] == "-" else argv[3],
                      prober=prober)
    code = monitor.run()
    # an ignored signal stays ignored across exec: the hand-over (and a container it restarts) must not inherit it
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # nor the container's pipes and the attach socket, made inheritable for this process's own exec: each
    # restart would hand them on to the next monitor (found by the soak test: +3 fds a restart)
    os.closerange(3, 65536)
    os.execv(finish[0], finish + [str(code)])


if __name__ == "__main__":
    main(sys.argv[1:])
