"""The example's image on a real Docker engine: built by `mlgate containerize`, pushed to a real registry,
re-tagged by digest, run as its Kubernetes Deployment runs it (read-only root, a writable /tmp, user 1034,
no capabilities), and checked against the in-process pipeline. The engine is scripts/engine.sh's; its
base image is the one stand-in left on this path (Docker Hub cannot be reached here).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pandas as pd
import pytest
import yaml

from conftest import BIN, EXAMPLE_REPOSITORY, mlgate, run
from engine import Engine, post, wait_ready
from mlgate.modelio import load_model
from mlgate.serving import dockerfile, k8s

pytestmark = pytest.mark.slow
PARITY_TOLERANCE = 1e-9  # probabilities from the container against the in-process pipeline, absolute
PARITY_ROWS = 40
HEALTH_SECONDS = 60
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Pushed:
    """The example image in the registry: its name there, the version tag, and the registry's digest."""

    name: str
    digest: str

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.digest}"


@pytest.fixture(scope="module")
def pushed(engine: Engine, example_image: dict[str, Any]) -> Pushed:
    name = f"{engine.registry}/{EXAMPLE_REPOSITORY}"
    engine.docker("tag", example_image["tags"][-1], f"{name}:7")
    engine.docker("push", "--quiet", f"{name}:7", timeout=900)
    repo_digest = engine.docker("image", "inspect", "--format", "{{index .RepoDigests 0}}", f"{name}:7")
    return Pushed(name, repo_digest.stdout.strip().partition("@")[2])


