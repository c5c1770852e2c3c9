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
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any

from pyctr.build.builder import Output

if TYPE_CHECKING:
    from pyctr.core.engine import Engine

Emit = Callable[[dict[str, Any]], None]


class JSONOutput(Output):
    """Step lines as ``{"stream": ...}`` messages; the RUN commands write to ``run_fd`` (the
    API service reads its other end into the same stream), so no thread is needed here."""

    def __init__(self, emit: Emit, run_fd: int, quiet: bool = False) -> None:
        self.emit = emit
        self.quiet = quiet
        self.run_fd = run_fd

    def line(self, text: str) -> None:
        if not self.quiet:
            self.emit({"stream": text + "\n"})

    def warn(self, text: str) -> None:
        self.emit({"stream": f"[WARNING]: {text}\n"})


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
                   tags: list[str] | None = None, run_fd: int | None = None) -> str | None:
    """Build from a context tar (plain or compressed) per the classic API's query; the image id,
    or None after an ``errorDetail`` message. ``tags``: every ``t`` given (a query may repeat it)."""
    from pyctr.build.builder import Builder, Options, open_dockerfile
    from pyctr.build.context import Context
    from pyctr.core.errors import PyctrError
    from pyctr.images import reference
    from pyctr.layers.extract import extract_layer

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
        devnull = None
        if run_fd is None:
            devnull = run_fd = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        out = JSONOutput(emit, run_fd, quiet=_bool(query, "q"))
        df = open_dockerfile(df_path if df_path and os.path.exists(df_path) else None, tmp)
        try:
            image = Builder(engine, Context.open(tmp, df_path), df, options, out).run()
        finally:
            if devnull is not None:
                os.close(devnull)
        emit({"aux": {"ID": image.id}})
        if _bool(query, "q"):
            emit({"stream": image.id + "\n"})  # what docker build -q prints (the classic builder's quiet output)
        else:
            emit({"stream": f"Successfully built {image.short_id}\n"})
            for tag in tag_list:
                emit({"stream": f"Successfully tagged {reference.parse(tag).familiar}\n"})
        return image.id
    except PyctrError as e:
        emit({"errorDetail": {"message": str(e), "code": e.exit_code}, "error": str(e)})
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _tmpdir(engine: Engine) -> str:
    path = engine.config.root / "tmp"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return str(path)
