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
# With the container engine of scripts/engine.sh (`make demo` starts it: DOCKER_HOST and
# MLGATE_ENGINE_REGISTRY), every image is real: built from the bento, pushed to the registry on
# 127.0.0.1, smoke-tested with `docker run`, re-tagged by digest on promotion and rollback, and the
# production version is served from its container. Without one, act is not used, the image digest is a
# hash of the bento folder, and production is served with `bentoml serve` from its bento; the output says
# what is stood in either way.
set -euo pipefail
export BENTOML_DO_NOT_TRACK=true ITERATIVE_DO_NOT_TRACK=1 DVC_NO_ANALYTICS=1

mlgate_src="$(cd "$(dirname "$0")/.." && pwd)"
python_bin="$(dirname "$(command -v mlgate)")/python"
bentoml_bin="$(dirname "$(command -v mlgate)")/bentoml"
sandbox="$(mktemp -d -t mlgate-story-XXXXXX)"
act_root="$sandbox/act"
server_pid="" container=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$container" ]; then docker rm --force "$container" >/dev/null 2>&1 || true; fi
  rm -rf "$sandbox"
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
free_port() { "$python_bin" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
if [ -n "${MLGATE_ENGINE_REGISTRY:-}" ] && docker info >/dev/null 2>&1; then
  engine=yes image="$MLGATE_ENGINE_REGISTRY/acme/shop"
else
  engine=no image="ghcr.io/acme/shop"
fi
image_line() {
  # image_line REF: the image's size and digest, as the engine and the registry report them.
  local bytes
  bytes="$(docker image inspect --format '{{.Size}}' "$1")"
  echo "   image $1: $((bytes / 1000000)) MB, digest $(mlgate image digest "$1")"
}

case "${MLGATE_DEMO_ACT:-auto}" in
  0) mode=direct; why="MLGATE_DEMO_ACT=0" ;;
  1) command -v act >/dev/null || { echo "MLGATE_DEMO_ACT=1, but act is not on PATH" >&2; exit 2; }
     [ "$engine" = yes ] || { echo "MLGATE_DEMO_ACT=1, but no container engine: run it with scripts/engine.sh run" >&2; exit 2; }
     mode=act ;;
  *) if [ "$engine" = no ]; then mode=direct; why="no container engine for the workflows' image steps"
     elif command -v act >/dev/null; then mode=act; else mode=direct; why="act is not installed"; fi ;;
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

build_and_push() {
  # build_and_push FOLDER VERSION SHA_TAG: the image of the bento, pushed; print its digest.
  docker build --quiet --network host --file "$1/env/docker/Dockerfile" --tag "$image:$2" --tag "$image:$3" "$1" >/dev/null
  docker push --quiet "$image:$2" >/dev/null && docker push --quiet "$image:$3" >/dev/null
  mlgate image digest "$image:$2"
}

