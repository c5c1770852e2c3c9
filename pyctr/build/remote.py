"""A build as the Docker Engine API's classic ``POST /build`` asks for it: a tar context,
query parameters, and a stream of JSON messages (``{"stream": ...}``, ``{"aux": {"ID": ...}}``,
``{"errorDetail": ...}``) that ``docker build`` and compose's ``build:`` read.

The API front end hands the request body and the query here; nothing in this
module speaks HTTP.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any

from pyctr.build.builder import Output

if TYPE_CHECKING:
    from pyctr.core.engine import Engine

Emit = Callable[[dict[str, Any]], None]


class JSONOutput(Output):
    """Step lines and RUN output as ``{"stream": ...}`` messages (RUN output through a pipe
    read by a thread, so the container writes to a plain file descriptor)."""

    def __init__(self, emit: Emit, quiet: bool = False) -> None:
        self.emit = emit
        self.quiet = quiet
        self._lock = threading.Lock()
        read_fd, self.run_fd = os.pipe()
        os.set_inheritable(self.run_fd, False)
        self._reader = threading.Thread(target=self._pump, args=(read_fd,), daemon=True)
        self._reader.start()

    def _send(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.emit(message)

    def _pump(self, fd: int) -> None:
        with os.fdopen(fd, "rb", buffering=0) as f:
            while chunk := f.read(65536):
                if not self.quiet:
                    self._send({"stream": chunk.decode("utf-8", "replace")})

    def line(self, text: str) -> None:
        if not self.quiet:
            self._send({"stream": text + "\n"})

    def warn(self, text: str) -> None:
        self._send({"stream": f"[WARNING]: {text}\n"})

    def close(self) -> None:
        os.close(self.run_fd)
        self._reader.join(timeout=10)


def _json_param(query: Mapping[str, str], name: str) -> Any:
    raw = query.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        from pyctr.core.errors import UsageError

        raise UsageError(f"invalid {name}: not JSON") from None


def _bool(query: Mapping[str, str], name: str) -> bool:
    return str(query.get(name, "")).lower() in ("1", "true", "yes")


def build_from_tar(engine: Engine, body: IO[bytes], query: Mapping[str, str], emit: Emit,
                   tags: list[str] | None = None) -> str | None:
    """Build from a context tar (plain or compressed) per the classic API's query; the image id,
    or None after an ``errorDetail`` message. ``tags``: every ``t`` given (a query may repeat it)."""
    from pyctr.build.builder import Builder, Options, open_dockerfile
    from pyctr.build.context import Context
    from pyctr.core.errors import PyctrError
    from pyctr.images import reference
    from pyctr.layers.extract import extract_layer

    out: JSONOutput | None = None
    tmp = tempfile.mkdtemp(prefix="pyctr-api-build-", dir=_tmpdir(engine))
    try:
        try:
            extract_layer(body, tmp, whiteouts="delete")
        except Exception as e:  # noqa: BLE001  (a bad tar: the client's error, one message)
            emit({"errorDetail": {"message": f"cannot read the build context: {e}"},
                  "error": f"cannot read the build context: {e}"})
            return None
        dockerfile = query.get("dockerfile") or "Dockerfile"
        df_path = os.path.join(tmp, dockerfile.lstrip("/")) if not dockerfile.startswith(("http://", "https://")) else None
        if df_path and os.path.relpath(os.path.realpath(df_path), os.path.realpath(tmp)).startswith(".."):
            raise PyctrError(f"the Dockerfile {dockerfile} is outside the build context")
        build_args = {k: v for k, v in (_json_param(query, "buildargs") or {}).items()}
        labels = _json_param(query, "labels") or {}
        cache_from = _json_param(query, "cachefrom") or []
        tag_list = tags if tags is not None else ([query["t"]] if query.get("t") else [])
        for tag in tag_list:
            reference.parse(tag)
        network = query.get("networkmode") or None
        if network in ("default", "bridge"):
            network = None
        epoch = build_args.get("SOURCE_DATE_EPOCH")
        options = Options(tags=tag_list, build_args=build_args, target=query.get("target", ""),
                          no_cache=_bool(query, "nocache"), pull=_bool(query, "pull"), labels=labels,
                          network=network, cache_from=cache_from, epoch=int(epoch) if epoch else None)
        out = JSONOutput(emit, quiet=_bool(query, "q"))
        df = open_dockerfile(df_path if df_path and os.path.exists(df_path) else None, tmp)
        image = Builder(engine, Context.open(tmp, df_path), df, options, out).run()
        out.close()
        out = None
        emit({"aux": {"ID": image.id}})
        if not _bool(query, "q"):
            emit({"stream": f"Successfully built {image.short_id}\n"})
            for tag in tag_list:
                emit({"stream": f"Successfully tagged {reference.parse(tag).familiar}\n"})
        return image.id
    except PyctrError as e:
        if out is not None:
            out.close()
            out = None
        emit({"errorDetail": {"message": str(e), "code": e.exit_code}, "error": str(e)})
        return None
    finally:
        if out is not None:
            out.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _tmpdir(engine: Engine) -> str:
    path = engine.config.root / "tmp"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return str(path)
