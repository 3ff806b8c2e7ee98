#!/usr/bin/env bash
# Deploy steps 8-9: record the version with its image digest, promote it, and push registry.yaml with
# the refreshed dvc.lock. When the branch has moved and another deploy took the version, the change is
# re-applied with the next free version and the same image (by digest) is tagged with it; the taken
# version's tag, which this run's push may have moved, is pointed back at the image the registry holds.
set -euo pipefail
# shellcheck source=registry_commit.sh
source "$(dirname "${BASH_SOURCE[0]}")/registry_commit.sh"
image_version="$MLGATE_VERSION"

recorded_image() {
  # <name>@<digest> of the image the registry records for version $1; empty when it records none.
  fields mlgate registry show "$1" --field image.name --field image.digest
  if [ -n "${FIELDS[0]}" ] && [ -n "${FIELDS[1]:-}" ]; then echo "${FIELDS[0]}@${FIELDS[1]}"; fi
}

apply_change() {
  version="$(mlgate registry next-version)"
  if [ "$version" != "$image_version" ]; then
    echo "::notice title=mlgate deploy::version $image_version was taken meanwhile; tagging the image as $version (it was built as $image_version: a deployment of it sets MLGATE_MODEL_VERSION=$version, as the manifests of mlgate k8s render do)"
    retag_by_digest "$MLGATE_IMAGE" "$MLGATE_DIGEST" "$version"
    taken_by="$(recorded_image "$image_version")"
    if [ -n "$taken_by" ]; then retag_by_digest "${taken_by%@*}" "${taken_by#*@}" "$image_version"; fi
    image_version="$version"
  fi
  local pr=() gate=()
  if [ -n "$MLGATE_PR" ]; then pr=(--pr "$MLGATE_PR"); fi
  if [ -n "${MLGATE_GATE_REPORT:-}" ]; then gate=(--gate-report "$MLGATE_GATE_REPORT"); fi
  if [ -n "${MLGATE_GATE_OVERRIDE:-}" ]; then gate+=(--gate-override "$MLGATE_GATE_OVERRIDE"); fi
  mlgate registry record --version "$version" "${pr[@]}" "${gate[@]}" --image "$MLGATE_IMAGE" --digest "$MLGATE_DIGEST" \
    --bento-tag "$MLGATE_BENTO_TAG" --image-tag "$version" --image-tag "$MLGATE_SHA_TAG" --reason "merged to $MLGATE_BRANCH"
  mlgate registry promote "$version" --to "$MLGATE_ALIAS" --reason "deployed from $MLGATE_BRANCH"
  commit_message="mlgate: deploy version $version to $MLGATE_ALIAS [skip ci]"
}

push_registry_change
echo "version=$version" >> "$GITHUB_OUTPUT"
{
  echo "### mlgate deploy"
  echo ""
  echo "Version **$version** of \`$MLGATE_IMAGE\` (\`$MLGATE_DIGEST\`) is recorded and holds **$MLGATE_ALIAS**."
} >> "$GITHUB_STEP_SUMMARY"
