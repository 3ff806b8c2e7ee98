#!/usr/bin/env bash
# The container engine for the tests, CI and the demo: a Docker engine, an OCI registry on 127.0.0.1 and
# a python:<version>-slim base image, each with its state in temporary folders.
#
#   scripts/engine.sh install        install Debian's docker.io, docker-registry and debootstrap (as root),
#                                    unless an engine is reachable already
#   scripts/engine.sh start          start what is missing; print the path of an env file to source
#   scripts/engine.sh stop ENV_FILE  stop what `start` started, by PID, and remove its state
#   scripts/engine.sh run CMD...     start, run CMD with the engine's variables exported, stop
#
# An engine that already answers (DOCKER_HOST, or /var/run/docker.sock) is used as it is: on GitHub's
# runners that is Docker CE, where Debian's docker.io would conflict with containerd.io. Otherwise the
# daemon runs as root with its data, exec root, socket and PID file in a temporary folder, never on a
# system-wide socket. The registry is Debian's docker-registry on a free loopback port.
#
# Docker Hub cannot be reached here, so when python:<version>-slim cannot be pulled, a stand-in is made
# with debootstrap (Debian's python3 and pip, the machine's CA certificates) and imported under that name
# into this script's own engine only, labelled dev.mlgate.standin. It is the only stand-in on the
# container path. It is built once and cached as an image archive keyed by its recipe, in
# $MLGATE_ENGINE_CACHE (default ~/.cache/mlgate-engine).
#
# When the engine cannot start, `start` prints one line saying why and exits 3; `run` then exports
# MLGATE_ENGINE_UNAVAILABLE with that line, so tests that need the engine skip (or fail under CI=true).
set -euo pipefail

PYTHON_VERSION="${MLGATE_ENGINE_PYTHON:-3.11}"
BASE_IMAGE="python:$PYTHON_VERSION-slim"
SUITE=bookworm
MIRROR="${MLGATE_ENGINE_MIRROR:-http://deb.debian.org/debian}"
PACKAGES=python3,python3-venv,python3-pip,ca-certificates,passwd
CACHE="${MLGATE_ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlgate-engine}"
START_SECONDS=60

say() { echo "engine: $*" >&2; }
unavailable() {
  say "unavailable: $*"
  if [ -n "${MLGATE_ENGINE_REASON_FILE:-}" ]; then echo "$*" > "$MLGATE_ENGINE_REASON_FILE"; fi
  exit 3
}

reachable() {
  # True when the docker CLI reaches a daemon at $DOCKER_HOST (or its default socket).
  command -v docker > /dev/null && timeout 20 docker info --format '{{.ServerVersion}}' > /dev/null 2>&1
}

existing_engine() {
  # Print the DOCKER_HOST of an engine that already answers, if any.
  if [ -n "${DOCKER_HOST:-}" ] && reachable; then echo "$DOCKER_HOST"; return 0; fi
  if [ -S /var/run/docker.sock ] && DOCKER_HOST=unix:///var/run/docker.sock reachable; then
    echo unix:///var/run/docker.sock
    return 0
  fi
  return 1
}

cmd_install() {
  local need=()
  if ! existing_engine > /dev/null; then
    command -v dockerd > /dev/null || need+=(docker.io)
    command -v debootstrap > /dev/null || need+=(debootstrap)
  fi
  command -v docker-registry > /dev/null || need+=(docker-registry)
  if [ "${#need[@]}" -eq 0 ]; then say "nothing to install"; return 0; fi
  if [ "$(id -u)" -ne 0 ]; then
    say "cannot install ${need[*]}: not root (the container tests will skip)"
    return 0
  fi
  say "installing ${need[*]} from Debian"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" > /dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" > /dev/null; }
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() {
  # wait_for SECONDS WHAT COMMAND...: retry COMMAND once a second until it succeeds.
  local seconds="$1" what="$2" waited=0
  shift 2
  until "$@" > /dev/null 2>&1; do
    waited=$((waited + 1))
    if [ "$waited" -ge "$seconds" ]; then return 1; fi
    sleep 1
  done
  say "$what ready after ${waited}s"
}

