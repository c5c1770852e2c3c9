"""The service starting, as dockerd does: containers whose restart policy says so run again."""

from __future__ import annotations

import pytest

from pyctr.testing.service import Service

pytestmark = [pytest.mark.root]


def test_the_service_starts_what_the_restart_policies_say(busybox, tmp_path):
    busybox("run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep", "60", check=True)
    busybox("run", "-d", "--name", "unless", "--restart", "unless-stopped", "busybox", "sleep", "60", check=True)
    busybox("run", "-d", "--name", "never", "busybox", "sleep", "60", check=True)
    svc = None
    try:
        busybox("stop", "-t", "0", "always", "unless", "never", check=True)
        svc = Service(tmp_path, busybox.env).start()
        r = busybox("ps", "-a", "--format", "{{.Names}} {{.State}}")
        # always: even after a stop; unless-stopped and no: not after a stop
        assert sorted(r.stdout.splitlines()) == ["always running", "never exited", "unless exited"], \
            svc.log.read_text()
    finally:
        if svc is not None:
            assert svc.stop() == 0
        busybox("rm", "-f", "always", "unless", "never")
    assert "restart policies not applied" not in svc.log.read_text()
