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
MLGATE_BOT_NAME="${MLGATE_BOT_NAME:-github-actions[bot]}"
MLGATE_BOT_EMAIL="${MLGATE_BOT_EMAIL:-41898282+github-actions[bot]@users.noreply.github.com}"
deployed_commit="$(git rev-parse HEAD)"
registry_file="$("$(dirname "$(command -v mlgate)")/python" -c 'from mlgate.registry import settings; print(settings().path)')"

with_token() {
  # The token travels as an HTTP header in the environment of one git call, never in argv or .git/config.
  if [ -z "${MLGATE_PUSH_TOKEN:-}" ]; then
    git "$@"
    return
  fi
  local header
  header="AUTHORIZATION: basic $(printf 'x-access-token:%s' "$MLGATE_PUSH_TOKEN" | base64 -w0)"
  echo "::add-mask::$header"
  GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0="http.${GITHUB_SERVER_URL:-https://github.com}/.extraheader" \
    GIT_CONFIG_VALUE_0="$header" git "$@"
}

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
  GIT_AUTHOR_NAME="$MLGATE_BOT_NAME" GIT_AUTHOR_EMAIL="$MLGATE_BOT_EMAIL" \
    GIT_COMMITTER_NAME="$MLGATE_BOT_NAME" GIT_COMMITTER_EMAIL="$MLGATE_BOT_EMAIL" \
    git commit-tree "$tree" -p "$tip" -m "$message"
}

push_registry_change() {
  local attempts="${MLGATE_PUSH_ATTEMPTS:-5}" attempt tip commit
  for attempt in $(seq 1 "$attempts"); do
    with_token fetch --quiet --no-tags origin "+refs/heads/$MLGATE_BRANCH:refs/remotes/origin/$MLGATE_BRANCH"
    tip="$(git rev-parse "refs/remotes/origin/$MLGATE_BRANCH")"
    if git cat-file -e "$tip:$registry_file" 2>/dev/null; then
      git show "$tip:$registry_file" > "$registry_file"
    else
      rm -f "$registry_file"
    fi
    apply_change
    commit="$(compose_commit "$tip" "$commit_message")"
    if with_token push --quiet origin "$commit:refs/heads/$MLGATE_BRANCH"; then
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
