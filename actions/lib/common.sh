#!/usr/bin/env bash
# What every mlgate action script shares: the bot's identity and git with a token that stays in the
# environment. Source it; it defines functions and variables only.

MLGATE_BOT_NAME="${MLGATE_BOT_NAME:-github-actions[bot]}"
MLGATE_BOT_EMAIL="${MLGATE_BOT_EMAIL:-41898282+github-actions[bot]@users.noreply.github.com}"

as_bot() {
  # Run a command (git commit, git commit-tree) with the bot as author and committer.
  GIT_AUTHOR_NAME="$MLGATE_BOT_NAME" GIT_AUTHOR_EMAIL="$MLGATE_BOT_EMAIL" \
    GIT_COMMITTER_NAME="$MLGATE_BOT_NAME" GIT_COMMITTER_EMAIL="$MLGATE_BOT_EMAIL" "$@"
}

git_with_token() {
  # git_with_token TOKEN ARGS...: one git call that authenticates to GitHub with TOKEN. The token travels
  # as an HTTP header in that call's environment, never in argv (visible to every process) or .git/config.
  local token="$1" header
  shift
  if [ -z "$token" ]; then
    git "$@"
    return
  fi
  header="AUTHORIZATION: basic $(printf 'x-access-token:%s' "$token" | base64 | tr -d '\n')"
  echo "::add-mask::$header"
  GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0="http.${GITHUB_SERVER_URL:-https://github.com}/.extraheader" \
    GIT_CONFIG_VALUE_0="$header" git "$@"
}

fields() {
  # fields COMMAND...: run an mlgate command with --field options and read its lines into FIELDS, one
  # element a line; an empty (null) field, the last one too, stays an empty element.
  local output
  output="$("$@" && echo .)" || return  # the dot keeps trailing empty lines from $(...)
  output="${output%.}"
  # shellcheck disable=SC2034  # FIELDS is the answer, read by the caller
  mapfile -t FIELDS <<< "${output%$'\n'}"
}

retag_by_digest() {
  # retag_by_digest IMAGE DIGEST TAG: point IMAGE:TAG at IMAGE@DIGEST, with no rebuild. Buildx, where the
  # runner has it (GitHub's runners do), copies the manifest as it is; elsewhere `mlgate image retag`
  # PUTs the manifest's exact bytes through the registry's API.
  if docker buildx version > /dev/null 2>&1; then
    docker buildx imagetools create --tag "$1:$3" "$1@$2"
  else
    mlgate image retag "$1@$2" --tag "$3"
  fi
}
