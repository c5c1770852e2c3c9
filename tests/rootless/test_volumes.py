"""Volumes as a rootless user: a named volume persists across containers, and owners come out
right on both sides (the container's root is the user on the host, its uid 99 the user's subordinate id 99)."""

from __future__ import annotations

import os


def test_named_volume_persists_with_the_right_owners(busybox):
    busybox.pyctr("volume", "create", "data", check=True)
    busybox.pyctr("run", "--rm", "--network", "none", "-v", "data:/data", "busybox", "sh", "-c",
                  "echo kept > /data/root-file && mkdir /data/u99 && chown 99:99 /data/u99", check=True)
    busybox.pyctr("run", "--rm", "--network", "none", "--user", "99:99", "-v", "data:/data", "busybox", "sh", "-c",
                  "echo mine > /data/u99/f", check=True)
    out = busybox.pyctr("run", "--rm", "--network", "none", "-v", "data:/data", "busybox", "sh", "-c",
                        "cat /data/root-file /data/u99/f; stat -c '%u:%g %n' /data/root-file /data/u99/f",
                        check=True).stdout.splitlines()
    assert out == ["kept", "mine", "0:0 /data/root-file", "99:99 /data/u99/f"]
    data = busybox.store / "volumes" / "data" / "_data"
    user = busybox.user
    st = os.lstat(data / "root-file")
    assert (st.st_uid, st.st_gid) == (user.uid, user.gid)
    st = os.lstat(data / "u99" / "f")
    assert (st.st_uid, st.st_gid) == (user.shifted(99), user.shifted_gid(99))
    assert busybox.pyctr("volume", "ls", "-q", check=True).stdout.split() == ["data"]


def test_image_content_copied_into_a_new_volume_keeps_owners(busybox):
    """An empty named volume on /home gets the image's /home/user99, still owned by 99 inside."""
    out = busybox.pyctr("run", "--rm", "--network", "none", "-v", "homes:/home", "busybox", "stat", "-c", "%u:%g",
                        "/home/user99", check=True).stdout.strip()
    assert out == "99:99"
    st = os.lstat(busybox.store / "volumes" / "homes" / "_data" / "user99")
    assert st.st_uid == busybox.user.shifted(99)


def test_bind_mount_of_the_users_directory(busybox):
    """The user's own directory is root's inside; what the container writes there is the user's."""
    work = busybox.home / "work"
    busybox.run(["mkdir", str(work)], check=True)
    busybox.run(["sh", "-c", f"echo from-host > {work}/in"], check=True)
    out = busybox.pyctr("run", "--rm", "--network", "none", "-v", f"{work}:/w", "busybox", "sh", "-c",
                        "cat /w/in; stat -c %u /w/in; echo from-container > /w/out", check=True).stdout.split()
    assert out == ["from-host", "0"]
    st = os.lstat(work / "out")
    assert (st.st_uid, st.st_gid) == (busybox.user.uid, busybox.user.gid)
    assert (work / "out").read_text() == "from-container\n"
