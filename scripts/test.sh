#!/usr/bin/env bash
# The whole test suite: every leg of the kernel matrix, then the check that no
# test was skipped on every kernel. `scripts/test.sh unit` (or host, vm,
# kernel-debian61) runs one leg; vm is the VM runner's own tests (boot, NFS in a
# guest, a hung guest killed at its time limit).
set -euo pipefail
cd "$(dirname "$0")/.."
legs=${1:-unit,host,rootless,vm,kernel-debian61}
mkdir -p .ci/results
rm -f .ci/results/*.xml
status=0
.venv/bin/tox -e "$legs" || status=$?
if [ "$legs" = "unit,host,rootless,vm,kernel-debian61" ]; then
  .venv/bin/python -m pyctr.testing.skipcheck .ci/results/*.xml || status=1
fi
exit $status
