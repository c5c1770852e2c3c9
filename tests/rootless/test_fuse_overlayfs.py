"""The fuse-overlayfs storage driver (the rootless fallback): the same layers through a FUSE
mount run by the user, whiteouts and opaque directories read as the kernel's overlayfs reads them."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/fuse-overlayfs"), reason="fuse-overlayfs not installed")


def test_run_on_fuse_overlayfs(busybox_tar, session):
    s = session
    s.env["PYCTR_STORAGE_DRIVER"] = "fuse-overlayfs"
    s.pyctr("import", "--change", 'CMD ["sh"]', str(busybox_tar), "busybox", check=True)
    assert "Storage Driver: fuse-overlayfs" in s.pyctr("info", check=True).stdout
    s.pyctr("run", "-d", "--name", "f", "--network", "none", "busybox", "sh", "-c",
            "echo changed > /etc/motd; rm /bin/true; sleep 60", check=True)
    try:
        merged = s.pyctr("inspect", "--format", "{{.GraphDriver.Data.MergedDir}}", "f", check=True).stdout.strip()
        seen = s.pyctr("unshare", "cat", "/proc/self/mountinfo", check=True).stdout
        line = next(line for line in seen.splitlines() if line.split()[4] == merged)
        assert " - fuse.fuse-overlayfs " in line
        helpers = [cmd for uid, cmd in s.processes().values() if os.path.basename(cmd.split(" ")[0]) == "fuse-overlayfs"]
        assert len(helpers) == 1 and all(uid == s.user.uid for uid, cmd in s.processes().values()
                                         if os.path.basename(cmd.split(" ")[0]) == "fuse-overlayfs")
        out = s.pyctr("exec", "f", "sh", "-c", "cat /etc/motd; ls /bin/true; stat -c %u:%g /home/user99",
                      check=False).stdout.split()
        assert out[0] == "changed" and out[-1] == "99:99"
        # the deletion is a 0:0 whiteout in the writable layer, made by the user's FUSE process
        upper = s.pyctr("inspect", "--format", "{{.GraphDriver.Data.UpperDir}}", "f", check=True).stdout.strip()
        st = os.lstat(os.path.join(upper, "bin", "true"))
        assert (st.st_mode & 0o170000) == 0o020000 and st.st_rdev == 0
    finally:
        s.pyctr("rm", "-f", "f")
    assert not [cmd for uid, cmd in s.processes().values() if os.path.basename(cmd.split(" ")[0]) == "fuse-overlayfs"]


@pytest.mark.registry
def test_pulled_layers_with_whiteouts_on_fuse_overlayfs(session, registry, registry_images):
    s = session
    s.env["PYCTR_STORAGE_DRIVER"] = "fuse-overlayfs"
    ref = f"{registry.host}/pyctr/app1:v1"
    s.pyctr("pull", "-q", ref, check=True)
    out = s.pyctr("run", "--rm", "--network", "none", "--entrypoint", "sh", ref, "-c",
                  "cat /etc/motd; ls /usr/share/doc", check=True).stdout.split()
    assert out == ["hello", "from", "app1", "APP1"]


def test_no_dev_fuse_is_one_line(norange_session):
    """A user without access to /dev/fuse (this machine's is 0600; only the main test user got an ACL)."""
    done = norange_session.pyctr("--storage-driver", "fuse-overlayfs", "info")
    assert done.returncode == 125
    lines = [line for line in done.stderr.splitlines() if not line.startswith("note:")]
    assert len(lines) == 1 and "/dev/fuse" in lines[0]
