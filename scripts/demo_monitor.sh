#!/usr/bin/env bash
# Monitor demo: derive a drifted batch from the test split of a trained example repository, run
# `mlgate monitor` on it and print the alarm (exit code 1 is the expected outcome and is tolerated).
#
# Usage: scripts/demo_monitor.sh TRAINED_REPO [PREDICTION_LOG.jsonl]
#   - default: the monitor checks the drifted batch as a CSV file;
#   - with PREDICTION_LOG: it checks that log (the service's JSONL) instead;
#   - with MLGATE_DEMO_SERVE=1: the model is served from a sandbox copy of the repository with its
#     prediction log on, the drifted rows are sent to it as traffic, and the monitor checks the log.
# Outputs (batch, log, report) go to $MLGATE_DEMO_OUT (default: a temp dir); the repository is untouched.
set -euo pipefail

repo="${1:?usage: $0 TRAINED_REPO [PREDICTION_LOG.jsonl]}"
log="${2:-}"
serve="${MLGATE_DEMO_SERVE:-0}"
if [[ ! -f "$repo/reports/reference_profile.json" || ! -f "$repo/data/prepared/test.parquet" ]]; then
  echo "error: $repo has no reference profile or test split; run dvc repro there first" >&2
  exit 2
fi
[[ -z "$log" || -f "$log" ]] || { echo "error: prediction log $log not found" >&2; exit 2; }
log="${log:+$(cd "$(dirname "$log")" && pwd)/$(basename "$log")}"
out="$(mkdir -p "${MLGATE_DEMO_OUT:-$(mktemp -d)}" && cd "${MLGATE_DEMO_OUT:-$_}" && pwd)"
repo="$(cd "$repo" && pwd)"
cd "$repo"

# The drift: a shift of one feature's mean and, when the rows do not go through the service (which
# refuses missing values), 30% of another feature missing; through the service, a second shift instead.
python - "$out/drifted.csv" "$serve" <<'PY'
import sys

import numpy as np
import pandas as pd

path, served = sys.argv[1], sys.argv[2] == "1"
test = pd.read_parquet("data/prepared/test.parquet").drop(columns=["row_id"])
train = pd.read_parquet("data/prepared/train.parquet")
numeric = [c for c in test.columns if c != "target" and pd.api.types.is_float_dtype(test[c])]
shifted, other = numeric[0], numeric[1]
test[shifted] += (1.0 if served else 0.5) * train[shifted].std()
if served:
    test[other] += 1.0 * train[other].std()
    change = f"{other!r} shifted by 1 sd"
else:
    test.loc[test.sample(frac=0.3, random_state=0).index, other] = np.nan
    change = f"30% of {other!r} missing"
test.to_csv(path, index=False)
print(f"drifted batch: {len(test)} rows; {shifted!r} shifted; {change} -> {path}")
PY

if [[ "$serve" == 1 ]]; then
  sandbox="$out/served"
  rm -rf -- "$sandbox" && mkdir -p "$sandbox"
  for path in params.yaml dvc.yaml dvc.lock .mlgate models reports; do
    if [[ -e "$path" ]]; then cp -a -- "$path" "$sandbox/"; fi
  done
  cd "$sandbox"
  python - <<'PY'
import yaml

params = yaml.safe_load(open("params.yaml"))
params.setdefault("serve", {}).update(log_predictions="logs/predictions.jsonl", log_inputs=True)
open("params.yaml", "w").write(yaml.safe_dump(params, sort_keys=False))
PY
  port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  # Its own process group, so that stopping it also stops the bentoml process it starts.
  setsid mlgate serve --host 127.0.0.1 --port "$port" > serve.log 2>&1 &
  server=$!
  trap 'kill -- "-$server" 2> /dev/null || true' EXIT
  printf '\n$ mlgate serve --port %s   (sandbox %s)\n' "$port" "$sandbox"
  python - "$port" "$out/drifted.csv" <<'PY'
import json
import sys
import time
import urllib.request

import pandas as pd

port, batch = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}"
for _ in range(240):  # up to 120 s for the service to load the model
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=2):
            break
    except OSError:
        time.sleep(0.5)
else:
    sys.exit("the service did not become ready; see serve.log")
records = pd.read_csv(batch).drop(columns=["target"]).to_dict(orient="records")
for start in range(0, len(records), 50):
    body = json.dumps({"records": records[start : start + 50]}).encode()
    request = urllib.request.Request(f"{base}/predict", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
print(f"sent {len(records)} drifted records to {base}/predict")
PY
  kill -- "-$server" 2> /dev/null || true
  wait "$server" 2> /dev/null || true
  trap - EXIT
  log="$sandbox/logs/predictions.jsonl"
fi

current="${log:-$out/drifted.csv}"
printf '\n$ mlgate monitor --current %q --out %q\n' "$current" "$out/monitor"
status=0
mlgate monitor --current "$current" --out "$out/monitor" || status=$?
case "$status" in
  1) printf '\nexit code 1: the monitor raised an alarm, as it should on this batch. Report head:\n\n'
     sed -n '1,/^| Feature/p' "$out/monitor/monitor.md" | head -n 12 ;;
  0) echo "exit code 0: no alarm (unexpected for this batch)" ;;
  *) echo "exit code $status: the monitor failed" >&2; exit "$status" ;;
esac
