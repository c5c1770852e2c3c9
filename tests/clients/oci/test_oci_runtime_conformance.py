"""The OCI runtime conformance suite against pyctr-runtime and, to prove the tests, Debian's runc
(and crun, where it runs on this host's cgroup layout)."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from pyctr.testing.conformance.oci import OciRuntimeConformance, Runtime

pytestmark = [pytest.mark.root, pytest.mark.slow]


def _runtimes() -> list:
    here = os.path.join(os.path.dirname(sys.executable), "pyctr-runtime")
    out = [pytest.param(("pyctr-runtime", here), id="pyctr-runtime"),
           pytest.param(("runc", shutil.which("runc") or ""), id="runc")]
    # crun 1.8 refuses this host's hybrid cgroup layout (v1 controllers, an empty cgroup2):
    # it is added where asked for (PYCTR_OCI_CRUN=1, e.g. on a pure cgroup v2 host)
    if os.environ.get("PYCTR_OCI_CRUN") == "1":
        out.append(pytest.param(("crun", shutil.which("crun") or ""), id="crun"))
    return out


@pytest.fixture(params=_runtimes())
def oci_runtime(request, tmp_path):
    name, path = request.param
    if not path or not os.path.exists(path):
        pytest.skip(f"{name} is not installed")
    return Runtime(path, tmp_path / f"{name}-root", runc_words=name != "crun", name=name)


class TestOciRuntime(OciRuntimeConformance):
    pass
