"""Benchmark: the example's image from mlgate's Dockerfile against BentoML's default, on the same base.

Both are built from the same bento of the trained example with no build cache, on scripts/engine.sh's
engine: `mlgate containerize` (mlgate's Dockerfile) and `bentoml containerize` (BentoML's own template,
which it regenerates from the bento). For each: the build time, the size it adds to the base image, the
time from `docker run` to /readyz, and the first /predict's latency; for mlgate's, the venv's largest
packages. The engine's own start is timed too: cold (the base-image stand-in built with debootstrap) and
warm (loaded from its cache). Prints the ratio of the sizes added (goal: at most 0.6) and rewrites the
"Image" section of docs/benchmarks.md.

Run it as root on a machine that can start the engine: python benchmarks/image.py
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, write_section

BIN = Path(sys.executable).parent
ENGINE = ROOT / "scripts" / "engine.sh"
GOAL = 0.6
READY_SECONDS = 180
PACKAGES_SHOWN = 8


@dataclass(frozen=True)
class Image:
    name: str
    build_seconds: float
    added_mb: float
    ready_seconds: float
    first_predict_ms: float


def run(*args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=3600
    )
    if result.returncode != 0:
        raise SystemExit(f"{args} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def start_engine(cache: Path) -> tuple[Path, float]:
    """Start scripts/engine.sh's own engine with the stand-in cache `cache`; its env file and seconds."""
    env = {key: value for key, value in os.environ.items() if key != "DOCKER_HOST"}
    started = time.perf_counter()
    env_file = Path(run("bash", ENGINE, "start", env={**env, "MLGATE_ENGINE_CACHE": str(cache)}).strip())
    return env_file, time.perf_counter() - started


def engine_timings(cache: Path) -> tuple[Path, float, float]:
    """Cold start (no cached stand-in), then warm start; the warm engine stays up for the builds."""
    cold, cold_seconds = start_engine(cache)
    run("bash", ENGINE, "stop", cold)
    warm, warm_seconds = start_engine(cache)
    return warm, cold_seconds, warm_seconds


def trained_example(folder: Path) -> Path:
    """A clone of this checkout with the example pipeline reproduced."""
    repo = folder / "example"
    run("git", "clone", "--quiet", ROOT, repo)
    run(BIN / "dvc", "repro", "--quiet", cwd=repo)
    return repo


def size_mb(reference: str) -> float:
    return int(run("docker", "image", "inspect", "--format", "{{.Size}}", reference).strip()) / 1e6


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_once(reference: str, record: dict) -> tuple[float, float]:
    """Seconds from `docker run` to /readyz, and the first /predict's milliseconds."""
    port = free_port()
    started = time.perf_counter()
    args = ["docker", "run", "--detach", "--network", "host", "--env", f"BENTOML_PORT={port}", reference]
    container = run(*args).strip()
    try:
        while time.perf_counter() - started < READY_SECONDS:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        ready = time.perf_counter() - started
        body = json.dumps({"records": [record]}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict", data=body, headers={"Content-Type": "application/json"}
        )
        sent = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()
        return ready, (time.perf_counter() - sent) * 1000
    finally:
        run("docker", "rm", "--force", container)


def build(name: str, command: list[str], cwd: Path, reference: str, base_mb: float, record: dict) -> Image:
    started = time.perf_counter()
    run(*command, cwd=cwd)
    seconds = time.perf_counter() - started
    ready, first = serve_once(reference, record)
    return Image(name, seconds, size_mb(reference) - base_mb, ready, first)


def largest_packages(reference: str) -> list[tuple[str, int]]:
    script = "cd /app/.venv/lib/python3*/site-packages && du -sm * | sort -rn | head -n " + str(
        PACKAGES_SHOWN
    )
    listing = run("docker", "run", "--rm", "--entrypoint", "sh", reference, "-c", script)
    return [(name, int(megabytes)) for megabytes, name in (line.split("\t") for line in listing.splitlines())]


