"""docker-py's own integration suite against ``pyctr system service``: the compatibility measure.

The suite's tests ship in docker-py's sdist (7.0.0: the last one that has them);
they run with docker-py 7.1 (older ones fail with requests >= 2.32). The images
they pull from Docker Hub (alpine:3.10, alpine, busybox, hello-world) come from a
local registry (Debian's docker-registry) that the service uses as Docker Hub's
mirror (``registry-mirrors``): busybox-static's applets stand in for alpine's.

    python -m pyctr.testing.dockerpy [--keep] [pytest args...]

prints the counts and writes the junit file; tests/clients/api/test_dockerpy_suite.py
compares the failures with the committed known-failures list.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "7.0.0"
#: the suite's out-of-scope parts (swarm and what needs it, plugins, build), as the reference selection
EXCLUDED = ("ConfigAPITest", "LinkTest", "NodesTest", "PluginTest", "ServiceTest", "SwarmTest",
            "TestNetworksWithSwarm", "TestStore", "BuildTest", "SecretAPITest", "ServicesTest", "SwarmNodes",
            "test_swarm", "swarm",
            # TestNetworks' tests that start by initialising a swarm (scope, attachable, ingress networks)
            "test_create_inspect_network_with_scope", "test_create_network_attachable", "test_create_network_ingress",
            # replaces os.environ for the rest of the session (mock.patch.dict restores the old object's
            # contents, not the name): DOCKER_HOST is lost and every later test asks /var/run/docker.sock
            "test_create_environment_dict")
#: (repository, tag) -> command: what the suite pulls
IMAGES = {("library/alpine", "3.10"): ["/bin/sh"], ("library/alpine", "latest"): ["/bin/sh"],
          ("library/busybox", "latest"): ["sh"], ("library/busybox", "buildroot-2014.02"): ["sh"],
          ("library/hello-world", "latest"): ["/hello"]}

HELLO = b"#!/bin/sh\necho\necho 'Hello from Docker!'\necho 'This message shows that your installation appears to be working correctly.'\n"


def cache_dir() -> Path:
    path = Path(os.environ.get("PYCTR_TEST_CACHE") or Path.home() / ".cache" / "pyctr-tests")
    path.mkdir(parents=True, exist_ok=True)
    return path


def suite_dir() -> Path:
    """docker-py's test tree (downloaded once with pip, kept in the cache)."""
    root = cache_dir() / f"docker-{VERSION}-tests"
    if (root / "tests" / "integration").is_dir():
        return root
    sdist = cache_dir() / f"docker-{VERSION}.tar.gz"
    if not sdist.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        f"docker=={VERSION}", "-d", str(cache_dir())], check=True)
    # only the tests (and pytest's settings): the sdist's own docker/ package must not shadow the installed 7.1
    prefix = f"docker-{VERSION}/"
    with tarfile.open(sdist) as tf:
        members = []
        for m in tf.getmembers():
            rel = m.name[len(prefix):] if m.name.startswith(prefix) else ""
            if (rel.startswith("tests/") or rel in ("pytest.ini", "setup.cfg")) and (m.isfile() or m.isdir()):
                m.name = rel
                members.append(m)
        tf.extractall(root, members=members, filter="data")
    return root


def _layer(rootfs: Path, extra: dict[str, bytes]) -> object:
    from pyctr.testing.images import layer_from_dir

    if not extra:
        return layer_from_dir(rootfs)
    with tempfile.TemporaryDirectory() as tmp:
        import shutil

        copy = Path(tmp) / "rootfs"
        shutil.copytree(rootfs, copy, symlinks=True)
        for name, data in extra.items():
            target = copy / name.lstrip("/")
            target.write_bytes(data)
            target.chmod(0o755 if name == "/hello" else 0o644)
        return layer_from_dir(copy)


def mirror_registry(workdir: Path) -> object:
    """A local registry holding the suite's images."""
    from pyctr.testing.images import image_config, image_manifest, push_layout, write_oci_layout
    from pyctr.testing.registry import start_registry
    from pyctr.testing.rootfs import build_busybox_rootfs

    rootfs = build_busybox_rootfs(workdir / "busybox-rootfs")
    reg = start_registry(workdir=workdir / "registry")
    passwd = (rootfs / "etc/passwd").read_bytes() if (rootfs / "etc/passwd").exists() else b"root:x:0:0:root:/root:/bin/sh\n"
    group = (rootfs / "etc/group").read_bytes() if (rootfs / "etc/group").exists() else b"root:x:0:\n"
    users = {"/etc/passwd": passwd + b"postgres:x:70:70:postgres:/var/lib/postgresql:/bin/sh\n",
             "/etc/group": group + b"postgres:x:70:\n"}  # alpine's image has the user the suite execs as
    plain = _layer(rootfs, users)
    hello = _layer(rootfs, {"/hello": HELLO, **users})
    for (repo, tag), cmd in IMAGES.items():
        layer = hello if repo.endswith("hello-world") else plain
        config = image_config([layer], cmd=cmd)  # type: ignore[list-item]
        manifest = image_manifest([layer], config)  # type: ignore[list-item]
        layout = Path(tempfile.mkdtemp(prefix="oci-", dir=workdir))
        write_oci_layout(layout, tag, [layer.blob, config], manifest)  # type: ignore[attr-defined]
        push_layout(layout, tag, reg, repo)
    return reg


