"""The "go" message of pyctr.core.runtime.launch: one byte, then what the parent prepared (the
seccomp filter), framed by its length, through a pipe; the error pipe's EOF ends it."""

from __future__ import annotations

import os

from pyctr.core.background import Background
from pyctr.core.runtime import launch


def _waiting_process(go_r: int, err_w: int, framed: bool) -> Background:
    """What the init does with the go pipe, in a thread: the payload it received."""

    def body() -> bytes | None:
        try:
            if os.read(go_r, 1) != b"G":
                return None
            if not framed:
                return os.read(go_r, 65536)  # b"" (EOF): "go" was all
            size = int.from_bytes(launch._read_exactly(go_r, 4), "little")
            return launch._read_exactly(go_r, size)
        finally:
            os.close(go_r)
            os.close(err_w)  # as a successful execve closes it

    return Background(body)


def test_go_carries_a_payload_larger_than_a_pipe_writes_at_once() -> None:
    go_r, go_w = os.pipe()
    err_r, err_w = os.pipe()
    payload = bytes(range(256)) * 300  # 76800 bytes: more than a pipe holds (64 kB)
    waiting = _waiting_process(go_r, err_w, framed=True)
    assert launch._release(go_w, err_r, payload) == b""
    assert waiting.join_result() == payload
    os.close(err_r)


def test_go_without_a_payload_is_the_one_byte_exec_reads() -> None:
    go_r, go_w = os.pipe()
    err_r, err_w = os.pipe()
    waiting = _waiting_process(go_r, err_w, framed=False)
    assert launch._release(go_w, err_r) == b""
    assert waiting.join_result() == b""
    os.close(err_r)


def test_an_empty_payload_is_framed_as_nothing_to_install() -> None:
    go_r, go_w = os.pipe()
    err_r, err_w = os.pipe()
    waiting = _waiting_process(go_r, err_w, framed=True)
    assert launch._release(go_w, err_r, b"") == b""
    assert waiting.join_result() == b""
    os.close(err_r)


def test_what_the_process_reports_before_its_execve_comes_back() -> None:
    go_r, go_w = os.pipe()
    err_r, err_w = os.pipe()

    def failing() -> None:
        assert os.read(go_r, 1) == b"G"
        os.write(err_w, b"127:exec: \"nope\": executable file not found in $PATH")
        os.close(err_w)
        os.close(go_r)

    waiting = Background(failing)
    assert launch._release(go_w, err_r, b"xyz") == b"127:exec: \"nope\": executable file not found in $PATH"
    waiting.join()
    os.close(err_r)
