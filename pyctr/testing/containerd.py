"""A private containerd 1.6 for tests: its own root, state, sockets and config.

:class:`Containerd` starts Debian's ``containerd`` with everything under one
directory (root, state, the gRPC and ttrpc sockets), with its CRI plugin
disabled (``ctr`` tests) or enabled with a runtime handler ``pyctr`` whose
``BinaryName`` is ``pyctr-runtime`` (CRI tests, host networking: no CNI is
set up). :func:`busybox_archive` writes an OCI image archive that ``ctr
images import`` takes, built from Debian's busybox-static, and
:func:`pause_archive` the same rootfs as a sandbox ("pause") image. Nothing
is downloaded. ``stop`` ends containerd by its pid and waits for it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

DISABLED = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
            "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
            "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]


def available() -> str | None:
    """None, or why containerd tests cannot run here."""
    for tool in ("containerd", "ctr", "containerd-shim-runc-v2"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install containerd)"
    return None


class Containerd:
    def __init__(self, base: Path, *, runtime: str, cri: bool = False, sandbox_image: str = "",
                 cgroup_parent: str = "") -> None:
        self.base = Path(base)
        self.runtime = runtime
        self.cri = cri
        self.sandbox_image = sandbox_image
        self.cgroup_parent = cgroup_parent
        self.address = str(self.base / "containerd.sock")
        self.namespace = "k8s.io" if cri else "pyctr-test"
        self.proc: subprocess.Popen | None = None
        self.log = self.base / "containerd.log"

    def config(self) -> str:
        root, state = self.base / "root", self.base / "state"
        disabled = DISABLED + ([] if self.cri else ["io.containerd.grpc.v1.cri"])
        lines = [
            "version = 2",
            f'root = "{root}"',
            f'state = "{state}"',
            f"disabled_plugins = {json.dumps(disabled)}",
            "[grpc]",
            f'  address = "{self.address}"',
            "[ttrpc]",
            f'  address = "{self.address}.ttrpc"',
            "[debug]",
            '  level = "debug"',
        ]
        if self.cri:
            lines += [
                '[plugins."io.containerd.grpc.v1.cri"]',
                f'  sandbox_image = "{self.sandbox_image}"',
                "  enable_selinux = false",
                "  disable_apparmor = true",
                # (a pause container's -998 needs CAP_SYS_RESOURCE, which a test machine may lack)
                "  restrict_oom_score_adj = true",
                "  disable_cgroup = false",
                '[plugins."io.containerd.grpc.v1.cri".containerd]',
                '  default_runtime_name = "pyctr"',
                '  snapshotter = "overlayfs"',
                '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.pyctr]',
                '  runtime_type = "io.containerd.runc.v2"',
                '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.pyctr.options]',
                f'  BinaryName = "{self.runtime}"',
                f'  Root = "{self.base / "runtime-root"}"',
                '[plugins."io.containerd.grpc.v1.cri".cni]',
                f'  bin_dir = "{self.base / "cni-bin"}"',
                f'  conf_dir = "{self.base / "cni-conf"}"',
            ]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 60) -> Containerd:
        self.base.mkdir(parents=True, exist_ok=True)
        cfg = self.base / "config.toml"
        cfg.write_text(self.config())
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(["containerd", "--config", str(cfg)], stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"containerd exited {self.proc.returncode}: {self.log_tail()}")
            if os.path.exists(self.address) and self.ctr("version").returncode == 0:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"containerd did not answer within {timeout}s: {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def ctr(self, *args: str, timeout: float = 120, input: bytes | None = None,
            **kw: Any) -> subprocess.CompletedProcess:
        return subprocess.run(["ctr", "--address", self.address, "--namespace", self.namespace, *args],
                              capture_output=True, timeout=timeout, input=input, check=False, **kw)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# ---------------------------------------------------------------- images


def _blob(data: bytes) -> tuple[str, bytes]:
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def _layer_tar(rootfs: Path) -> bytes:
    def fixed(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime = 1_700_000_000
        return info

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(os.listdir(rootfs)):
            tar.add(os.path.join(rootfs, name), arcname=name, filter=fixed)
    return buf.getvalue()


def image_archive(rootfs: Path, dest: Path, tag: str, cmd: list[str], entrypoint: list[str] | None = None) -> Path:
    """An OCI image layout as a tar (``ctr images import`` / ``podman load`` take it)."""
    layer = _layer_tar(rootfs)
    layer_digest, _ = _blob(layer)
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": cmd, "Entrypoint": entrypoint,
                   "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }, sort_keys=True).encode()
    config_digest, _ = _blob(config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                    "size": len(layer)}],
    }, sort_keys=True).encode()
    manifest_digest, _ = _blob(manifest)
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
        "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": tag,
                                               "io.containerd.image.name": tag}}]}).encode()
    with tarfile.open(dest, "w") as tar:
        for name, data in [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index),
                           *[(f"blobs/sha256/{d.split(':')[1]}", b) for d, b in
                             (_blob(layer), _blob(config), _blob(manifest))]]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return dest


PAUSE = ["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]
