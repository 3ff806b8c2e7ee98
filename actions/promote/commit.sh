#!/usr/bin/env bash
# Apply the promotion or rollback to registry.yaml and push it as the bot, re-applying on a moved branch.
set -euo pipefail
# shellcheck source=../deploy/registry_commit.sh
source "$(dirname "${BASH_SOURCE[0]}")/../deploy/registry_commit.sh"
reason="${MLGATE_REASON:-requested by ${GITHUB_ACTOR:-a workflow run}}"

apply_change() {
  if [ "$MLGATE_OPERATION" = promote ]; then
    mlgate registry promote "$MLGATE_VERSION" --to "$MLGATE_ALIAS" --reason "$reason"
    commit_message="mlgate: promote version $MLGATE_VERSION to $MLGATE_ALIAS [skip ci]"
  else
    local moved
    moved="$(mlgate registry rollback --alias "$MLGATE_ALIAS" --reason "$reason" --field to)"
    echo "rolled $MLGATE_ALIAS back to version $moved"
    if [ "$moved" != "$MLGATE_VERSION" ]; then
      echo "::error title=mlgate rollback::the registry changed meanwhile: rolling back $MLGATE_ALIAS no longer gives version $MLGATE_VERSION, whose image was tagged; run the rollback again"
      exit 1
    fi
    commit_message="mlgate: roll $MLGATE_ALIAS back to version $MLGATE_VERSION [skip ci]"
  fi
}

push_registry_change
{
  echo "### mlgate $MLGATE_OPERATION"
  echo ""
  echo "**$MLGATE_ALIAS** now points at version **$MLGATE_VERSION**: $reason."
} >> "$GITHUB_STEP_SUMMARY"
