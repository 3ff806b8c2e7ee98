"""build-push stand-in: check the bento context, compute a digest from it, keep the image, record the call.

With MLGATE_STANDIN_BARRIER=<dir>:<count>, each call first drops a file in <dir> and waits until <count>
calls have, so racing deploys all take their version before any of them pushes its registry commit.
"""

import hashlib
import json
import os
import sys
import time
import uuid
from pathlib import Path

BARRIER_TIMEOUT = 240  # seconds; under the act tests' 300 s bound, so the barrier's message is what fails


def wait_at_barrier(spec: str) -> None:
    """Drop this call's file in the barrier folder, then wait (bounded) until `count` calls have."""
    name, _, count_text = spec.rpartition(":")
    folder, count = Path(name), int(count_text)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{os.getpid()}-{uuid.uuid4().hex}").write_text(os.environ.get("GITHUB_SHA", ""))
    deadline = time.monotonic() + BARRIER_TIMEOUT
    while (arrived := len(list(folder.iterdir()))) < count:
        if time.monotonic() > deadline:
            sys.exit(
                f"build-push stand-in: only {arrived} of {count} calls reached the barrier {folder} "
                f"within {BARRIER_TIMEOUT} s"
            )
        time.sleep(0.2)
    print(f"build-push stand-in: {arrived} of {count} calls reached the barrier {folder}")


if os.environ.get("MLGATE_STANDIN_BARRIER"):
    wait_at_barrier(os.environ["MLGATE_STANDIN_BARRIER"])

context = Path(os.environ["STANDIN_CONTEXT"])
dockerfile = Path(os.environ["STANDIN_FILE"])
assert (context / "bento.yaml").is_file(), f"build-push stand-in: {context} is not a bento folder"
assert dockerfile.is_file(), f"build-push stand-in: no Dockerfile at {dockerfile}"
files = sorted(p for p in context.rglob("*") if p.is_file())
content = hashlib.sha256()
for path in files:
    content.update(str(path.relative_to(context)).encode() + b"\0" + path.read_bytes())
digest = f"sha256:{content.hexdigest()}"
tags = [line.strip() for line in os.environ["STANDIN_TAGS"].splitlines() if line.strip()]

registry = Path(os.environ["MLGATE_STANDIN_REGISTRY"])
registry.mkdir(parents=True, exist_ok=True)
(registry / f"{digest}.json").write_text(json.dumps({"context": str(context), "tags": tags}))
for tag in tags:
    (registry / "tags").mkdir(exist_ok=True)
    (registry / "tags" / tag.replace("/", "_")).write_text(digest)

calls = Path(os.environ["MLGATE_STANDIN_RECORD"]) / "build-push"
calls.mkdir(parents=True, exist_ok=True)
call = {
    "context": str(context),
    "file": str(dockerfile),
    "push": os.environ["STANDIN_PUSH"],
    "tags": tags,
    "labels": os.environ["STANDIN_LABELS"].split(),
    "digest": digest,
}
(calls / f"{len(list(calls.iterdir())) + 1}.json").write_text(json.dumps(call, indent=2))
with open(os.environ["GITHUB_OUTPUT"], "a") as out:
    out.write(f"digest={digest}\n")
print(f"build-push stand-in: {context} -> {digest} tagged {', '.join(tags)}")
