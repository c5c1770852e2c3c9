"""The OCI runtime conformance suite against pyctr-runtime and, to prove the tests, Debian's runc
(and crun, where it runs on this host's cgroup layout)."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from pyctr.testing.conformance.oci import OciRuntimeConformance, Runtime

pytestmark = [pytest.mark.root]


def _runtimes() -> list:
    here = os.path.join(os.path.dirname(sys.executable), "pyctr-runtime")
    out = [pytest.param(("pyctr-runtime", here), id="pyctr-runtime")]
    for name in ("runc", "crun"):
        out.append(pytest.param((name, shutil.which(name) or ""), id=name))
    return out


@pytest.fixture(params=_runtimes())
def oci_runtime(request, tmp_path):
    name, path = request.param
    if not path or not os.path.exists(path):
        pytest.skip(f"{name} is not installed")
    if name == "crun" and os.environ.get("PYCTR_OCI_CRUN") != "1":
        pytest.skip("crun: run with PYCTR_OCI_CRUN=1 (its cgroup v1 support on this hybrid layout is checked by hand)")
    return Runtime(path, tmp_path / f"{name}-root", runc_words=name != "crun", name=name)


class TestOciRuntime(OciRuntimeConformance):
    pass
