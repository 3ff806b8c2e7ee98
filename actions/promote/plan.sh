#!/usr/bin/env bash
# Work out which version the alias will point at (a rollback is tried on a copy of the registry) and
# read that version's image name and digest from the registry.
set -euo pipefail
python="$(dirname "$(command -v mlgate)")/python"
field() { "$python" -c "import json, sys; print(json.load(sys.stdin)$1)"; }

case "$MLGATE_OPERATION" in
  promote)
    if ! [[ "$MLGATE_INPUT_VERSION" =~ ^[0-9]+$ ]]; then
      echo "::error title=mlgate promote::a promotion needs a version number, not '$MLGATE_INPUT_VERSION'"
      exit 2
    fi
    version="$MLGATE_INPUT_VERSION" ;;
  rollback)
    trial="$RUNNER_TEMP/mlgate-rollback-trial.yaml"
    cp "$("$python" -c 'from mlgate.registry import settings; print(settings().path)')" "$trial"
    version="$(mlgate registry rollback --alias "$MLGATE_ALIAS" --registry "$trial" --json | field '["to"]')" ;;
  *)
    echo "::error title=mlgate promote::operation must be promote or rollback, not '$MLGATE_OPERATION'"
    exit 2 ;;
esac

entry="$(mlgate registry show "$version" --json)"
image="$(field '["image"]["name"] or ""' <<< "$entry")"
digest="$(field '["image"]["digest"] or ""' <<< "$entry")"
if [ -z "$image" ] || [ -z "$digest" ]; then
  echo "::error title=mlgate promote::version $version has no image digest in the registry; deploy it first"
  exit 2
fi
{
  echo "version=$version"
  echo "image=$image"
  echo "digest=$digest"
} | tee -a "$GITHUB_OUTPUT"
