#!/usr/bin/env bash
# Run `mlgate monitor` on the production data; 1 (alarm) is an outcome, 2 and 3 are a broken run.
set -uo pipefail
exec < /dev/null  # nothing may wait on a terminal: DVC asks y/n on one when a cache is missing
current="$(python "$GITHUB_ACTION_PATH/resolve.py")" || exit 2

# The reference of the workspace (no registry); with a registry, mlgate reads the version's own files.
dvc pull -q reports/reference_profile.json reports/metrics.json reports/predictions.parquet \
  models/model.json models/model.skops > /dev/null 2>&1 || echo "dvc pull of the reference outputs failed; continuing"

args=(--current "$current" --out "$MLGATE_OUT")
if [ -n "$MLGATE_ALIAS" ]; then args+=(--alias "$MLGATE_ALIAS"); fi
mlgate monitor "${args[@]}"
code=$?
report="$MLGATE_OUT/monitor.md"
if [ -f "$report" ]; then cat "$report" >> "$GITHUB_STEP_SUMMARY"; fi
case "$code" in
  0) status="$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["status"])' "$MLGATE_OUT/monitor.json")" ;;
  1) status=alarm; echo "::warning title=mlgate monitor::alarm; the report is in the job summary" ;;
  *) echo "::error title=mlgate monitor could not run (exit $code)::a broken run, not an alarm"; exit "$code" ;;
esac
{ echo "status=$status"; echo "report=$report"; } >> "$GITHUB_OUTPUT"
if [ "$status" != alarm ]; then echo "mlgate monitor: $status"; fi
