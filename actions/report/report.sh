#!/usr/bin/env bash
# Make the base commit available (a PR checkout is a shallow merge ref), write the report and the job
# summary, and decide whether the sticky comment can be written.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
out="$RUNNER_TEMP/mlgate-report"
mkdir -p "$out"
summary() { tee -a "$out/summary.md" >> "$GITHUB_STEP_SUMMARY"; }

if [ -z "$MLGATE_BASE" ]; then
  echo "::error title=mlgate report::no base revision: run on pull_request or pass the base input"
  exit 2
fi
if ! git cat-file -e "$MLGATE_BASE^{commit}" 2>/dev/null; then
  git_with_token "${MLGATE_TOKEN:-}" fetch --quiet --no-tags --depth=1 origin "$MLGATE_BASE"
fi

mlgate report --base "$MLGATE_BASE" --out "$out/report.md"
summary < "$out/report.md"
echo "report-path=$out/report.md" >> "$GITHUB_OUTPUT"

if [ "$MLGATE_COMMENT" != "true" ]; then
  comment=false; why="comments are turned off for this workflow"
elif [ "$MLGATE_FORK" = "true" ]; then
  comment=false; why="this pull request comes from a fork, whose token cannot write comments"
else
  comment=true; why=""
fi
echo "comment=$comment" >> "$GITHUB_OUTPUT"
if [ "$comment" = false ]; then
  # shellcheck disable=SC2016  # the backticks are markdown, not a command
  printf '\n> [!NOTE]\n> No pull-request comment: %s. The report is above and in the `%s` artifact.\n' \
    "$why" "$MLGATE_ARTIFACT_NAME" | summary
  echo "::notice title=mlgate report::no pull-request comment: $why"
fi
