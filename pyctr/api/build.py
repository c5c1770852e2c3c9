"""``POST /build``: the classic builder's API (a tar context, ``t``, ``dockerfile``,
``buildargs``, ``target``, ``labels``, ``nocache``, ``pull``, ``q``, ``cachefrom``,
``networkmode``), answered with a JSON message stream, for ``docker build`` (with
``DOCKER_BUILDKIT=0``) and compose's ``build:``.

The build runs in a launcher worker (its RUN steps fork containers, which the
service's threads must not); its RUN output comes back through a pipe whose
other end the worker holds, and both go into one stream here.
"""

from __future__ import annotations

import os
import selectors

from pyctr.api.errors import ApiError
from pyctr.api.http import Request
from pyctr.api.routes import route

#: a context bigger than this is refused (it is saved to disk before the build starts)
MAX_CONTEXT = 8 << 30


@route("POST", "/build")
def build(req: Request) -> None:
    from pyctr.api.launcher import JobFailed

    if req.arg("remote"):
        raise ApiError(400, "remote build contexts (git or URLs) are not supported; send the context as a tar")
    query = {k: v[-1] for k, v in req.query.items()}
    tags = [t for t in req.query.get("t", []) if t]
    engine = req.engine
    tmpdir = engine.config.root / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = tmpdir / f"api-context-{os.getpid()}-{os.urandom(6).hex()}.tar"
    read_fd = write_fd = -1
    job = None
    try:
        size = 0
        body = req.body_reader()
        with open(path, "wb") as f:
            while chunk := body.read(1 << 20):
                size += len(chunk)
                if size > MAX_CONTEXT:
                    raise ApiError(413, "the build context is larger than 8 GiB")
                f.write(chunk)
        read_fd, write_fd = os.pipe()
        job = req.server.launcher.submit("build", {"context": str(path), "query": query, "tags": tags}, [write_fd])
        os.close(write_fd)
        write_fd = -1
        stream = req.stream()
        _relay(job, read_fd, stream, JobFailed)
        stream.close()
    finally:
        if job is not None:
            job.close()
        for fd in (read_fd, write_fd):
            if fd >= 0:
                os.close(fd)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _relay(job, read_fd: int, stream, job_failed) -> None:  # noqa: ANN001
    """The worker's messages and the RUN output pipe, as one stream, until the worker is done."""
    sel = selectors.DefaultSelector()
    sel.register(job.fileno(), selectors.EVENT_READ, "job")
    sel.register(read_fd, selectors.EVENT_READ, "pipe")
    pipe_open = True
    try:
        while True:
            for key, _ in sel.select(timeout=1.0):
                if key.data == "pipe":
                    data = os.read(read_fd, 65536)
                    if not data:
                        sel.unregister(read_fd)
                        pipe_open = False
                        continue
                    stream.json({"stream": data.decode("utf-8", "replace")})
                    continue
                try:
                    message, fds = job.receive()
                except job_failed as e:
                    stream.json({"errorDetail": {"message": str(e)}, "error": str(e)})
                    return
                for fd in fds:
                    os.close(fd)
                if message is None or "done" in message:
                    # what the last RUN wrote may still be in the pipe
                    while pipe_open:
                        data = os.read(read_fd, 65536)
                        if not data:
                            break
                        stream.json({"stream": data.decode("utf-8", "replace")})
                    return
                stream.json(message)
            if stream.gone():
                return
    finally:
        sel.close()
