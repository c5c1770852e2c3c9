"""The service's HTTP layer, spoken to over its socket with raw bytes (no root, no containers):
Docker's headers, errors, versions, bodies and bad input."""

from __future__ import annotations

import json
import socket

import pytest

from pyctr.api.createbody import translate
from pyctr.api.filters import parse as parse_filters
from pyctr.api.http import ApiError
from pyctr.testing.service import Service


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    import os

    base = tmp_path_factory.mktemp("api")
    env = dict(os.environ, PYCTR_ROOT=str(base / "root"), PYCTR_RUNROOT=str(base / "run"),
               PYCTR_CONFIG=str(base / "none.toml"))
    svc = Service(base, env).start()
    yield svc
    assert svc.stop() == 0, svc.log.read_text()


def request(svc: Service, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(svc.socket)
    s.sendall(raw)
    s.shutdown(socket.SHUT_WR)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    return int(lines[0].split()[1]), headers, body


def get(svc: Service, path: str, method: str = "GET", body: bytes = b"", extra: str = "") -> tuple[int, dict, bytes]:
    head = f"{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n{extra}"
    if body:
        head += f"Content-Length: {len(body)}\r\nContent-Type: application/json\r\n"
    return request(svc, head.encode() + b"\r\n" + body)


def test_ping_get_and_head_versioned_or_not(service):
    for path in ("/_ping", "/v1.41/_ping", "/v1.24/_ping", "/v1.50/_ping"):
        status, headers, body = get(service, path)
        assert (status, body) == (200, b"OK")
        assert headers["api-version"] == "1.41" and headers["ostype"] == "linux"
        assert headers["server"].startswith("pyctr/") and headers["docker-experimental"] == "false"
    status, headers, body = get(service, "/_ping", method="HEAD")
    assert status == 200 and body == b"" and headers["api-version"] == "1.41"


def test_version_names_the_api_range(service):
    status, _, body = get(service, "/version")
    data = json.loads(body)
    assert status == 200 and data["ApiVersion"] == "1.41" and data["MinAPIVersion"] == "1.24"
    assert data["Components"][0]["Name"] == "Engine" and data["Os"] == "linux"


def test_unknown_route_is_a_json_404_with_the_exact_content_type(service):
    status, headers, body = get(service, "/v1.41/nothing/here")
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert "message" in json.loads(body)


def test_swarm_routes_say_this_is_not_a_swarm(service):
    status, _, body = get(service, "/swarm")
    assert status == 503 and "swarm" in json.loads(body)["message"]


@pytest.mark.parametrize("body, fragment", [
    (b"{not json", "malformed JSON"),
    (b"[1, 2]", "must be an object"),
    (b'{"Image": 5}', "Image"),
    (b'{"Image": "busybox", "Cmd": 7}', "Cmd"),
    (b'{"Image": "busybox", "HostConfig": {"Binds": "/a:/b"}}', "Binds"),
    (b'{"Image": "busybox", "HostConfig": {"Memory": "lots"}}', "Memory"),
    (b'{"Image": "busybox", "HostConfig": {"LogConfig": {"Type": "syslog"}}}', "syslog"),
])
def test_bad_create_bodies_are_400s_and_make_nothing(service, body, fragment):
    status, headers, answer = get(service, "/v1.41/containers/create", method="POST", body=body)
    assert status == 400, answer
    assert headers["content-type"] == "application/json"
    assert fragment in json.loads(answer)["message"]
    status, _, listing = get(service, "/containers/json?all=1")
    assert (status, json.loads(listing)) == (200, [])


def test_create_with_a_missing_image_is_dockers_404(service):
    status, _, body = get(service, "/containers/create", method="POST", body=b'{"Image": "busybox"}')
    assert status == 404
    assert json.loads(body)["message"] == "No such image: busybox:latest"


def test_an_oversized_body_is_refused_and_the_service_keeps_serving(service):
    big = b'{"Image": "' + b"a" * (5 << 20) + b'"}'
    status, _, body = get(service, "/containers/create", method="POST", body=big)
    assert status == 413
    assert get(service, "/_ping")[0] == 200


def test_a_chunked_body_is_read(service):
    body = b'{"Image": "busybox"}'
    raw = (b"POST /containers/create HTTP/1.1\r\nHost: d\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
           + b"%x\r\n%s\r\n" % (5, body[:5]) + b"%x\r\n%s\r\n" % (len(body) - 5, body[5:]) + b"0\r\n\r\n")
    status, _, answer = request(service, raw)
    assert status == 404 and "No such image" in json.loads(answer)["message"]


def test_garbage_request_lines_get_an_answer_and_the_service_lives(service):
    status, headers, _ = request(service, b"NONSENSE\r\n\r\n")
    assert status == 400
    assert get(service, "/_ping")[0] == 200


def test_bad_filters_are_400s(service):
    status, _, body = get(service, "/containers/json?filters=%7Bnot")
    assert status == 400
    status, _, body = get(service, "/containers/json?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D")
    assert status == 400 and "colour" in json.loads(body)["message"]


def test_filters_in_both_encodings():
    assert parse_filters('{"label": {"a=b": true, "c": true}}') == {"label": ["a=b", "c"]}
    assert parse_filters('{"label": ["a=b", "c"]}') == {"label": ["a=b", "c"]}
    with pytest.raises(ApiError):
        parse_filters('{"label": 5}')


def test_create_body_translation():
    image, command, o = translate({
        "Image": "busybox", "Cmd": ["sh", "-c", "true"], "Entrypoint": None, "Env": ["A=1"],
        "Labels": {"x": "y"}, "Tty": True, "OpenStdin": True, "ExposedPorts": {"80/tcp": {}},
        "HostConfig": {"Binds": ["/h:/c:ro"], "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": ""}],
                                                               "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}]},
                       "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}, "AutoRemove": True,
                       "Memory": 10485760, "NanoCpus": 500000000, "NetworkMode": "default",
                       "Mounts": [{"Type": "volume", "Source": "data", "Target": "/data", "ReadOnly": True}],
                       "Tmpfs": {"/run": "size=1m"}, "LogConfig": {"Type": "json-file", "Config": {}}},
    }, "web")
    assert (image, command) == ("busybox", ["sh", "-c", "true"])
    assert o["name"] == "web" and o["env"] == ("A=1",) and o["label"] == {"x": "y"}
    assert o["tty"] and o["interactive"] and o["auto_remove"]
    assert o["volume"] == ("/h:/c:ro",) and o["mount"] == ("type=volume,source=data,target=/data,readonly",)
    assert set(o["publish"]) == {"80/tcp", "127.0.0.1:5353:53/udp"}
    assert o["restart"] == "on-failure:3" and o["memory"] == "10485760" and o["cpus"] == "0.5"
    assert o["network"] is None and o["tmpfs"] == ("/run:size=1m",) and o["log_driver"] == "json-file"
