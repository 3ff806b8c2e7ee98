#!/usr/bin/env bash
# Update the one sticky comment. A token that cannot write is not a broken run: say so and go on.
set -uo pipefail
out="$(dirname "$MLGATE_REPORT")"
if cml comment update --target=pr --watermark-title="$MLGATE_WATERMARK_TITLE" --publish=false "$MLGATE_REPORT"; then
  echo "commented=true" >> "$GITHUB_OUTPUT"
else
  code=$?
  echo "commented=false" >> "$GITHUB_OUTPUT"
  echo "::warning title=mlgate report::the comment was not written (cml exited $code); the token may lack pull-requests: write"
  printf '\n> [!WARNING]\n> No pull-request comment: cml exited %s, most likely because the token cannot write to pull requests. The report is above and in the artifact.\n' \
    "$code" | tee -a "$out/summary.md" >> "$GITHUB_STEP_SUMMARY"
fi
