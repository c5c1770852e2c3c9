#!/usr/bin/env bash
# The whole test suite: every leg of the matrix (the unit and host suites on
# Python 3.11, 3.12 and 3.13; the VM runner's tests and the kernel-dependent
# tests in a guest on one), then the check that no test was skipped on every
# leg. `scripts/test.sh unit` (or host: each on the three Pythons; or one leg
# by its tox name, such as unit-py313, vm, kernel-debian61) runs only those.
set -euo pipefail
cd "$(dirname "$0")/.."
all=unit-py311,unit-py312,unit-py313,host-py311,host-py312,host-py313,rootless,clients,vm,kernel-debian61
case "${1:-all}" in
  all) legs=$all ;;
  unit) legs=unit-py311,unit-py312,unit-py313 ;;
  host) legs=host-py311,host-py312,host-py313 ;;
  *) legs=$1 ;;
esac
source scripts/pythons.sh
pyctr_find_pythons
mkdir -p .ci/results
rm -f .ci/results/*.xml
status=0
.venv/bin/tox -e "$legs" || status=$?
if [ "$legs" = "$all" ]; then
  # every leg's own file: one that left no results fails the check (exit 2)
  IFS=, read -ra names <<<"$legs"
  files=("${names[@]/#/.ci/results/}")
  .venv/bin/python -m pyctr.testing.skipcheck "${files[@]/%/.xml}" || status=1
fi
exit $status
