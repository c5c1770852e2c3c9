#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root) to a running container:
# Debian packages, a virtual environment with pyctr, a busybox image built
# from the busybox-static package, and the demo run.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/debian-packages.sh

source scripts/pythons.sh
pyctr_find_pythons

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
# compat mode: a plain path entry, not an import hook, so start-up stays fast
.venv/bin/pip install -q -e '.[test]' --config-settings editable_mode=compat
.venv/bin/pip install -q ./examples/pyctr-example
# The machine may set PYTHONDONTWRITEBYTECODE: compile once so every pyctr
# command starts from bytecode.
.venv/bin/python -m compileall -q pyctr >/dev/null
ln -sf "$PWD/.venv/bin/pyctr" /usr/local/bin/pyctr

# The main job: a busybox image from Debian's busybox-static, then a container
# (scripts/demo.sh: in a store of its own, which leaves no bridge behind).
if ! pyctr images -q busybox | grep -q .; then
  tmp=$(mktemp -d)
  .venv/bin/python -m pyctr.testing.rootfs "$tmp/rootfs" >/dev/null
  pyctr import --change 'CMD ["sh"]' --message "busybox from Debian's busybox-static" "$tmp/rootfs" busybox
  rm -rf "$tmp"
fi
bash scripts/demo.sh
