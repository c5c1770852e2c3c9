#!/usr/bin/env bash
# The set-up's demo: a busybox container on the default bridge network, as any first
# run, in a throwaway store; on the way out (also after a failure) the store's share of
# the default bridge is released (system prune: the bridge and its nft table go when
# no other store uses them) and the store removed, so the machine is left as it was.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
store=$(mktemp -d)
export PYCTR_ROOT=$store/root PYCTR_RUNROOT=$store/run
trap '"$python" -m pyctr system prune -f >/dev/null || true; rm -rf "$store"' EXIT
"$python" -m pyctr.testing.rootfs "$store/rootfs" >/dev/null
"$python" -m pyctr import --change 'CMD ["sh"]' "$store/rootfs" busybox >/dev/null
"$python" -m pyctr run --rm busybox sh -c 'hostname; ps; id'
