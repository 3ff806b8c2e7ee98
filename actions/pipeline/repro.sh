#!/usr/bin/env bash
# Validate the config, then `dvc repro`, with --pull only when a remote can be read.
set -euo pipefail
exec < /dev/null  # nothing may wait on a terminal: DVC asks y/n on one when a cache is missing
remote="$(dvc remote default 2>/dev/null || true)"
case "$MLGATE_INPUT_PULL" in
  true) pull=true; why="pull requested" ;;
  false) pull=false; why="pull turned off" ;;
  auto)
    if [ -z "$remote" ]; then pull=false; why="no DVC remote is configured"
    elif [ "$MLGATE_FORK" = "true" ]; then pull=false; why="fork pull requests get no secrets, so the remote is not used"
    else pull=true; why="remote '$remote'"
    fi ;;
  *) echo "::error::pull must be auto, true or false, not '$MLGATE_INPUT_PULL'"; exit 2 ;;
esac

mlgate validate
if [ "$pull" = true ]; then
  note="Pipeline: \`dvc repro --pull\` ($why): cached stages and the run-cache come from the remote."
  dvc repro --pull
else
  note="Pipeline: plain \`dvc repro\` ($why): every changed stage ran here."
  dvc repro
fi
echo "::notice title=mlgate pipeline::$note"
echo "pulled=$pull" >> "$GITHUB_OUTPUT"
echo "$note" >> "$GITHUB_STEP_SUMMARY"
