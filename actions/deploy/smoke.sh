#!/usr/bin/env bash
# Deploy step 6: run the pushed image by digest; `mlgate smoke` waits for /readyz and scores a test record.
set -euo pipefail
port="${MLGATE_SMOKE_PORT:-3000}"

container="$(docker run --detach --rm --publish "127.0.0.1:$port:3000" "$MLGATE_IMAGE_REF")"
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
