#!/usr/bin/env bash
# Retrain on a new branch (mlgate retrain), push it, and open its pull request with gh.
set -euo pipefail
exec < /dev/null  # nothing may wait on a terminal: DVC asks y/n on one when a cache is missing
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source=../monitor/batch.sh
source "$(dirname "${BASH_SOURCE[0]}")/../monitor/batch.sh"
resolve_batch
data="$batch"
branch="mlgate/retrain-${GITHUB_RUN_ID}-${GITHUB_RUN_ATTEMPT:-1}"
token="${MLGATE_PR_TOKEN:-$MLGATE_GITHUB_TOKEN}"
replace=()
if [ "$MLGATE_REPLACE" = "true" ]; then replace=(--replace); fi
as_bot mlgate retrain --data "$data" --branch "$branch" "${replace[@]}"

# The checkout keeps no credentials; the token goes into this one push only, through the environment.
git_with_token "$token" push -q origin "HEAD:refs/heads/${branch}"
echo "branch=$branch" >> "$GITHUB_OUTPUT"

body="$RUNNER_TEMP/mlgate-retrain-pr.md"
{
  echo "Retraining after a monitor alarm${MLGATE_ISSUE:+ (#$MLGATE_ISSUE)}: \`mlgate retrain --data $data\`."
  echo
  echo "The pull-request report compares the retrained model with the current one; the gates decide."
  echo
  echo "Run: ${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}"
  if [ -z "${MLGATE_PR_TOKEN:-}" ]; then
    echo
    echo "> Opened with the default GITHUB_TOKEN, which does not start pull_request workflows: start the checks by hand (close and reopen this pull request, or push to its branch)."
  fi
} > "$body"
url="$(GH_TOKEN="$token" gh pr create --repo "$GITHUB_REPOSITORY" --base "$MLGATE_BASE_BRANCH" --head "$branch" \
  --title "Retrain after monitor alarm (run ${GITHUB_RUN_ID})" --body-file "$body")"
echo "url=$url" >> "$GITHUB_OUTPUT"
echo "retraining pull request: $url"
