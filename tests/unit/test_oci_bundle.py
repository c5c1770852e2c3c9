"""pyctr run's container written as an OCI bundle reads back through pyctr-runtime's checks
into the same steps (the conmon path's first half; no root)."""

from __future__ import annotations

import json

from pyctr.core.spec import ContainerSpec, Mount
from pyctr.oci import config
from pyctr.runtime import bundle, child


def test_docker_defaults_round_trip(tmp_path):
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    cdir = tmp_path / "ctr"
    cdir.mkdir()
    (cdir / "hosts").write_text("127.0.0.1 localhost\n")
    spec = ContainerSpec(name="c", hostname="web", argv=["sh", "-c", "true"], env=["PATH=/bin"], workdir="/srv",
                         mounts=[Mount(type="bind", target="/data", source=str(tmp_path), readonly=True),
                                 Mount(type="tmpfs", target="/scratch", options=["size=1m"])],
                         namespaces={"network": "path:/proc/self/ns/net"})
    data = json.loads(json.dumps(bundle.oci_config(spec, str(rootfs), str(cdir), uid=0, gid=0, groups=[10],
                                                   cgroups_path="p/c")))
    b = config.Bundle(str(tmp_path), data)
    assert b.joins == {"network": "/proc/self/ns/net"} and "user" in b.shared
    process = b.process()
    plan = b.plan(process)
    assert process.args == ["sh", "-c", "true"] and process.cwd == "/srv" and process.identity.groups == [10]
    assert bin(process.identity.bounding).count("1") == 14  # Docker's 14 capabilities
    assert plan.masked == list(child.MASKED_PATHS) and plan.readonly == list(child.READONLY_PATHS)
    targets = [m.target for m in plan.mounts]
    assert targets[:6] == ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"]
    assert "/etc/hosts" in targets and "/data" in targets and "/scratch" in targets
    assert plan.hostname == "web" and b.cgroups_path == "p/c"
    assert json.loads(b.seccomp)["defaultAction"] == "SCMP_ACT_ERRNO"  # Docker's profile, resolved


def test_non_root_user_gets_no_effective_capabilities_and_privileged_no_seccomp(tmp_path):
    (tmp_path / "rootfs").mkdir()
    spec = ContainerSpec(argv=["id"], privileged=True)
    data = bundle.oci_config(spec, str(tmp_path / "rootfs"), str(tmp_path), uid=99, gid=99, groups=[])
    assert data["process"]["capabilities"]["effective"] == []
    assert "seccomp" not in data["linux"] and "maskedPaths" not in data["linux"]
    config.Bundle(str(tmp_path), data).process()
