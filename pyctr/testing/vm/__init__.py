"""Run a command inside a qemu guest that boots another kernel.

The guest sees the host's ``/`` read-only through virtio-9p with a tmpfs
overlay on top, so the same virtualenv and source tree are usable inside
at the same paths. It gives the kernel-matrix CI legs a kernel with pure
cgroup v2 and an NFS client on a host that has neither.

Public API::

    from pyctr.testing.vm import run_in_vm, prepare_kernel
    result = run_in_vm(["uname", "-r"], kernel="linux-image-amd64", timeout=120)
    result.returncode, result.output

Command line: ``python -m pyctr.testing.vm [--kernel PKG_OR_IMAGE] -- CMD...``.
"""

from __future__ import annotations

from pyctr.testing.vm.kernel import Kernel, prepare_kernel
from pyctr.testing.vm.runner import VmResult, run_in_vm

__all__ = ["Kernel", "VmResult", "prepare_kernel", "run_in_vm"]