deploy_direct() {
  local version folder digest
  # The gate's base is main before the push (github.event.before): the merge's first parent, if any.
  step deploy prepare.sh MLGATE_INPUT_IMAGE="$image" MLGATE_INPUT_PR="$1" \
    MLGATE_INPUT_GATE_BASE="$(git rev-parse -q --verify HEAD^1 || true)"
  version="$(output version)" folder="$(output bento-path)"
  echo "   bento $(output bento-tag)"
  if [ "$engine" = yes ]; then
    digest="$(build_and_push "$folder" "$version" "$(output sha-tag)")"
    image_line "$image:$version"
    step deploy smoke.sh MLGATE_IMAGE_REF="$image@$digest" MLGATE_SMOKE_TIMEOUT=120 MLGATE_SMOKE_PORT="$(free_port)"
    sed -n 's/^smoke test: /   smoke test (docker run, read-only root): /p' "$sandbox/step.log" | cut -c1-160
    standin "actions/attest-build-provenance: nothing signed"
  else
    digest="sha256:$(cd "$folder" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)"
    standin "docker/build-push-action: context $folder -> $image:$version, $image:$(output sha-tag), digest ${digest:0:19}…"
    standin "docker run + mlgate smoke (/readyz, /predict), and actions/attest-build-provenance"
  fi
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
  if [ "$engine" = yes ]; then
    echo "   $(mlgate image retag "$image@$digest" --tag production) (version $version, no rebuild)"
  else
    standin "docker buildx imagetools create --tag $image:production $image@${digest:0:19}… (version $version, no rebuild)"
  fi
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
deploy_act() { workflow push; sync; image_line "$image:$(($(mlgate registry next-version) - 1))"; }
move_alias_act() {
  workflow dispatch operation="$1" version="${2#-}" alias=production reason="$3"
  sync
  echo "   $image:production -> $(mlgate image digest "$image:production") (version $(mlgate registry show production --field version))"
}
review_act() { workflow pull-request 1; }

deploy() { "deploy_$mode" "$@"; }
move_alias() { "move_alias_$mode" "$@"; }
review() { "review_$mode"; }

if [ "$mode" = act ]; then
  say "The story runs its workflows under act ($(act --version)); MLGATE_DEMO_ACT=0 runs the mlgate commands directly"
  echo "   Real: the images, built, pushed to the registry at $MLGATE_ENGINE_REGISTRY, run and re-tagged on"
  echo "   the engine at $DOCKER_HOST. Stood in: GitHub itself (bare repositories in the sandbox, through"
  echo "   git's url.insteadOf; act runs each job on this machine), the registry sign-in, build provenance"
  echo "   attestation, the cml comment post (tests/standins/; each call is printed), and the base image's"
  echo "   origin: $(docker image inspect --format '{{index .Config.Labels "dev.mlgate.standin"}}' python:3.11-slim 2>/dev/null || true)"
  mlgate_ref="$(workflow publish)"
  git config --global url."$act_root/github/".insteadOf https://github.com/
  git init --quiet --bare "$act_root/github/acme/shop"
  origin=https://github.com/acme/shop
else
  say "The story runs the mlgate commands directly ($why): the steps of actions/deploy and actions/promote"
  if [ "$engine" = yes ]; then
    echo "   Real: the images, on the engine at $DOCKER_HOST and the registry at $MLGATE_ENGINE_REGISTRY."
    echo "   Stood in: GitHub and the workflows themselves, build provenance attestation, the cml comment post."
  else
    echo "   Stood in: GitHub and the workflows themselves, docker build and push, the docker run smoke test,"
    echo "   build provenance attestation and the cml comment post (no container engine: scripts/engine.sh run)."
  fi
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
printf 'serve:\n  image: %s\n' "$image" | "$python_bin" -c '
import sys, yaml
params = yaml.safe_load(open("params.yaml"))
params.setdefault("serve", {}).update(yaml.safe_load(sys.stdin)["serve"])  # where the images go
yaml.safe_dump(params, open("params.yaml", "w"), sort_keys=False)'

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

production="$(mlgate registry show production --field version)"
if [ "$engine" = yes ]; then
  say "6. Serve the production version from its container, as its Kubernetes manifests do, and query it"
  fields_line="$(mlgate registry show production --field image.name --field image.digest | paste -sd@)"
  image_line "$fields_line"
  port="$(free_port)"
  container="$(docker run --detach --network host --read-only --tmpfs /tmp --cap-drop ALL \
    --env BENTOML_HOST=127.0.0.1 --env "BENTOML_PORT=$port" --env "MLGATE_MODEL_VERSION=$production" "$fields_line")"
  echo "   docker run --read-only --tmpfs /tmp $fields_line on 127.0.0.1:$port"
else
  say "6. Serve the production version (its bento, as the container would) and query it"
  production_bento="$(mlgate registry show production --field bento.tag)"
  port="$(free_port)"
  standin "docker run $image@<production digest>: bentoml serve $production_bento on 127.0.0.1:$port"
  "$bentoml_bin" serve "$production_bento" --host 127.0.0.1 --port "$port" > "$sandbox/serve.log" 2>&1 &
  server_pid=$!
fi
echo "   mlgate smoke: /readyz, then POST /predict with test records, checked against the evaluate stage"
mlgate smoke "http://127.0.0.1:$port" --timeout 120 | cut -c1-160 | sed 's/^/   /' ||
  { [ -n "$container" ] && docker logs "$container" 2>&1 | tail -n 30; [ -f "$sandbox/serve.log" ] && tail -n 30 "$sandbox/serve.log"; exit 1; }
curl -sf -X POST -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$port/metadata" |
  "$python_bin" -c 'import json, sys; m = json.load(sys.stdin); print("   served model version:", m["model_version"])'
mlgate k8s render --alias production --out "$sandbox/k8s" | sed 's/^/   mlgate k8s render: /'
say "Done: the registry history is in git"
git log --format='   %h %an: %s' -8
