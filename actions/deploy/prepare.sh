#!/usr/bin/env bash
# Deploy steps 1-4: reproduce from the run-cache, push the run-cache, take the next registry version,
# build the bento. Everything the later steps need leaves through $GITHUB_OUTPUT.
set -euo pipefail
exec < /dev/null  # nothing may wait on a terminal: DVC asks y/n on one when a cache is missing
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

mlgate validate
if [ -n "$(dvc remote default 2>/dev/null || true)" ]; then
  # After a green pull request this is a run-cache hit: nothing is trained again.
  dvc repro --pull
  # Later pull requests then find every unchanged stage in the remote's run-cache.
  dvc push --run-cache
else
  echo "::warning title=mlgate deploy::no DVC remote is configured: every stage runs here and nothing is pushed"
  dvc repro
fi

# The gate again, on the merged commit against the branch before it, so that the version records its verdict.
gate_report=""
if git rev-parse -q --verify HEAD^1 > /dev/null; then
  gate_report="$RUNNER_TEMP/mlgate-gate.json"
  if ! mlgate report --base HEAD^1 --format json --no-reproduce > "$gate_report"; then
    echo "::warning title=mlgate deploy::the gate could not be computed against HEAD^1; the version's gate stays unknown"
    gate_report=""
  fi
fi

version="$(mlgate registry next-version)"
fields mlgate build --model-version "$version" --field tag --field path --field image
bento_tag="${FIELDS[0]}" bento_path="${FIELDS[1]}"
image="${MLGATE_INPUT_IMAGE:-${FIELDS[2]}}"
if [ -z "$image" ]; then
  echo "::error title=mlgate deploy::no image name: set the image input or serve.image in params.yaml"
  exit 2
fi
pr="$MLGATE_INPUT_PR"
if [ -z "$pr" ]; then
  # "Merge pull request #12 from ..." (merge commit) or "Title (#12)" (squash merge).
  subject="$(git log -1 --format=%s)"
  if [[ "$subject" =~ ^Merge\ pull\ request\ \#([0-9]+) ]] || [[ "$subject" =~ \(\#([0-9]+)\)$ ]]; then
    pr="${BASH_REMATCH[1]}"
  fi
fi
{
  echo "version=$version"
  echo "image=${image,,}"
  echo "sha-tag=$(git rev-parse HEAD | cut -c1-12)"
  echo "bento-tag=$bento_tag"
  echo "bento-path=$bento_path"
  echo "pr=$pr"
  echo "gate-report=$gate_report"
} | tee -a "$GITHUB_OUTPUT"
