#!/usr/bin/env bash
# Work out which version the alias will point at (a rollback is tried on a copy of the registry) and
# read that version's image name and digest from the registry.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

case "$MLGATE_OPERATION" in
  promote)
    if ! [[ "$MLGATE_INPUT_VERSION" =~ ^[0-9]+$ ]]; then
      echo "::error title=mlgate promote::a promotion needs a version number, not '$MLGATE_INPUT_VERSION'"
      exit 2
    fi
    version="$MLGATE_INPUT_VERSION" ;;
  rollback)
    trial="$RUNNER_TEMP/mlgate-rollback-trial.yaml"
    cp "$(mlgate registry path)" "$trial"
    version="$(mlgate registry rollback --alias "$MLGATE_ALIAS" --registry "$trial" --field to)" ;;
  *)
    echo "::error title=mlgate promote::operation must be promote or rollback, not '$MLGATE_OPERATION'"
    exit 2 ;;
esac

fields mlgate registry show "$version" --field image.name --field image.digest
image="${FIELDS[0]}" digest="${FIELDS[1]:-}"
if [ -z "$image" ] || [ -z "$digest" ]; then
  echo "::error title=mlgate promote::version $version has no image digest in the registry; deploy it first"
  exit 2
fi
{
  echo "version=$version"
  echo "image=$image"
  echo "digest=$digest"
} | tee -a "$GITHUB_OUTPUT"
