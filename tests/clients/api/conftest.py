"""The service on a private root holding the busybox image, for the clients in this directory."""

from __future__ import annotations

import pytest

from pyctr.testing.service import Service


@pytest.fixture
def service(busybox, tmp_path):
    svc = Service(tmp_path, busybox.env).start()
    yield svc
    assert svc.stop() == 0, svc.log.read_text()
