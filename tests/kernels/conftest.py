"""Host-side tests of the VM runner: each test boots a guest (software emulation, ~10 s)."""

from __future__ import annotations

import os
import shutil

import pytest

from pyctr.testing.vm import Kernel, prepare_kernel


@pytest.fixture(scope="session")
def guest_kernel() -> Kernel:
    if os.geteuid() != 0:
        pytest.skip("the guest shares the host's whole / and needs root to read it")
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed (Debian: qemu-system-x86)")
    return prepare_kernel(os.environ.get("PYCTR_VM_KERNEL", "linux-image-amd64"))
