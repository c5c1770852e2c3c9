"""The service's life: its socket (0600, a stale one replaced, a live one kept), systemd socket
activation, the idle exit, SIGTERM ending an open stream. No containers: no root needed."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

from pyctr.testing.service import Service


@pytest.fixture
def env(tmp_path):
    return dict(os.environ, PYCTR_ROOT=str(tmp_path / "root"), PYCTR_RUNROOT=str(tmp_path / "run"),
                PYCTR_CONFIG=str(tmp_path / "none.toml"))


def _get(path: str, uri_socket: str) -> bytes:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(uri_socket)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    return data


def test_the_socket_is_private_and_a_stale_one_is_replaced(tmp_path, env):
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(tmp_path / "api.sock"))
    stale.close()  # a socket file nobody listens on, as a killed service leaves
    svc = Service(tmp_path, env).start()
    try:
        assert stat.S_IMODE(os.stat(svc.socket).st_mode) == 0o600
        second = subprocess.run([sys.executable, "-m", "pyctr", "system", "service", "--time", "0", svc.uri],
                                env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 125 and "already listening" in second.stderr
        assert svc.answers()
    finally:
        assert svc.stop() == 0
    assert not os.path.exists(svc.socket)


def test_it_exits_when_idle_but_not_while_a_stream_is_open(tmp_path, env):
    svc = Service(tmp_path, env, idle=1).start()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(svc.socket)
    s.sendall(b"GET /events HTTP/1.1\r\nHost: d\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    time.sleep(2.5)
    assert svc.proc.poll() is None  # an open stream is not idleness
    s.close()
    assert svc.proc.wait(timeout=15) == 0
    assert not os.path.exists(svc.socket)


def test_an_idle_keep_alive_connection_does_not_keep_it_alive(tmp_path, env):
    svc = Service(tmp_path, env, idle=1).start()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(svc.socket)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")  # HTTP/1.1: the connection stays open
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert svc.proc.wait(timeout=15) == 0
        assert time.monotonic() - started >= 0.5  # idle for its second, then gone, the client still connected
    finally:
        s.close()


def test_sigterm_ends_an_open_stream_and_the_service(tmp_path, env):
    svc = Service(tmp_path, env).start()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(svc.socket)
    s.sendall(b"GET /events HTTP/1.1\r\nHost: d\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    started = time.monotonic()
    svc.proc.send_signal(signal.SIGTERM)
    s.settimeout(10)
    rest = b""
    while chunk := s.recv(4096):
        rest += chunk
    assert rest.endswith(b"0\r\n\r\n")  # the chunked stream was ended properly
    assert svc.proc.wait(timeout=15) == 0
    assert time.monotonic() - started < 5


def test_systemd_socket_activation(tmp_path, env):
    path = str(tmp_path / "activated.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    os.set_inheritable(listener.fileno(), True)
    # as systemd: the socket as fd 3, LISTEN_PID = the service's own pid (set after the fork)
    code = (f"import os, sys; os.dup2({listener.fileno()}, 3); os.environ['LISTEN_FDS'] = '1'; "
            f"os.environ['LISTEN_PID'] = str(os.getpid()); "
            f"os.execv(sys.executable, [sys.executable, '-m', 'pyctr', 'system', 'service', '--time', '0'])")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, pass_fds=[listener.fileno()],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    listener.close()
    try:
        deadline = time.monotonic() + 30
        answer = b""
        while time.monotonic() < deadline:
            try:
                answer = _get("/version", path)
                break
            except OSError:
                time.sleep(0.1)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["ApiVersion"] == "1.41"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, proc.stderr.read()
    assert os.path.exists(path)  # the socket is systemd's: left in place


def test_tcp_only_on_loopback(tmp_path, env):
    r = subprocess.run([sys.executable, "-m", "pyctr", "system", "service", "--time", "0", "tcp://0.0.0.0:2375"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 125 and "loopback" in r.stderr and "Traceback" not in r.stderr
