#!/usr/bin/env bash
# The whole mlgate story in a temporary sandbox with a bare "origin": init a repository, train and
# deploy version 1, open a "pull request" with a params change and print the comment the bot would
# post, "merge" it and deploy version 2, promote and roll back, then serve the production version.
#
# With act installed (the dev extra installs it), the repository's workflows run under act, through
# scripts/demo_act.py: the push to main runs mlgate-deploy.yml, the pull request mlgate.yml, promotion
# and rollback mlgate-promote.yml, each calling mlgate's reusable workflows at a commit of this checkout.
# Without act, or with MLGATE_DEMO_ACT=0, it runs the same mlgate commands directly (the steps of
# actions/deploy and actions/promote). MLGATE_DEMO_ACT=1 insists on act.
#
# Either way the container steps are stood in, and the output says so: there is no Docker engine and no
# GitHub here. The image digest is a hash of the bento folder, and the production version is served
# with `bentoml serve` from its bento, as its container would.
set -euo pipefail
export BENTOML_DO_NOT_TRACK=true ITERATIVE_DO_NOT_TRACK=1 DVC_NO_ANALYTICS=1

mlgate_src="$(cd "$(dirname "$0")/.." && pwd)"
python_bin="$(dirname "$(command -v mlgate)")/python"
bentoml_bin="$(dirname "$(command -v mlgate)")/bentoml"
sandbox="$(mktemp -d -t mlgate-story-XXXXXX)"
act_root="$sandbox/act"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  stop_standin_containers
  rm -rf "$sandbox"
}
stop_standin_containers() {
  # The docker stand-in's containers of a job that failed before its `docker rm`, by their PIDs.
  local pidfile pid
  for pidfile in "$act_root"/record-*/containers/*.pid; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    if grep -qs container_standin "/proc/$pid/cmdline"; then kill "$pid" 2>/dev/null || true; fi
  done
}
trap cleanup EXIT
export HOME="$sandbox/home" BENTOML_HOME="$sandbox/bentoml" GIT_CONFIG_NOSYSTEM=1 TMPDIR="$sandbox/tmp"
export GIT_CONFIG_GLOBAL="$sandbox/home/.gitconfig"
mkdir -p "$HOME" "$TMPDIR"
git config --global user.name "Ada (demo)"
git config --global user.email ada@example.invalid
git config --global init.defaultBranch main
git config --global advice.detachedHead false

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
standin() { printf '   \033[2m[stood in: %s]\033[0m\n' "$*"; }
image="ghcr.io/acme/shop"

case "${MLGATE_DEMO_ACT:-auto}" in
  0) mode=direct; why="MLGATE_DEMO_ACT=0" ;;
  1) command -v act >/dev/null || { echo "MLGATE_DEMO_ACT=1, but act is not on PATH" >&2; exit 2; }
     mode=act ;;
  *) if command -v act >/dev/null; then mode=act; else mode=direct; why="act is not installed"; fi ;;
esac

# --- The direct path: the scripts of actions/deploy and actions/promote, run here as their steps run. ---

step() {
  # step ACTION SCRIPT [VAR=VALUE...]: one script of an action, with the files a runner gives a step.
  local action="$1" script="$2"
  shift 2
  mkdir -p "$sandbox/runner"
  : > "$sandbox/step-output"
  env GITHUB_ACTION_PATH="$mlgate_src/actions/$action" GITHUB_OUTPUT="$sandbox/step-output" \
    GITHUB_STEP_SUMMARY="$sandbox/step-summary.md" RUNNER_TEMP="$sandbox/runner" "$@" \
    bash "$mlgate_src/actions/$action/$script" > "$sandbox/step.log" 2>&1 ||
    { tail -n 30 "$sandbox/step.log"; echo "actions/$action/$script failed" >&2; return 1; }
}
output() { sed -n "s/^$1=//p" "$sandbox/step-output" | tail -n 1; }
sync_main() { git checkout --quiet -- . && git pull --quiet --ff-only origin main; }

deploy_direct() {
  local version folder digest
  step deploy prepare.sh MLGATE_INPUT_IMAGE="$image" MLGATE_INPUT_PR="$1"
  version="$(output version)" folder="$(output bento-path)"
  digest="sha256:$(cd "$folder" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)"
  echo "   bento $(output bento-tag)"
  standin "docker/build-push-action: context $folder -> $image:$version, $image:$(output sha-tag), digest ${digest:0:19}…"
  standin "docker run + mlgate smoke (/readyz, /predict), and actions/attest-build-provenance"
  step deploy register.sh MLGATE_VERSION="$version" MLGATE_IMAGE="$image" MLGATE_DIGEST="$digest" \
    MLGATE_SHA_TAG="$(output sha-tag)" MLGATE_BENTO_TAG="$(output bento-tag)" MLGATE_PR="$(output pr)" \
    MLGATE_GATE_REPORT="$(output gate-report)" MLGATE_ALIAS=staging MLGATE_BRANCH=main MLGATE_PUSH_TOKEN= \
    MLGATE_PUSH_ATTEMPTS=3
  sed -n 's/^pushed /   pushed /p' "$sandbox/step.log"
  sync_main
}

move_alias_direct() {
  # actions/promote: find the version and its image, re-tag it by digest (stood in), commit the registry.
  local version digest
  step promote plan.sh MLGATE_OPERATION="$1" MLGATE_INPUT_VERSION="${2#-}" MLGATE_ALIAS=production
  version="$(output version)" digest="$(output digest)"
  standin "docker buildx imagetools create --tag $image:production $image@${digest:0:19}… (version $version, no rebuild)"
  step promote commit.sh MLGATE_OPERATION="$1" MLGATE_VERSION="$version" MLGATE_ALIAS=production \
    MLGATE_REASON="$3" MLGATE_BRANCH=main MLGATE_PUSH_TOKEN= MLGATE_PUSH_ATTEMPTS=3
  sed -n 's/^pushed /   pushed /p' "$sandbox/step.log"
  sync_main
}

review_direct() {
  standin "cml comment update: the sticky pull-request comment below"
  mlgate report --base main --format md --max-chars 4000
  mlgate gate --base main && echo "   gate: passed" || echo "   gate: failed (the check would be red)"
}

# --- The act path: the workflows `mlgate init` wrote, run under act by scripts/demo_act.py. ---

workflow() { "$python_bin" "$mlgate_src/scripts/demo_act.py" "$1" "$act_root" "${@:2}"; }
sync() { git pull --quiet --ff-only origin main; }
deploy_act() { workflow push; sync; }
move_alias_act() { workflow dispatch operation="$1" version="${2#-}" alias=production reason="$3"; sync; }
review_act() { workflow pull-request 1; }

deploy() { "deploy_$mode" "$@"; }
move_alias() { "move_alias_$mode" "$@"; }
review() { "review_$mode"; }

if [ "$mode" = act ]; then
  say "The story runs its workflows under act ($(act --version)); MLGATE_DEMO_ACT=0 runs the mlgate commands directly"
  echo "   Stood in: GitHub itself (bare repositories in the sandbox, through git's url.insteadOf; act runs"
  echo "   each job on this machine), docker build and push, the docker run smoke test, build provenance"
  echo "   attestation and the cml comment post (tests/standins/; each one's call is printed)."
  mlgate_ref="$(workflow publish)"
  git config --global url."$act_root/github/".insteadOf https://github.com/
  git init --quiet --bare "$act_root/github/acme/shop"
  origin=https://github.com/acme/shop
else
  say "The story runs the mlgate commands directly ($why): the steps of actions/deploy and actions/promote"
  echo "   Stood in: GitHub and the workflows themselves, docker build and push, the docker run smoke test,"
  echo "   build provenance attestation and the cml comment post."
  mlgate_ref="$(git -C "$mlgate_src" rev-parse HEAD 2>/dev/null || echo 0000000000000000000000000000000000000000)"
  git init --quiet --bare "$sandbox/origin.git"
  origin="$sandbox/origin.git"
fi

say "1. mlgate init in a fresh repository (with a bare origin and a local DVC remote)"
git init --quiet "$sandbox/shop"
cd "$sandbox/shop"
git remote add origin "$origin"
mlgate init --mlgate-repository acme/mlgate --mlgate-ref "$mlgate_ref"
# A faster evaluation for the demo; the starter params keep their full settings otherwise.
"$python_bin" - <<'PY'
from pathlib import Path
path = Path("params.yaml")
text = path.read_text().replace("samples: 1000", "samples: 200").replace("repeats: 5", "repeats: 2")
path.write_text(text)
PY
dvc remote add --quiet -d store "$sandbox/dvc-remote"

say "2. Train on main, push the outputs to the DVC remote, and deploy version 1"
mlgate validate
dvc repro --quiet
dvc push --quiet --run-cache
git add -A
git commit --quiet -m "Adopt mlgate"
git push --quiet -u origin main
deploy ""
move_alias promote 1 "first release"

say "3. A pull request: shallower trees; the comment the bot would post"
git checkout --quiet -b shallower-trees
"$python_bin" - <<'PY'
from pathlib import Path
path = Path("params.yaml")
path.write_text(path.read_text().replace("max_depth: 8", "max_depth: 3").replace("n_estimators: 200", "n_estimators: 60"))
PY
mlgate validate >/dev/null
dvc repro --quiet
dvc push --quiet --run-cache
git commit --quiet -am "Shallower trees"
git push --quiet origin shallower-trees
review

say "4. Merge it, and deploy version 2"
git checkout --quiet main
git pull --quiet origin main
git merge --quiet --no-ff -m "Merge pull request #1 from acme/shallower-trees" shallower-trees
git push --quiet origin main
deploy 1
mlgate registry list

say "5. Promote version 2 to production, then roll back"
move_alias promote 2 "passed staging checks"
move_alias rollback - "latency regression"
mlgate registry list

say "6. Serve the production version (its bento, as the container would) and query it"
production_bento="$(mlgate registry show production --field bento.tag)"
port="$("$python_bin" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
standin "docker run $image@<production digest>: bentoml serve $production_bento on 127.0.0.1:$port"
"$bentoml_bin" serve "$production_bento" --host 127.0.0.1 --port "$port" > "$sandbox/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 240); do
  if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; then break; fi
  kill -0 "$server_pid" 2>/dev/null || { tail -n 30 "$sandbox/serve.log"; echo "the server stopped" >&2; exit 1; }
  sleep 0.5
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null ||
  { tail -n 30 "$sandbox/serve.log"; echo "the server was not ready within 120 s" >&2; exit 1; }
echo "   mlgate smoke: POST /predict with a test record"
mlgate smoke "http://127.0.0.1:$port" | sed 's/^/   /'
curl -sf -X POST -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$port/metadata" |
  "$python_bin" -c 'import json, sys; m = json.load(sys.stdin); print("   served model version:", m.get("model_version", m.get("version")))'
say "Done: the registry history is in git"
git log --format='   %h %an: %s' -8
