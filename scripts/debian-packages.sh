#!/usr/bin/env bash
# Installs the Debian packages pyctr, its tests and its benchmarks use.
# Idempotent: apt-get skips what is already there.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PKGS=(
  busybox-static          # the test image's only binary
  docker-registry         # a real OCI registry for pull/push tests
  skopeo umoci            # independent clients that push images and read ours back
  nftables                # NAT and published ports
  iproute2 bridge-utils   # independent views of what the bridge driver made (tests only)
  nfs-ganesha nfs-ganesha-vfs nfs-common   # the NFS server and mount helper
  qemu-system-x86 cpio zstd xz-utils kmod  # the kernel-matrix guest
  bzip2                   # build tests: ADD of a .tar.bz2 made in the context
  podman runc crun conmon # benchmarks side by side; podman and conmon also run pyctr-runtime
  containerd              # pyctr-runtime under containerd's shim (ctr, CRI)
  hyperfine
  tini                    # --init: a static reaper bind-mounted as the container's PID 1
  libseccomp2
  apache2-utils           # htpasswd for the registry's auth tests
  openssl                 # signs the test token server's JWTs (Bearer-auth registry tests)
  python3-venv tmux psmisc
  uidmap slirp4netns passt fuse-overlayfs   # rootless: newuidmap/newgidmap, the rootless network, fuse storage
  docker.io docker-compose  # real clients of `pyctr system service`; dockerd only on private roots (test_docker_engine)
)
need=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
