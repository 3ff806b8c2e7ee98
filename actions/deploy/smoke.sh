#!/usr/bin/env bash
# Deploy step 6: run the pushed image by digest as Kubernetes runs it (read-only root filesystem, a
# writable /tmp, no capabilities), on the host network at 127.0.0.1 only; `mlgate smoke` waits for /readyz,
# scores test records, and checks the answers against the evaluate stage's predictions.
set -euo pipefail
port="${MLGATE_SMOKE_PORT:-3000}"

container="$(docker run --detach --network host --read-only --tmpfs /tmp:rw,size=512m --cap-drop ALL \
  --security-opt no-new-privileges --env BENTOML_HOST=127.0.0.1 --env "BENTOML_PORT=$port" "$MLGATE_IMAGE_REF")"
stop() {
  local code=$?
  if [ "$code" -ne 0 ]; then docker logs "$container" 2>&1 | tail -n 50; fi
  docker rm --force "$container" >/dev/null 2>&1 || true
  return "$code"
}
trap stop EXIT

if ! mlgate smoke "http://127.0.0.1:$port" --timeout "$MLGATE_SMOKE_TIMEOUT"; then
  echo "::error title=mlgate deploy::the image $MLGATE_IMAGE_REF failed its smoke test"
  exit 1
fi
