#!/usr/bin/env bash
# The soak test (pyctr.testing.soak): 20 containers (a health-probed web server, a 1 MB/s
# logger under max-size=1m,max-file=3, a crasher and an OOM-killed container under
# --restart always, 16 quiet ones) for DURATION (default 30m), sampled every minute;
# exits 1 when anything grew or did not come back after rm -f. As root.
#   bash scripts/soak.sh 30m [--report soak.json]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-30m}
shift || true
exec .venv/bin/python -m pyctr.testing.soak "$duration" "$@"
