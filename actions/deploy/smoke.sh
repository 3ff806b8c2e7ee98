#!/usr/bin/env bash
# Deploy step 6: run the pushed image by digest, wait for /readyz, then score one test record on /predict.
set -euo pipefail
python="$(dirname "$(command -v mlgate)")/python"
port="${MLGATE_SMOKE_PORT:-3000}"
url="http://127.0.0.1:$port"

container="$(docker run --detach --rm --publish "127.0.0.1:$port:3000" "$MLGATE_IMAGE_REF")"
stop() {
  local code=$?
  if [ "$code" -ne 0 ]; then docker logs "$container" 2>&1 | tail -n 50; fi
  docker rm --force "$container" >/dev/null 2>&1 || true
  return "$code"
}
trap stop EXIT

deadline=$((SECONDS + MLGATE_SMOKE_TIMEOUT))
until curl --silent --fail "$url/readyz" >/dev/null; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "::error title=mlgate deploy::the image did not answer $url/readyz within ${MLGATE_SMOKE_TIMEOUT}s"
    exit 1
  fi
  sleep 2
done

body="$RUNNER_TEMP/mlgate-smoke-request.json"
"$python" "$GITHUB_ACTION_PATH/smoke_request.py" > "$body"
answer="$(curl --silent --show-error --fail --header 'Content-Type: application/json' --data @"$body" "$url/predict")"
echo "smoke test: /readyz ok; /predict answered $answer"
echo "$answer" | "$python" -c 'import json, sys; answer = json.load(sys.stdin); assert isinstance(answer, list) and answer and "prediction" in answer[0], answer'
