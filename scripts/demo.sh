#!/usr/bin/env bash
# The demo behind `make demo`: run the example pipeline here, then each later part of the loop
# in a temporary sandbox so this checkout stays as it was.
set -euo pipefail
cd "$(dirname "$0")/.."
export BENTOML_DO_NOT_TRACK=true ITERATIVE_DO_NOT_TRACK=1 DVC_NO_ANALYTICS=1
# Every temporary file of the demo (the sandboxes, `mlgate serve`'s staging) goes here and goes at the end.
TMPDIR="$(mktemp -d -t mlgate-demo-XXXXXX)"
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. The pipeline: data -> train -> evaluate, driven by params.yaml"
[ -d .git ] || { echo "run the demo from a git checkout of mlgate" >&2; exit 2; }
mlgate validate
dvc repro
python - <<'PY'
import json
metrics = json.load(open("reports/metrics.json"))
print(f"\n{'metric':<10} {'value':>8}   95% CI")
for name, value in metrics.items():
    if isinstance(value, dict) and "value" in value:
        print(f"{name:<10} {value['value']:>8.4f}   [{value['ci_low']:.4f}, {value['ci_high']:.4f}]")
print(f"({metrics['n_test']} test rows)")
PY

say "2. The whole loop in a sandbox: init, deploy, pull request, merge, promote, roll back, serve"
bash scripts/demo_story.sh

say "3. Operations: drifted traffic to the served model, and the monitor's alarm"
MLGATE_DEMO_SERVE=1 bash scripts/demo_monitor.sh .
