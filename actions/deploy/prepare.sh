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

# The gate, recomputed here under the base's policy: this verdict is the one that counts (a pull request's
# own job runs the code it brings). It compares with the branch as it was before the push; a failure, or a
# gate that cannot be computed, stops the deploy before anything is built. Only a deploy dispatched with
# an explicit gate-override goes on, and the registry records the override.
refuse() {
  if [ -n "${MLGATE_INPUT_GATE_OVERRIDE:-}" ]; then
    echo "::warning title=mlgate deploy::$1; deploying anyway, as gate-override asks: $MLGATE_INPUT_GATE_OVERRIDE"
    return 0
  fi
  echo "::error title=mlgate deploy::$1; nothing was built or published (a deploy dispatched with gate-override can go on)"
  exit 1
}
base="${MLGATE_INPUT_GATE_BASE:-}"
if [[ "$base" =~ ^0*$ ]] || ! git cat-file -e "$base^{commit}" 2> /dev/null; then
  # A new branch, a dispatch, or a base this clone lacks: the last recorded version's commit, else this
  # commit itself (a first deploy, where only the absolute gates can judge).
  fields mlgate registry show latest --field source.commit 2> /dev/null || FIELDS=("")
  base="${FIELDS[0]:-}"
  if [ -z "$base" ] || ! git cat-file -e "$base^{commit}" 2> /dev/null; then base="$(git rev-parse HEAD)"; fi
fi
gate_report="$RUNNER_TEMP/mlgate-gate.json"
echo "gate: comparing with $base under its policy"
if ! mlgate report --base "$base" --format json > "$gate_report"; then
  refuse "the gate could not be computed against $base"
elif ! mlgate gate --report "$gate_report"; then
  refuse "the gate failed against $base"
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
