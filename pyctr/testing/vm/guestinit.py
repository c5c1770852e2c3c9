"""The guest's init, in two busybox shell stages.

Stage 1 runs from the initramfs: it loads the boot modules, mounts the
host's ``/`` (9p, read-only) under a tmpfs overlay and switches root.
Stage 2 runs as PID 1 on that root and does what an init system would for
a container engine (cgroup2 with every controller delegated, devpts, a
non-loopback address for servers that insist on one), runs the command
written by the host into the I/O share, writes its exit code back and
powers off through sysrq.

Everything the host decides per run (command, modules path, extra shares)
is in files on the I/O share, so this text never changes and the kernel
command line stays constant.
"""

from __future__ import annotations

IO_TAG = "pyctrio"
ROOT_TAG = "hostroot"
GUEST_DIR = "/run/pyctr-vm"  # where stage 2 finds busybox, itself and the I/O share
NINEP = "trans=virtio,version=9p2000.L,msize=512000"

STAGE1 = f"""#!/bin/sh
# pyctr VM guest, stage 1 (initramfs).
export PATH=/bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
read -r T_INIT _ </proc/uptime  # kernel start to /init, on the guest's clock
fail() {{ echo "pyctr-vm: stage 1: $*" >/dev/console; echo o >/proc/sysrq-trigger; sleep 60; }}
while read -r m; do
  case "$m" in
    *-dummy.ko) insmod "/modules/$m" numdummies=0 ;;
    ?*) insmod "/modules/$m" || fail "insmod $m failed" ;;
  esac
done </modules/order
mount -t 9p -o {NINEP},cache=loose,ro {ROOT_TAG} /lower || fail "cannot mount the host's root"
mount -t tmpfs -o mode=0755 rootrw /rw && mkdir /rw/upper /rw/work
# overlayfs wants upper and work on the same fs, and not on 9p: both on tmpfs.
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot \\
  || fail "cannot mount the overlay root"
mount -t tmpfs -o mode=0755,nosuid,nodev run /newroot/run
mount -t tmpfs -o mode=1777,nosuid,nodev tmp /newroot/tmp
mount -t tmpfs -o mode=1777,nosuid,nodev vartmp /newroot/var/tmp
mkdir -p /newroot{GUEST_DIR}/io
mount -t 9p -o {NINEP} {IO_TAG} /newroot{GUEST_DIR}/io || fail "cannot mount the I/O share"
# A host folder under /tmp, /var/tmp or /run (a CI checkout, say) would be
# hidden by the guest's own tmpfs there: show it again at its path, under a
# tmpfs overlay like the rest of the root (the host's copy is never written).
n=0
while read -r kind path; do
  [ "$kind" = visible ] || continue
  n=$((n + 1)) && mkdir -p "/rw/v$n/upper" "/rw/v$n/work" "/newroot$path" \\
    && mount -t overlay -o "lowerdir=/lower$path,upperdir=/rw/v$n/upper,workdir=/rw/v$n/work" overlay "/newroot$path" \\
    || fail "cannot show $path"
done </newroot{GUEST_DIR}/io/config
echo "$T_INIT" >/newroot{GUEST_DIR}/io/uptime-init
cp /bin/busybox /stage2 /newroot{GUEST_DIR}/
mount --move /dev /newroot/dev
mount --move /sys /newroot/sys
mount --move /proc /newroot/proc
exec switch_root /newroot {GUEST_DIR}/busybox sh {GUEST_DIR}/stage2
"""

STAGE2 = f"""#!/bin/sh
# pyctr VM guest, stage 2: PID 1 on the overlay root.
B={GUEST_DIR}/busybox
IO={GUEST_DIR}/io
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
say() {{ echo "pyctr-vm: $*" >/dev/console; }}
poweroff() {{ $B sync; echo o >/proc/sysrq-trigger; $B sleep 60; }}
share() {{  # share TAG PATH: a read-write host folder at the same path
  $B mkdir -p "$2" && $B mount -t 9p -o {NINEP} "$1" "$2" || say "cannot mount share $2"
}}
visible() {{ :; }}  # handled by stage 1
modules() {{  # modules VERSION PATH: the kernel's own modules, for modprobe
  $B mkdir -p "/lib/modules/$1" && $B mount --bind "$2" "/lib/modules/$1"
}}
$B mkdir -p /dev/pts /dev/shm /dev/mqueue
$B mount -t devpts -o mode=0620,ptmxmode=0666,gid=5 devpts /dev/pts
$B mount -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm
$B mount -t mqueue mqueue /dev/mqueue
# cgroup v2 only, delegated the way systemd does it, every controller on
# for children (without this a child cgroup cannot set memory.max).
$B mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
for c in $($B cat /sys/fs/cgroup/cgroup.controllers); do
  echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || say "cannot enable $c"
done
$B hostname pyctr-vm
$B ip link set lo up
. $IO/config
# ganesha refuses to start with only a loopback address: a private dummy one.
[ -d /sys/module/dummy ] || $B modprobe dummy numdummies=0 2>/dev/null
$B ip link add pyctr0 type dummy && $B ip addr add 10.254.254.1/24 dev pyctr0 \\
  && $B ip link set pyctr0 up || say "no dummy interface"
# No DNS: an empty resolv.conf fails lookups at once instead of after ~20 s.
$B rm -f /etc/resolv.conf && : >/etc/resolv.conf
{{ $B uname -r; $B cat /sys/fs/cgroup/cgroup.subtree_control; }} >$IO/facts
$B cat /proc/uptime >$IO/booted
# The host's shell, not busybox's, which would prefer its own applets to the host's tools.
/bin/sh $IO/run.sh </dev/null >$IO/stdout 2>$IO/stderr
echo $? >$IO/rc.tmp && $B mv $IO/rc.tmp $IO/rc
poweroff
"""
