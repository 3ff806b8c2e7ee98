"""build-push stand-in: check the bento context, compute a digest from it, keep the image, record the call."""

import hashlib
import json
import os
from pathlib import Path

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
