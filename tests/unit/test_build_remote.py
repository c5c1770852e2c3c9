"""POST /build's worker (pyctr.build.remote) on builds that make no layer: the classic
API's query and its JSON stream, without the service or root."""

import io
import json
import tarfile

from pyctr.build.remote import build_from_tar
from pyctr.core.config import Config
from pyctr.core.engine import Engine


def _tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, text in files.items():
            data = text.encode()
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    buf.seek(0)
    return buf


def _build(tmp_path, files, query, tags=None):
    engine = Engine(Config(root=tmp_path / "root", runroot=tmp_path / "run"))
    messages = []
    image_id = build_from_tar(engine, _tar(files), query, messages.append, tags=tags)
    return engine, image_id, messages


def test_query_parameters_and_the_stream(tmp_path):
    files = {"build/Containerfile": "FROM scratch\nARG WHO\nLABEL who=$WHO\n"}
    query = {"dockerfile": "build/Containerfile", "buildargs": json.dumps({"WHO": "api"}),
             "labels": json.dumps({"extra": "1"})}
    engine, image_id, messages = _build(tmp_path, files, query, tags=["api:1", "api:2"])
    assert image_id and image_id.startswith("sha256:")
    streams = "".join(m.get("stream", "") for m in messages)
    assert "Step 1/3 : FROM scratch" in streams and "Successfully tagged api:1" in streams
    assert {"aux": {"ID": image_id}} in messages
    from pyctr.images.store import image_store

    image = image_store(engine).resolve("api:2")
    assert image.id == image_id and image.config["config"]["Labels"] == {"who": "api", "extra": "1"}


def test_quiet_sends_only_the_id(tmp_path):
    _, image_id, messages = _build(tmp_path, {"Dockerfile": "FROM scratch\nENV A=1\n"}, {"q": "1"})
    assert [m for m in messages if "stream" in m] == [{"stream": image_id + "\n"}]


def test_errors_are_error_details(tmp_path):
    _, image_id, messages = _build(tmp_path, {"Dockerfile": "FROM scratch\nBOGUS x\n"}, {})
    assert image_id is None
    assert "unknown instruction: BOGUS" in messages[-1]["errorDetail"]["message"]
    _, image_id, messages = _build(tmp_path, {"Dockerfile": "FROM scratch\n"}, {"dockerfile": "../../etc/passwd"})
    assert image_id is None and "outside the build context" in messages[-1]["error"]