@pytest.fixture(scope="module")
def manifests(serving_repo: Path, pushed: Pushed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Kubernetes manifests `mlgate k8s render` writes for version 7 (the bento's), recorded with the
    pushed image."""
    work = tmp_path_factory.mktemp("k8s")
    registry = work / "registry.yaml"
    record = ["registry", "record", "--registry", registry, "--image", pushed.name, "--digest", pushed.digest]
    mlgate(*record, "--version", "7", "--image-tag", "7", "--no-tag", cwd=serving_repo, check=True)
    mlgate(
        "k8s",
        "render",
        "--version",
        "7",
        "--registry",
        registry,
        "--out",
        work / "out",
        cwd=serving_repo,
        check=True,
    )
    return work / "out"


def deployment_container(manifests: Path) -> dict[str, Any]:
    deployment = yaml.safe_load((manifests / "deployment.yaml").read_text())
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


@dataclass(frozen=True)
class Running:
    container: str
    url: str
    ready_seconds: float


def run_like_the_deployment(engine: Engine, manifests: Path, *extra: str) -> tuple[str, int]:
    """`docker run` of the Deployment's image with its env, user and locks: read-only root, a tmpfs at
    /tmp, no capabilities, no privilege escalation; on the host network at a free port."""
    spec = deployment_container(manifests)
    port = free_port()
    args = ["run", "--detach", "--network", "host", "--read-only", "--tmpfs", "/tmp:rw,size=512m"]
    args += ["--user", f"{dockerfile.UID}:{dockerfile.UID}", "--cap-drop", "ALL"]
    args += [
        "--security-opt",
        "no-new-privileges",
        "--health-interval",
        "2s",
        "--env",
        f"BENTOML_PORT={port}",
    ]
    for variable in spec["env"]:
        args += ["--env", f"{variable['name']}={variable['value']}"]
    started = engine.docker(*args, *extra, spec["image"])
    return started.stdout.strip(), port


@pytest.fixture(scope="module")
def running(engine: Engine, manifests: Path) -> Iterator[Running]:
    container, port = run_like_the_deployment(engine, manifests)
    url = f"http://127.0.0.1:{port}"
    try:
        yield Running(container, url, wait_ready(engine, container, url))
    finally:
        engine.docker("rm", "--force", container, check=False)


def test_containerize_builds_a_labelled_image_with_no_compilers(
    engine: Engine, example_image: dict[str, Any], example_bento: dict[str, Any], serving_repo: Path
) -> None:
    head = run("git", "rev-parse", "HEAD", cwd=serving_repo).stdout.strip()
    assert example_image["tags"] == [
        f"ghcr.io/{EXAMPLE_REPOSITORY}:{head[:12]}",
        f"ghcr.io/{EXAMPLE_REPOSITORY}:7",
    ]
    config = json.loads(
        engine.docker("image", "inspect", "--format", "{{json .Config}}", example_image["id"]).stdout
    )
    card = json.loads((serving_repo / "models/model.json").read_text())
    assert {
        key: config["Labels"].get(key)
        for key in (
            "org.opencontainers.image.revision",
            "org.opencontainers.image.version",
            "org.opencontainers.image.source",
            dockerfile.MODEL_SHA256_LABEL,
        )
    } == {
        "org.opencontainers.image.revision": head,
        "org.opencontainers.image.version": "7",
        "org.opencontainers.image.source": f"https://github.com/{EXAMPLE_REPOSITORY}",
        dockerfile.MODEL_SHA256_LABEL: card["sha256"],
    }
    assert config["User"] == "1034:1034" and "/readyz" in " ".join(config["Healthcheck"]["Test"])
    # No compilers, no curl, no package caches, no Dask (the pipeline's extra): only the venv and the bento.
    found = engine.docker(
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        example_image["id"],
        "-c",
        "for t in gcc cc make curl uv; do command -v $t; done; "
        "ls -d /root/.cache /app/.venv/bin/pip /tmp/* /app/.venv/lib/python3*/site-packages/dask* "
        "/app/.venv/lib/python3*/site-packages/distributed 2>/dev/null; "
        "find /app/.venv -maxdepth 4 -name tests -path '*site-packages/numpy*'; true",
    )
    assert found.stdout.strip() == "", found.stdout
    dockerfile_text = (Path(example_bento["path"]) / "env/docker/Dockerfile").read_text()
    assert (
        dockerfile_text.startswith("# Written by `mlgate build`") and "build-essential" not in dockerfile_text
    )


def test_the_container_answers_like_the_in_process_pipeline(running: Running, serving_repo: Path) -> None:
    model, card = load_model(serving_repo / "models/model.skops", serving_repo / "models/model.json")
    names = [feature["name"] for feature in card["features"]]
    frame = pd.read_parquet(serving_repo / "data/prepared/test.parquet")[names].head(PARITY_ROWS)
    records = json.loads(frame.to_json(orient="records"))
    status, answer = post(f"{running.url}/predict", {"records": records})
    assert status == 200, answer
    assert isinstance(answer, list)
    assert [row["prediction"] for row in answer] == model.predict(frame).tolist()
    for row, expected in zip(answer, model.predict_proba(frame).tolist(), strict=True):
        assert list(row["probabilities"].values()) == pytest.approx(expected, abs=PARITY_TOLERANCE)
    status, refused = post(f"{running.url}/predict", {"records": [{**records[0], "colour": 1}]})
    assert status == 400 and "records[0].colour: unknown field" in json.dumps(refused)


def test_the_container_reports_its_version_and_model_and_logs_under_tmp(
    engine: Engine, running: Running, serving_repo: Path
) -> None:
    status, meta = post(f"{running.url}/metadata", {})
    card = json.loads((serving_repo / "models/model.json").read_text())
    assert status == 200 and isinstance(meta, dict)
    assert (meta["model_version"], meta["model_sha256"]) == ("7", card["sha256"])
    log = engine.docker("exec", running.container, "cat", dockerfile.PREDICTION_LOG).stdout.splitlines()
    assert log and json.loads(log[-1])["model_version"] == "7"
    assert engine.docker("exec", running.container, "id", "-u").stdout.strip() == str(dockerfile.UID)
    with urllib.request.urlopen(f"{running.url}/livez", timeout=10) as live:  # the liveness probe's path
        assert live.status == 200
    deadline = time.monotonic() + HEALTH_SECONDS
    health = ""
    while time.monotonic() < deadline and health != "healthy":
        health = engine.docker(
            "inspect", "--format", "{{.State.Health.Status}}", running.container
        ).stdout.strip()
        time.sleep(1)
    assert health == "healthy"


def test_a_tampered_model_is_refused_inside_the_container(
    engine: Engine, manifests: Path, example_bento: dict[str, Any], tmp_path: Path
) -> None:
    tampered = tmp_path / "model.skops"
    shutil.copy(Path(example_bento["path"]) / "src/models/model.skops", tampered)
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    tampered.chmod(0o644)
    target = f"{dockerfile.BENTO_PATH}/src/models/model.skops"
    container, _ = run_like_the_deployment(engine, manifests, "--volume", f"{tampered}:{target}:ro")
    try:
        code = engine.docker("wait", container, timeout=120).stdout.strip()
        logs = engine.docker("logs", container)
    finally:
        engine.docker("rm", "--force", container, check=False)
    assert code != "0"
    assert (
        "refusing to start the service" in logs.stdout + logs.stderr and "sha256" in logs.stdout + logs.stderr
    )


def registry_manifest(engine: Engine, repository: str, reference: str) -> bytes:
    request = urllib.request.Request(
        f"http://{engine.registry}/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        body: bytes = answer.read()
    return body


def test_retag_by_digest_puts_the_exact_manifest_bytes(
    engine: Engine, pushed: Pushed, serving_repo: Path
) -> None:
    digest = mlgate("image", "digest", f"{pushed.name}:7", cwd=serving_repo, check=True).stdout.strip()
    assert digest == pushed.digest
    retag = mlgate(
        "image", "retag", pushed.ref, "--tag", "production", "--json", cwd=serving_repo, check=True
    )
    assert json.loads(retag.stdout) == {"image": pushed.name, "tag": "production", "digest": pushed.digest}
    original = registry_manifest(engine, EXAMPLE_REPOSITORY, pushed.digest)
    assert registry_manifest(engine, EXAMPLE_REPOSITORY, "production") == original
    assert f"sha256:{hashlib.sha256(original).hexdigest()}" == pushed.digest
    missing = mlgate("image", "retag", f"{pushed.name}@sha256:{'0' * 64}", "--tag", "x", cwd=serving_repo)
    assert missing.returncode == 1 and "404" in missing.stderr and "Traceback" not in missing.stderr


def test_k8s_manifests_validate_and_name_the_image_by_digest(manifests: Path, pushed: Pushed) -> None:
    kinds = {}
    for path in sorted(manifests.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        kubernetes_validate.validate(document, k8s.KUBERNETES_VERSION, strict=True)
        kinds[document["kind"]] = document
    assert set(kinds) == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == pushed.ref
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert kinds["HorizontalPodAutoscaler"]["spec"]["minReplicas"] == 2


def test_bentoml_can_write_its_own_dockerfile_for_the_bento(
    example_bento: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bentoml containerize` regenerates BentoML's Dockerfile (its default, larger image) from the bento;
    with a dockerfile_template that step failed outside the bento's folder (BentoML issue 5566)."""
    import bentoml
    from bentoml._internal.container import construct_containerfile

    bento = bentoml.get(example_bento["tag"])
    monkeypatch.chdir(BIN)  # anywhere but the bento's folder
    with construct_containerfile(bento, enable_buildkit=False) as (_, path):
        assert "FROM python:3.11-slim" in Path(path).read_text()


def test_mlgate_smoke_checks_the_container_against_the_evaluate_stage(
    running: Running, serving_repo: Path, tmp_path: Path
) -> None:
    passed = mlgate("smoke", running.url, cwd=serving_repo, check=True).stdout
    assert "smoke test: /readyz ok" in passed and "5 answer(s) equal the evaluate stage's" in passed
    copy = tmp_path / "copy"
    shutil.copytree(serving_repo, copy, symlinks=True)
    predictions = copy / "reports/predictions.parquet"
    frame = pd.read_parquet(predictions)
    frame.loc[0, "proba_0"] = frame.loc[0, "proba_0"] + 0.01
    predictions.unlink()
    frame.to_parquet(predictions, index=False)
    failed = mlgate("smoke", running.url, cwd=copy)
    assert failed.returncode == 1 and "record 0: p(0) is" in failed.stderr
    assert "Traceback" not in failed.stderr
    card = json.loads((copy / "models/model.json").read_text())
    (copy / "models/model.json").unlink()
    (copy / "models/model.json").write_text(json.dumps({**card, "sha256": "0" * 64}))
    other = mlgate("smoke", running.url, cwd=copy, check=True).stdout
    assert "parity not checked: the service's model" in other
