#!/usr/bin/env bash
# Registry demo: in a temporary copy of a trained example repository, record version 1 and promote it
# to production, record version 2 and promote it, roll production back, and list the registry.
# Usage: scripts/demo_registry.sh TRAINED_REPO   (the repository itself is left untouched)
set -euo pipefail

source_repo="${1:?usage: $0 TRAINED_REPO (a repository where dvc repro has run)}"
if [[ ! -f "$source_repo/models/model.json" ]]; then
  echo "error: $source_repo has no models/model.json; run dvc repro there first" >&2
  exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf -- "$work"' EXIT
# A shared clone carries the commit; the pipeline outputs are git-ignored, so copy them over.
git clone --quiet --shared -- "$source_repo" "$work/demo"
for path in params.yaml dvc.lock models reports; do
  if [[ -e "$source_repo/$path" ]]; then
    rm -rf -- "${work:?}/demo/$path"
    cp -a -- "$source_repo/$path" "$work/demo/$path"
  fi
done
cd "$work/demo"
rm -f registry.yaml .registry.yaml.lock

step() { printf '\n$'; printf ' %q' "$@"; printf '\n'; "$@"; }

step mlgate registry next-version
step mlgate registry record --reason "first model of the demo"
step mlgate registry promote 1 --to production --reason "passed the gate"
step mlgate registry record --pr 2 --reason "retrained on fresh data"
step mlgate registry promote 2 --to production --reason "better on the PR report"
step mlgate registry rollback --alias production --reason "demo: error rate rose after the deploy"
step mlgate registry verify
step mlgate registry list