start_daemon() {
  local state="$1"
  [ "$(id -u)" -eq 0 ] || unavailable "no Docker engine answers and starting one needs root"
  command -v dockerd > /dev/null || unavailable "no Docker engine answers and dockerd is not installed (scripts/engine.sh install)"
  command -v docker > /dev/null || unavailable "the docker CLI is not installed (scripts/engine.sh install)"
  mkdir -p "$state/data" "$state/exec"
  dockerd --data-root "$state/data" --exec-root "$state/exec" --host "unix://$state/docker.sock" \
    --pidfile "$state/dockerd.pid" --storage-driver=overlay2 --bridge=none --iptables=false \
    > "$state/dockerd.log" 2>&1 &
  export DOCKER_HOST="unix://$state/docker.sock"
  wait_for "$START_SECONDS" "dockerd (pid $!)" reachable \
    || unavailable "dockerd did not answer within ${START_SECONDS}s: $(tail -n 1 "$state/dockerd.log")"
}

start_registry() {
  local state="$1" port
  command -v docker-registry > /dev/null || unavailable "docker-registry is not installed (scripts/engine.sh install)"
  port="$(free_port)"
  mkdir -p "$state/registry"
  cat > "$state/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $state/registry
http:
  addr: 127.0.0.1:$port
EOF
  docker-registry serve "$state/registry.yml" > "$state/registry.log" 2>&1 &
  echo $! > "$state/registry.pid"
  REGISTRY="127.0.0.1:$port"
  wait_for "$START_SECONDS" "registry $REGISTRY (pid $!)" python3 -c \
    "import urllib.request; urllib.request.urlopen('http://$REGISTRY/v2/', timeout=5)" \
    || unavailable "the registry did not answer within ${START_SECONDS}s: $(tail -n 1 "$state/registry.log")"
}

recipe() {
  # Everything the stand-in is made from; its hash names the cached archive.
  printf '%s\n' "debootstrap --variant=minbase --include=$PACKAGES $SUITE" "python $PYTHON_VERSION" \
    "EXTERNALLY-MANAGED removed" "CA: $(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum)"
  declare -f make_standin
}

make_standin() {
  # Build the base-image stand-in with debootstrap and import it as $BASE_IMAGE.
  local state="$1" label="$2" rootfs="$1/rootfs" started=$SECONDS
  command -v debootstrap > /dev/null || unavailable "debootstrap is not installed (scripts/engine.sh install)"
  say "building the $BASE_IMAGE stand-in with debootstrap ($SUITE, minbase; about 2 minutes)"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$MIRROR" > "$state/debootstrap.log" 2>&1 \
    || unavailable "debootstrap failed: $(tail -n 1 "$state/debootstrap.log")"
  rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
  if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  fi
  chroot "$rootfs" update-ca-certificates > /dev/null 2>&1
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  local bundle=/etc/ssl/certs/ca-certificates.crt
  tar -C "$rootfs" -c . | docker import \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV LANG=C.UTF-8 SSL_CERT_FILE=$bundle PIP_CERT=$bundle REQUESTS_CA_BUNDLE=$bundle UV_NATIVE_TLS=1" \
    --change "LABEL dev.mlgate.standin=\"$label\"" \
    --change 'CMD ["python3"]' - "$BASE_IMAGE" > /dev/null
  rm -rf "$rootfs"
  say "stand-in built in $((SECONDS - started))s"
}

