#!/usr/bin/env bash
# Run `mlgate gate` and turn its exit code into a check result: 1 is a failed gate, 2 and 3 a broken run.
set -uo pipefail
log="$RUNNER_TEMP/mlgate-gate.log"
mlgate gate --base "$MLGATE_BASE" 2>&1 | tee "$log"
code=${PIPESTATUS[0]}
# Annotations take one line; GitHub decodes %0A back into line breaks.
message="$(sed -e 's/\x1b\[[0-9;]*m//g' "$log" | awk 'NF' | sed -e ':a;N;$!ba;s/%/%25/g;s/\r//g;s/\n/%0A/g')"
case "$code" in
  0) echo "result=passed" >> "$GITHUB_OUTPUT"; echo "::notice title=mlgate gate::all gates passed" ;;
  1) echo "result=failed" >> "$GITHUB_OUTPUT"; echo "::error title=mlgate gate failed::$message" ;;
  *) echo "result=broken" >> "$GITHUB_OUTPUT"
     echo "::error title=mlgate gate could not run (exit $code)::this is a broken run, not a failed gate.%0A$message" ;;
esac
exit "$code"
