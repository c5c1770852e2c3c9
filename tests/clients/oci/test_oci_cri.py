"""Kubernetes' path: containerd's CRI plugin with a runtime handler ``pyctr`` runs pods on pyctr-runtime.

containerd is started by the test with its CRI plugin on, a runtime
``pyctr`` (``runtime_type = "io.containerd.runc.v2"``, ``BinaryName`` =
pyctr-runtime) as the default, and a pause image built here. The test
speaks the CRI gRPC API from Python (PyPI ``container-runtime-interface-api``
and ``grpcio``), as the kubelet would: RunPodSandbox (host network: no CNI
is set up), CreateContainer with the RuntimeDefault seccomp profile,
StartContainer, ContainerStatus, ExecSync, StopContainer, RemoveContainer,
StopPodSandbox, RemovePodSandbox. The pod's containers join the sandbox's
namespaces by path (/proc/<pause>/ns/*), which is what CRI needs most.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
import time

import pytest

from pyctr.testing.leaks import remove_cgroup
from pyctr.testing.containerd import PAUSE, Containerd, available, image_archive

pytestmark = [pytest.mark.root, pytest.mark.slow]

RUNTIME = os.path.join(os.path.dirname(sys.executable), "pyctr-runtime")
PAUSE_IMAGE = "localhost/pause:3.6"
BUSYBOX = "localhost/busybox:latest"


@pytest.fixture
def cri(tmp_path, busybox_rootfs):
    why = available()
    if why:
        pytest.skip(why)
    try:
        import grpc
        from cri_api.v1 import api_pb2, api_pb2_grpc
    except ImportError:
        pytest.skip("pip install container-runtime-interface-api grpcio (setup.cfg's test extra)")
    parent = "pyctr-cri-" + secrets.token_hex(4)
    c = Containerd(tmp_path / "ctrd", runtime=RUNTIME, cri=True, sandbox_image=PAUSE_IMAGE).start()
    channel = None
    try:
        for ref, cmd in ((PAUSE_IMAGE, PAUSE), (BUSYBOX, ["sh"])):
            archive = image_archive(busybox_rootfs, tmp_path / (ref.split("/")[1].replace(":", "-") + ".tar"),
                                    ref, cmd)
            p = c.ctr("images", "import", str(archive))
            assert p.returncode == 0, p.stderr
        channel = grpc.insecure_channel("unix://" + c.address)
        runtime = api_pb2_grpc.RuntimeServiceStub(channel)
        deadline = time.monotonic() + 30
        while True:
            try:
                runtime.Version(api_pb2.VersionRequest(), timeout=5)
                break
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield runtime, api_pb2, parent, c
    finally:
        if channel is not None:
            try:
                for s in runtime.ListPodSandbox(api_pb2.ListPodSandboxRequest(), timeout=30).items:
                    runtime.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=s.id), timeout=60)
                    runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=s.id), timeout=60)
            finally:
                channel.close()
        c.stop()
        remove_cgroup(parent)


def test_cri_pod_lifecycle(cri, tmp_path):
    runtime, api, parent, ctrd = cri
    logs = tmp_path / "pod-logs"
    logs.mkdir()
    host_ns = api.NamespaceOption(network=api.NODE, pid=api.POD, ipc=api.POD)
    sandbox_config = api.PodSandboxConfig(
        metadata=api.PodSandboxMetadata(name="pod1", namespace="default", uid="uid-1", attempt=0),
        hostname=socket.gethostname(), log_directory=str(logs),  # a host-network pod: the node's name
        linux=api.LinuxPodSandboxConfig(cgroup_parent=parent, security_context=api.LinuxSandboxSecurityContext(
            namespace_options=host_ns)))
    sandbox = runtime.RunPodSandbox(api.RunPodSandboxRequest(config=sandbox_config, runtime_handler="pyctr"),
                                    timeout=120).pod_sandbox_id
    status = runtime.PodSandboxStatus(api.PodSandboxStatusRequest(pod_sandbox_id=sandbox), timeout=30).status
    assert status.state == api.SANDBOX_READY
    container_config = api.ContainerConfig(
        metadata=api.ContainerMetadata(name="app", attempt=0), image=api.ImageSpec(image=BUSYBOX),
        command=["sh", "-c", "echo started; trap 'exit 0' TERM; while :; do sleep 0.1; done"], log_path="app.log",
        envs=[api.KeyValue(key="GREETING", value="hi")],
        linux=api.LinuxContainerConfig(security_context=api.LinuxContainerSecurityContext(
            namespace_options=host_ns, seccomp=api.SecurityProfile(profile_type=api.SecurityProfile.RuntimeDefault))))
    cid = runtime.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sandbox, config=container_config,
                                                             sandbox_config=sandbox_config), timeout=120).container_id
    runtime.StartContainer(api.StartContainerRequest(container_id=cid), timeout=120)
    status = runtime.ContainerStatus(api.ContainerStatusRequest(container_id=cid), timeout=30).status
    assert status.state == api.CONTAINER_RUNNING
    r = runtime.ExecSync(api.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", "echo $GREETING; grep Seccomp: "
                                                                     "/proc/self/status; exit 2"], timeout=30),
                         timeout=60)
    assert r.exit_code == 2 and r.stdout.split() == [b"hi", b"Seccomp:", b"2"], r.stderr
    # the container joined the sandbox's PID namespace: the pause process is there
    r = runtime.ExecSync(api.ExecSyncRequest(container_id=cid, cmd=["ps", "-o", "pid,args"], timeout=30), timeout=60)
    assert b"sleep 3600" in r.stdout or b"while :" in r.stdout, r.stdout
    started = time.monotonic()
    runtime.StopContainer(api.StopContainerRequest(container_id=cid, timeout=10), timeout=60)
    assert time.monotonic() - started < 8
    status = runtime.ContainerStatus(api.ContainerStatusRequest(container_id=cid), timeout=30).status
    assert status.state == api.CONTAINER_EXITED and status.exit_code == 0
    assert b"started" in (logs / "app.log").read_bytes()
    runtime.RemoveContainer(api.RemoveContainerRequest(container_id=cid), timeout=60)
    runtime.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=sandbox), timeout=60)
    runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sandbox), timeout=60)
    assert not runtime.ListPodSandbox(api.ListPodSandboxRequest(), timeout=30).items
    root = ctrd.base / "runtime-root" / "k8s.io"  # the runtime's --root: no container's state is left
    assert not [e.name for e in os.scandir(root) if os.path.exists(os.path.join(e.path, "state.json"))] \
        if root.exists() else True