def selection() -> str:
    return " and ".join(f"not {name}" for name in EXCLUDED)


def run(service_uri: str, junit: Path, extra: list[str] | None = None, timeout: float = 3000,
        only: list[str] | None = None) -> int:
    """Run the suite (``only``: these node ids of it) against the service at ``service_uri``; pytest's exit code."""
    tests = suite_dir()
    home = junit.parent / "home"  # the suite's contexts and config land here, not in the caller's ~/.docker
    (home / ".docker").mkdir(parents=True, exist_ok=True)
    # docker-py keeps contexts beside the config file it finds (else in the working directory)
    (home / ".docker" / "config.json").write_text("{}")
    env = dict(os.environ, DOCKER_HOST=service_uri, DOCKER_TEST_API_VERSION="1.41", HOME=str(home),
               DOCKER_CONFIG=str(home / ".docker"))
    env.pop("DOCKER_TLS_VERIFY", None)
    cmd = [sys.executable, "-m", "pytest", *(only or ["tests/integration"]), "-p", "no:cacheprovider", "-q", "-rN",
           "--timeout=120", "-k", selection(), f"--junitxml={junit}", "-o", "junit_family=xunit2",
           *(extra or [])]
    proc = subprocess.run(cmd, cwd=tests, env=env, timeout=timeout, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    (junit.parent / "dockerpy-output.txt").write_text(proc.stdout)
    return proc.returncode


def node_id(test: str) -> str:
    """pytest's node id of a result's name (``module::Class::test``)."""
    module, _, rest = test.partition("::")
    return f"tests/integration/{module}.py::{rest}"


def results(junit: Path) -> dict[str, str]:
    """test id (``file::Class::test``) -> passed | failed | skipped."""
    import xml.etree.ElementTree as ET

    out: dict[str, str] = {}
    if not junit.exists():
        raise RuntimeError(f"the suite wrote no results: {(junit.parent / 'dockerpy-output.txt').read_text()[-3000:]}")
    for case in ET.parse(junit).getroot().iter("testcase"):
        classname = case.get("classname", "")
        module, _, cls = classname.rpartition(".")
        name = f"{module.rsplit('.', 1)[-1]}::{cls}::{case.get('name')}" if module else f"{cls}::{case.get('name')}"
        state = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                state = "failed"
            elif child.tag == "skipped":
                state = "skipped"
        out[name] = state
    return out


def main(argv: list[str]) -> int:
    """Start a registry, the service on a fresh root, run the suite, print the counts."""
    import shutil

    from pyctr.testing.service import Service

    keep = "--keep" in argv
    argv = [a for a in argv if a != "--keep"]
    work = Path(tempfile.mkdtemp(prefix="pyctr-dockerpy-"))
    reg = mirror_registry(work)
    env = dict(os.environ, PYCTR_ROOT=str(work / "root"), PYCTR_RUNROOT=str(work / "run"),
               PYCTR_CONFIG=str(work / "none.toml"), PYCTR_REGISTRY_MIRRORS=f"http://{reg.host}")  # type: ignore[attr-defined]
    # a bridge, nft table and address pool of its own (as the test session's): the default bridge is
    # the machine's, and the suite's own 172.28.0.0/16 must not meet a route a run left on it
    tag = os.urandom(3).hex()
    net = {"bridge": f"pnet{tag}", "table": f"pyctrnet{tag}",
           "pools": f"10.{100 + int(tag, 16) % 150}.0.0/16:24", "user_prefix": f"pu{tag}-"}
    env["PYCTR_NETWORK_OPT"] = ";".join(f"{k}={v}" for k, v in net.items())
    svc = Service(work, env).start()
    try:
        junit = work / "dockerpy.xml"
        code = run(svc.uri, junit, argv)
        counts: dict[str, int] = {}
        for state in results(junit).values():
            counts[state] = counts.get(state, 0) + 1
        print(f"docker-py {VERSION} suite: {counts} (junit: {junit})")
        return code
    finally:
        svc.stop()
        subprocess.run([sys.executable, "-m", "pyctr", "rm", "-f", *_all_containers(env)], env=env,
                       capture_output=True)
        reg.stop()  # type: ignore[attr-defined]
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
        names = {line.split(":")[1].strip().split("@")[0] for line in links.splitlines() if ":" in line}
        for name in sorted(n for n in names if n == net["bridge"] or n.startswith(net["user_prefix"])):
            subprocess.run(["ip", "link", "del", name], capture_output=True)
        subprocess.run(["nft", "delete", "table", "ip", net["table"]], capture_output=True)
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _all_containers(env: dict[str, str]) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "pyctr", "ps", "-aq", "--no-trunc"], env=env, capture_output=True,
                         text=True).stdout
    return out.split()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


