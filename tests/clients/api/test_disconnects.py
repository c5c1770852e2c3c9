"""Clients that go in the middle of a stream or an attach (a killed ``docker logs -f``, a closed
terminal): the service's threads and processes go back to what they were, and it keeps serving."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

pytestmark = pytest.mark.root
docker = pytest.importorskip("docker")


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for child, parent in parents.items():
            if parent == p and child not in found:
                found.add(child)
                todo.append(child)
    return found


def _request(path: str, sock_path: str, method: str = "GET", body: dict | None = None,
             upgrade: bool = False) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: d\r\nContent-Length: {len(data)}\r\n"
    if body is not None:
        head += "Content-Type: application/json\r\n"
    if upgrade:
        head += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
    s.sendall(head.encode() + b"\r\n" + data)
    return s


def _read_until(s: socket.socket, marker: bytes, timeout: float = 10) -> bytes:
    s.settimeout(timeout)
    data = b""
    while marker not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_clients_that_go_mid_stream_leave_no_thread_and_no_process(service):
    client = docker.APIClient(base_url=service.uri, version="1.41")
    cid = client.create_container("busybox", ["sh", "-c", "while true; do echo tick; sleep 0.2; done"],
                                  stdin_open=True)["Id"]
    try:
        client.start(cid)
        assert b"tick" in _read_until(_request(f"/containers/{cid}/logs?follow=1&stdout=1", service.socket),
                                      b"tick")
        pid = service.proc.pid
        # before the count: docker-py keeps one keep-alive connection per URL it has asked (its adapter
        # keys its pools by URL), so exec_create's own connection, and its thread here, stay open
        exec_id = client.exec_create(cid, ["cat"], stdin=True)["Id"]
        init = client.inspect_container(cid)["State"]["Pid"]

        def service_processes() -> set[int]:
            """The service's own (launcher, workers, monitor): the container's loop forks a sleep every 0.2 s."""
            return _descendants(pid) - _descendants(init) - {init}

        time.sleep(1.5)  # the first logs connection's thread gone
        threads, processes = _threads(pid), service_processes()
        streams = [
            (_request(f"/containers/{cid}/logs?follow=1&stdout=1&tail=1", service.socket), b"tick"),
            (_request(f"/containers/{cid}/attach?stream=1&stdout=1&stdin=1", service.socket, "POST",
                      upgrade=True), b"tick"),
            (_request(f"/containers/{cid}/stats?stream=1", service.socket), b"cpu_stats"),
            (_request("/events", service.socket), b"200 OK"),
            (_request(f"/exec/{exec_id}/start", service.socket, "POST", {"Detach": False, "Tty": False},
                      upgrade=True), b"101 UPGRADED"),
        ]
        for s, marker in streams:
            assert marker in _read_until(s, marker)
        exec_sock = streams[-1][0]
        exec_sock.sendall(b"echoed\n")
        assert b"echoed" in _read_until(exec_sock, b"echoed")
        assert _threads(pid) >= threads + len(streams)
        for s, _ in streams:
            s.close()  # gone without a word, mid-stream
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if _threads(pid) <= threads and service_processes() <= processes:
                break
            time.sleep(0.2)
        assert _threads(pid) <= threads, f"{_threads(pid)} threads, {threads} before"
        assert service_processes() <= processes, "processes left behind by the gone clients"
        deadline = time.monotonic() + 10
        while client.exec_inspect(exec_id)["Running"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not client.exec_inspect(exec_id)["Running"]  # cat saw its input end with the client
        assert client.inspect_container(cid)["State"]["Running"]  # the container itself is untouched
        assert client.ping()
    finally:
        client.remove_container(cid, force=True)
        client.close()
