#!/usr/bin/env bash
# Push a registry change as the bot, re-applying it on the branch's new tip when the branch has moved.
#
# Source this file, define `apply_change` (it runs `mlgate registry ...` on the tip's registry file and
# sets `commit_message`), then call `push_registry_change`. Each attempt fetches the branch, restores
# its registry file, applies the change again, and commits registry.yaml (plus the refreshed dvc.lock
# and .mlgate/version, each unless the branch changed it after the deployed commit) on top of the tip
# with a temporary index, so HEAD stays the deployed commit and `record` reads the right source commit.
# Environment: MLGATE_BRANCH, MLGATE_PUSH_TOKEN (optional), MLGATE_PUSH_ATTEMPTS (default 5).

shopt -s inherit_errexit
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
deployed_commit="$(git rev-parse HEAD)"
registry_file="$(mlgate registry path)"

compose_commit() {
  # Print a new commit: the tip's tree with our registry file (and dvc.lock when the tip kept ours).
  local tip="$1" message="$2" index="$RUNNER_TEMP/mlgate-registry-index"
  rm -f "$index"
  GIT_INDEX_FILE="$index" git read-tree "$tip"
  GIT_INDEX_FILE="$index" git update-index --add --cacheinfo "100644,$(git hash-object -w "$registry_file"),$registry_file"
  local file
  for file in dvc.lock .mlgate/version; do
    [ -f "$file" ] || continue
    if git diff --quiet "$deployed_commit" "$tip" -- "$file"; then
      GIT_INDEX_FILE="$index" git update-index --add --cacheinfo "100644,$(git hash-object -w "$file"),$file"
    else
      echo "::notice title=mlgate registry::$MLGATE_BRANCH changed $file since $deployed_commit; its copy is kept" >&2
    fi
  done
  local tree
  tree="$(GIT_INDEX_FILE="$index" git write-tree)"
  rm -f "$index"
  as_bot git commit-tree "$tree" -p "$tip" -m "$message"
}

push_registry_change() {
  local attempts="${MLGATE_PUSH_ATTEMPTS:-5}" attempt tip commit
  for attempt in $(seq 1 "$attempts"); do
    git_with_token "${MLGATE_PUSH_TOKEN:-}" fetch --quiet --no-tags origin \
      "+refs/heads/$MLGATE_BRANCH:refs/remotes/origin/$MLGATE_BRANCH"
    tip="$(git rev-parse "refs/remotes/origin/$MLGATE_BRANCH")"
    if git cat-file -e "$tip:$registry_file" 2>/dev/null; then
      git show "$tip:$registry_file" > "$registry_file"
    else
      rm -f "$registry_file"
    fi
    apply_change
    # shellcheck disable=SC2154  # apply_change, defined by the sourcing script, sets commit_message
    commit="$(compose_commit "$tip" "$commit_message")"
    if git_with_token "${MLGATE_PUSH_TOKEN:-}" push --quiet origin "$commit:refs/heads/$MLGATE_BRANCH"; then
      echo "commit=$commit" >> "$GITHUB_OUTPUT"
      echo "pushed $commit to $MLGATE_BRANCH: $commit_message (attempt $attempt)"
      return 0
    fi
    echo "::warning title=mlgate registry::$MLGATE_BRANCH moved during the push (attempt $attempt of $attempts); re-applying on its new tip"
    sleep "$attempt"
  done
  echo "::error title=mlgate registry::could not push the registry commit to $MLGATE_BRANCH after $attempts attempts"
  return 1
}