def measure(repo: Path) -> tuple[Image, Image, list[tuple[str, int]]]:
    env = {**os.environ, "GITHUB_REPOSITORY": "acme/example"}
    built = json.loads(run(BIN / "mlgate", "build", "--json", cwd=repo, env=env))
    import pandas as pd

    names = [f["name"] for f in json.loads((repo / "models/model.json").read_text())["features"]]
    record = json.loads(
        pd.read_parquet(repo / "data/prepared/test.parquet")[names].head(1).to_json(orient="records")
    )[0]
    base_mb = size_mb("python:3.11-slim")
    run("docker", "builder", "prune", "--all", "--force")
    ours = build(
        "mlgate's Dockerfile (`mlgate containerize`)",
        [
            "docker",
            "build",
            "--no-cache",
            "--network",
            "host",
            "--file",
            f"{built['path']}/env/docker/Dockerfile",
            "--tag",
            "bench/mlgate:1",
            built["path"],
        ],
        repo,
        "bench/mlgate:1",
        base_mb,
        record,
    )
    theirs = build(
        "BentoML's default (`bentoml containerize`)",
        [
            str(BIN / "bentoml"),
            "containerize",
            built["tag"],
            "--backend",
            "docker",
            "--opt",
            "network=host",
            "--opt",
            "no-cache",
            "--image-tag",
            "bench/bentoml:1",
        ],
        repo,
        "bench/bentoml:1",
        base_mb,
        record,
    )
    return ours, theirs, largest_packages("bench/mlgate:1")


def report(ours: Image, theirs: Image, packages: list[tuple[str, int]], cold: float, warm: float) -> None:
    ratio = ours.added_mb / theirs.added_mb
    print(
        f"size added to the base: mlgate {ours.added_mb:.0f} MB, BentoML's default {theirs.added_mb:.0f} MB, "
        f"ratio {ratio:.2f} (goal <= {GOAL})"
    )
    rows = "\n".join(
        f"| {image.name} | {image.added_mb:.0f} | {image.build_seconds:.0f} | {image.ready_seconds:.1f} "
        f"| {image.first_predict_ms:.0f} |"
        for image in (ours, theirs)
    )
    listed = ", ".join(f"{name} {megabytes} MB" for name, megabytes in packages)
    write_section(
        "Image",
        f"""
The example's image from one bento, built with no cache on the engine of `scripts/engine.sh` (Debian's
docker.io 20.10, classic builder, host network), on the same `python:3.11-slim` base (here the engine's
debootstrap stand-in: Debian bookworm's python3 3.11). Time to /readyz is from `docker run`; the first
/predict is one record. Regenerate with `python benchmarks/image.py` (as root).

| image | size added to the base (MB) | build (s) | to /readyz (s) | first /predict (ms) |
|---|---:|---:|---:|---:|
{rows}
| **ratio mlgate / BentoML** | **{ratio:.2f}x** | **{ours.build_seconds / theirs.build_seconds:.2f}x** | | |

Goal: at most {GOAL}x the size BentoML's default adds. BentoML's adds build-essential and curl (apt) and a
venv that keeps the packages' test suites; mlgate's is the venv alone, bytecode compiled, without the test
suites of numpy, scipy, pandas, scikit-learn and pyarrow. The largest packages of mlgate's venv: {listed}.

The engine itself: a cold start (dockerd, the registry, and the base-image stand-in built with debootstrap
and imported) took {cold:.0f} s; a warm one (the stand-in loaded from its cache) {warm:.0f} s.
""",
    )


def main() -> None:
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"  # dvc's stages call mlgate
    os.environ.update(BENTOML_DO_NOT_TRACK="true", ITERATIVE_DO_NOT_TRACK="1", DVC_NO_ANALYTICS="1")
    # Both builds on the engine's classic builder: `bentoml containerize` asks for BuildKit, which needs
    # buildx, and Debian's docker.io has none.
    os.environ["DOCKER_BUILDKIT"] = "0"
    if shutil.which("docker") is None:
        raise SystemExit("the docker CLI is not installed: run `make engine-tools` first")
    with tempfile.TemporaryDirectory(prefix="mlgate-bench-image-") as folder:
        env_file, cold, warm = engine_timings(Path(folder) / "cache")
        try:
            values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
            os.environ["DOCKER_HOST"] = values["DOCKER_HOST"]
            os.environ["BENTOML_HOME"] = str(Path(folder) / "bentoml")
            ours, theirs, packages = measure(trained_example(Path(folder)))
        finally:
            run("bash", ENGINE, "stop", env_file)
    report(ours, theirs, packages, cold, warm)


if __name__ == "__main__":
    main()
