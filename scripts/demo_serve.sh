#!/usr/bin/env bash
# Serving part of `make demo`: in a trained example repository ($1), build the bento, serve it on
# 127.0.0.1 at a free port, send one sample request, print the answer, and stop the server by its PID.
set -euo pipefail

repo="${1:?usage: scripts/demo_serve.sh TRAINED_REPO}"
cd "$repo"
python_bin="$(command -v python3)"
bentoml_bin="$(dirname "$(command -v mlgate)")/bentoml"
export BENTOML_DO_NOT_TRACK=true

tag="$(mlgate build --json --no-lock-packages | "$python_bin" -c 'import json, sys; print(json.load(sys.stdin)["tag"])')"
echo "built bento $tag"

port="$("$python_bin" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log="$(mktemp)"
"$bentoml_bin" serve "$tag" --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; rm -f "$log"' EXIT

for _ in $(seq 1 240); do
  if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then cat "$log"; echo "the server stopped before it was ready" >&2; exit 1; fi
  sleep 0.5
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { tail -n 30 "$log"; echo "server not ready after 120 s" >&2; exit 1; }

# The first test row as the sample record.
body="$("$python_bin" - <<'PY'
import json
import pandas as pd
card = json.load(open("models/model.json"))
names = [feature["name"] for feature in card["features"]]
row = pd.read_parquet("data/prepared/test.parquet")[names].head(1)
print(json.dumps({"records": json.loads(row.to_json(orient="records"))}))
PY
)"
echo "POST /predict on 127.0.0.1:$port"
curl -sf -X POST -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$port/predict"
echo
