"""The soak test's five-minute version (CI's `clients` leg; scripts/soak.sh runs the long one)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.root, pytest.mark.soak]


def test_twenty_containers_for_five_minutes_leave_nothing_and_grow_nothing(tmp_path):
    from pyctr.testing import soak

    result = soak.run(duration=300, interval=60, base=tmp_path, report=str(tmp_path / "soak.json"))
    assert result["problems"] == []
    running = result["samples"][1:-1]
    assert len(running) >= 4
    assert any(s["zombies"] == 0 for s in running)
    status = " ".join(result["status"][0]["containers"]) if result["status"] else ""
    assert "/web running" in status and "healthy" in status, status
