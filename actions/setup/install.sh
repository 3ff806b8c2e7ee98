#!/usr/bin/env bash
# Install mlgate from the checkout that holds this action (so actions and package share one ref),
# or reuse an interpreter that already has it. Telemetry goes off for every later step.
set -euo pipefail
{
  echo "DVC_NO_ANALYTICS=1"
  echo "ITERATIVE_DO_NOT_TRACK=1"
  echo "BENTOML_DO_NOT_TRACK=true"
} >> "$GITHUB_ENV"

source_dir="$(cd "$GITHUB_ACTION_PATH/../.." && pwd)"
# Keep the mlgate checkout out of `git status` when it lies inside the caller's workspace.
relative="$(realpath --relative-to="$GITHUB_WORKSPACE" "$source_dir")"
if [ "$relative" != "." ] && [ "${relative#..}" = "$relative" ] && [ -d "$GITHUB_WORKSPACE/.git" ]; then
  echo "/$relative/" >> "$GITHUB_WORKSPACE/.git/info/exclude"
fi

if [ -n "$MLGATE_PREINSTALLED" ]; then
  python="$MLGATE_PREINSTALLED"
  "$python" -m mlgate --version > /dev/null || { echo "::error::$python has no mlgate installed"; exit 2; }
  echo "Using the preinstalled mlgate of $python"
else
  python -m pip install --disable-pip-version-check --quiet uv
  venv="$RUNNER_TEMP/mlgate-venv"
  python -m uv venv --quiet --python "$(command -v python)" "$venv"
  python -m uv pip install --quiet --python "$venv/bin/python" "${source_dir}[${MLGATE_EXTRAS}]"
  python="$venv/bin/python"
fi
dirname "$python" >> "$GITHUB_PATH"
echo "python=$python" >> "$GITHUB_OUTPUT"
"$python" -m mlgate --version
