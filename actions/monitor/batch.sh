#!/usr/bin/env bash
# Source it, then call resolve_batch: it sets `batch` to what the monitor (or a retraining) reads, the
# MLGATE_CURRENT input or else monitor.current of params.yaml, pulling a DVC-tracked file that is not in
# the checkout yet, and MLGATE_PARAMS_RETRAIN to monitor.retrain. A python: loader is passed on as it is.

resolve_batch() {
  fields mlgate params --field monitor.current --field monitor.retrain || return
  batch="${MLGATE_CURRENT:-${FIELDS[0]}}"
  # shellcheck disable=SC2034  # read by the sourcing script
  MLGATE_PARAMS_RETRAIN="${FIELDS[1]:-off}"
  if [ -z "$batch" ]; then
    echo "::error title=mlgate monitor::no data to check: set the \`current\` input or monitor.current"
    return 2
  fi
  if [[ "$batch" != python:* ]] && ! compgen -G "$batch" > /dev/null; then
    dvc pull -q "$batch" > /dev/null 2>&1 || true
  fi
}
