#!/usr/bin/env bash
# Run `mlgate monitor` on the production data; 1 (alarm) is an outcome, 2 and 3 are a broken run.
set -uo pipefail
exec < /dev/null  # nothing may wait on a terminal: DVC asks y/n on one when a cache is missing
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source=batch.sh
source "$(dirname "${BASH_SOURCE[0]}")/batch.sh"
resolve_batch || exit 2
retrain="${MLGATE_RETRAIN:-$MLGATE_PARAMS_RETRAIN}"
if [ "$retrain" != auto ]; then retrain=off; fi

args=(--current "$batch" --out "$MLGATE_OUT")
if [ -n "$MLGATE_ALIAS" ]; then args+=(--alias "$MLGATE_ALIAS"); fi
status="$(mlgate monitor "${args[@]}" --field status)"  # the findings go to the log (stderr) as well
code=$?
report="$MLGATE_OUT/monitor.md"
if [ -f "$report" ]; then cat "$report" >> "$GITHUB_STEP_SUMMARY"; fi
case "$code" in
  0) ;;
  1) echo "::warning title=mlgate monitor::alarm; the report is in the job summary" ;;
  *) echo "::error title=mlgate monitor could not run (exit $code)::a broken run, not an alarm"; exit "$code" ;;
esac
{ echo "status=$status"; echo "report=$report"; echo "retrain=$retrain"; } >> "$GITHUB_OUTPUT"
if [ "$status" != alarm ]; then echo "mlgate monitor: $status"; fi
