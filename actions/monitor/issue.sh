#!/usr/bin/env bash
# Open the alarm issue, or update the one that is already open (found by its label), with the report.
set -euo pipefail
body="$RUNNER_TEMP/mlgate-issue.md"
{
  head -c 60000 "$MLGATE_REPORT"  # an issue body holds at most 65,536 characters
  echo
  echo "---"
  echo "Last alarm: ${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}. This issue is updated on every alarm; close it once handled."
  if [ "$MLGATE_RETRAIN" = "auto" ]; then
    echo
    if [ "$MLGATE_PR_TOKEN_SET" = "true" ]; then
      echo "A retraining pull request (branch \`mlgate/retrain-${GITHUB_RUN_ID}-*\`) follows; its checks run as usual."
    else
      echo "> A retraining pull request (branch \`mlgate/retrain-${GITHUB_RUN_ID}-*\`) follows, opened with the default GITHUB_TOKEN: its checks do not start by themselves, start them by hand (close and reopen it, or push to its branch), or give the workflow a pr-token secret."
    fi
  fi
} > "$body"
number="$(gh issue list --repo "$GITHUB_REPOSITORY" --label "$MLGATE_ISSUE_LABEL" --state open \
  --json number --jq '.[0].number // empty')"
if [ -n "$number" ]; then
  gh issue edit "$number" --repo "$GITHUB_REPOSITORY" --body-file "$body" > /dev/null
  echo "updated issue #$number"
else
  gh label create "$MLGATE_ISSUE_LABEL" --repo "$GITHUB_REPOSITORY" --color D93F0B \
    --description "Opened and updated by mlgate monitor" --force > /dev/null 2>&1 || true
  url="$(gh issue create --repo "$GITHUB_REPOSITORY" --title "$MLGATE_ISSUE_TITLE" --label "$MLGATE_ISSUE_LABEL" \
    --body-file "$body")"
  number="${url##*/}"
  echo "opened issue $url"
fi
echo "issue=$number" >> "$GITHUB_OUTPUT"