ensure_base_image() {
  # python:<version>-slim in the engine: present, pulled, or (own engine only) the cached or new stand-in.
  local state="$1" own="$2" key archive label
  if docker image inspect "$BASE_IMAGE" > /dev/null 2>&1; then return 0; fi
  if [ "$own" = no ]; then
    timeout 300 docker pull --quiet "$BASE_IMAGE" > /dev/null 2>&1 && return 0
    unavailable "$BASE_IMAGE cannot be pulled into the existing engine"
  fi
  key="$(recipe | sha256sum | cut -c1-16)"
  archive="$CACHE/base-$key.tar"
  label="stand-in for $BASE_IMAGE: Debian $SUITE python3 by debootstrap, recipe $key (scripts/engine.sh)"
  if [ -f "$archive" ]; then
    docker load --quiet --input "$archive" > /dev/null
    say "$BASE_IMAGE stand-in loaded from $archive"
    return 0
  fi
  make_standin "$state" "$label"
  mkdir -p "$CACHE"
  docker save --output "$archive.partial" "$BASE_IMAGE" && mv "$archive.partial" "$archive"
}

cmd_start() {
  local state own=no host
  state="$(mktemp -d /tmp/mlgate-engine.XXXXXX)"  # short: the daemon's socket paths must fit in 108 bytes
  trap 'cmd_stop "$state/env" 2> /dev/null' EXIT  # a start that fails half-way stops what it started
  if host="$(existing_engine)"; then
    export DOCKER_HOST="$host"
    say "using the engine at $DOCKER_HOST"
  else
    start_daemon "$state"
    own=yes
  fi
  start_registry "$state"
  ensure_base_image "$state" "$own"
  cat > "$state/env" <<EOF
DOCKER_HOST=$DOCKER_HOST
MLGATE_ENGINE_REGISTRY=$REGISTRY
MLGATE_ENGINE_BASE_IMAGE=$BASE_IMAGE
EOF
  trap - EXIT
  echo "$state/env"
}

stop_pid() {
  # stop_pid FILE NAME: SIGTERM the PID in FILE, wait up to 30 s, then SIGKILL.
  local file="$1" name="$2" pid waited=0
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  kill "$pid" 2> /dev/null || return 0
  while kill -0 "$pid" 2> /dev/null && [ "$waited" -lt 30 ]; do sleep 1; waited=$((waited + 1)); done
  if kill -0 "$pid" 2> /dev/null; then kill -9 "$pid" 2> /dev/null || true; fi
  say "stopped $name (pid $pid)"
}

cmd_stop() {
  local env_file="${1:?usage: $0 stop ENV_FILE}" state
  state="$(dirname "$env_file")"
  [[ "$state" == /tmp/mlgate-engine.* ]] || { say "refusing to stop: $state is not an engine state folder"; exit 2; }
  stop_pid "$state/registry.pid" registry
  stop_pid "$state/dockerd.pid" dockerd
  # Mounts the daemon left behind go before its folder does.
  awk -v state="$state/" 'index($2, state) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r umount -l
  rm -rf "$state"
}

cmd_run() {
  # Start the engine (or note why it is unavailable), run the command with its variables, then stop it.
  local out reason status=0
  out="$(mktemp)" reason="$(mktemp)"
  if MLGATE_ENGINE_REASON_FILE="$reason" bash "${BASH_SOURCE[0]}" start > "$out"; then
    ENGINE_ENV_FILE="$(cat "$out")"
    set -a
    # shellcheck disable=SC1090  # written by cmd_start
    source "$ENGINE_ENV_FILE"
    set +a
    trap 'cmd_stop "$ENGINE_ENV_FILE"' EXIT
  else
    MLGATE_ENGINE_UNAVAILABLE="$(cat "$reason")"
    export MLGATE_ENGINE_UNAVAILABLE
  fi
  rm -f "$out" "$reason"
  "$@" || status=$?
  return "$status"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) shift; cmd_stop "$@" ;;
  run) shift; cmd_run "$@" ;;
  *) echo "usage: $0 install | start | stop ENV_FILE | run CMD..." >&2; exit 2 ;;
esac
