#!/usr/bin/env bash
# The report part of `make demo`: in a temporary clone of a trained example repository, open a
# "pull request" branch that changes a param, rerun the pipeline, then print the report against main
# and the gate verdict. The repository given as $1 is left as it was.
#   usage: scripts/demo_report.sh <trained example repo> [file to copy the markdown report to]
set -euo pipefail
source_repo="$(cd "${1:?usage: $0 <trained example repo>}" && pwd)"
report_copy="${2:+$(realpath -m "$2")}"
base="${MLGATE_DEMO_BASE:-main}"
python="$(dirname "$(command -v mlgate)")/python"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

git clone --quiet "$source_repo" "$work/repo"
cd "$work/repo"
git checkout --quiet -B "$base"  # the base branch is the example's current commit, even from a detached HEAD
# Share the example's DVC cache, as a CI runner shares a DVC remote: the base is read from it.
dvc cache dir --local "$source_repo/.dvc/cache"

say "A pull request: model.params.max_depth set to 2 on branch demo/shallower-trees"
git checkout --quiet -b demo/shallower-trees
"$python" - <<'PY'
import yaml
with open("params.yaml", encoding="utf-8") as handle:
    params = yaml.safe_load(handle)
params["model"].setdefault("params", {})["max_depth"] = 2
with open("params.yaml", "w", encoding="utf-8") as handle:
    yaml.safe_dump(params, handle, sort_keys=False)
PY
mlgate validate
dvc repro --quiet
git add -A
git -c user.name="mlgate demo" -c user.email=demo@mlgate.invalid commit --quiet -m "demo: shallower trees"

say "mlgate report --base $base"
mlgate report --base "$base" --out "$work/report.md"
echo "(the markdown for the PR comment has $(wc -c < "$work/report.md") characters)"
if [ -n "$report_copy" ]; then cp "$work/report.md" "$report_copy"; fi

say "mlgate gate --base $base"
status=0
mlgate gate --base "$base" || status=$?
case "$status" in
  0) echo "gate: passed (exit 0)" ;;
  1) echo "gate: failed (exit 1): the PR check would fail" ;;
  *) echo "gate: broken run (exit $status)" >&2; exit "$status" ;;
esac
