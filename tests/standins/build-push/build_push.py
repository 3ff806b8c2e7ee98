"""build-push adapter: `docker build` and `docker push` on the real engine; the registry's digest out.

On GitHub every job has its own engine; here racing deploys share one, so the image is built untagged
(its id from --iidfile), and tagged and pushed under a lock, so that no run pushes another run's image.

With MLGATE_STANDIN_BARRIER=<dir>:<count>, each call first drops a file in <dir> and waits until <count>
calls have, so racing deploys all take their version before any of them pushes its registry commit.
"""

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

BARRIER_TIMEOUT = 240  # seconds; under the act tests' bound, so the barrier's message is what fails
BUILD_TIMEOUT = 1200


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
                f"build-push adapter: only {arrived} of {count} calls reached the barrier {folder} "
                f"in {BARRIER_TIMEOUT} s"
            )
        time.sleep(0.2)
    print(f"build-push adapter: {arrived} of {count} calls reached the barrier {folder}")


def lines(name: str) -> list[str]:
    return [line.strip() for line in os.environ[name].splitlines() if line.strip()]


def docker(*args: str, capture: bool = False) -> str:
    """Run the docker CLI; its output goes to the log unless captured; a failure ends the step."""
    result = subprocess.run(["docker", *args], capture_output=capture, text=True, timeout=BUILD_TIMEOUT)
    if result.returncode != 0:
        sys.exit(
            f"build-push adapter: docker {args[0]} failed (exit {result.returncode}) {result.stderr or ''}"
        )
    return result.stdout or ""


def registry_digest(image_id: str, name: str) -> str:
    """The digest the registry gave the image when it was pushed as `name`, as the engine recorded it."""
    digests = json.loads(
        docker("image", "inspect", "--format", "{{json .RepoDigests}}", image_id, capture=True)
    )
    found = [d.partition("@")[2] for d in digests if d.partition("@")[0] == name]
    if not found:
        sys.exit(f"build-push adapter: the engine has no registry digest for {image_id} as {name}")
    return found[0]


def push(image_id: str, tags: list[str]) -> str:
    """Tag the image and push every tag, holding the engine's lock; the registry's digest."""
    engine = hashlib.sha256(os.environ.get("DOCKER_HOST", "").encode()).hexdigest()[:12]
    with open(f"/tmp/mlgate-build-push-{engine}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for tag in tags:
            docker("tag", image_id, tag)
            docker("push", "--quiet", tag)
        return registry_digest(image_id, tags[0].rpartition(":")[0])


if os.environ.get("MLGATE_STANDIN_BARRIER"):
    wait_at_barrier(os.environ["MLGATE_STANDIN_BARRIER"])

context, dockerfile, tags = os.environ["ADAPTER_CONTEXT"], os.environ["ADAPTER_FILE"], lines("ADAPTER_TAGS")
id_file = Path(os.environ.get("RUNNER_TEMP", "/tmp")) / f"build-push-{uuid.uuid4().hex}.iid"
args = ["build", "--network", "host", "--file", dockerfile, "--iidfile", str(id_file)]
for label in lines("ADAPTER_LABELS"):
    args += ["--label", label]
for build_arg in lines("ADAPTER_BUILD_ARGS"):
    args += ["--build-arg", build_arg]
docker(*args, context)
image_id = id_file.read_text().strip()
digest = push(image_id, tags) if os.environ["ADAPTER_PUSH"] == "true" else ""

calls = Path(os.environ["MLGATE_STANDIN_RECORD"]) / "build-push"
calls.mkdir(parents=True, exist_ok=True)
call = {"context": context, "file": dockerfile, "push": os.environ["ADAPTER_PUSH"], "tags": tags}
call |= {"labels": lines("ADAPTER_LABELS"), "digest": digest, "imageid": image_id}
(calls / f"{len(list(calls.iterdir())) + 1}.json").write_text(json.dumps(call, indent=2))
with open(os.environ["GITHUB_OUTPUT"], "a") as out:
    out.write(f"digest={digest}\nimageid={image_id}\n")
print(f"build-push adapter: {context} -> {image_id}, pushed as {', '.join(tags)} ({digest or 'not pushed'})")
