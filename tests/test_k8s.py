"""`mlgate k8s render` on a small registry: the four manifests, valid for the pinned Kubernetes API, with
the version's image by digest, serve.resources and serve.autoscaling; clear errors for what cannot render.
tests/test_container.py runs the real image as the rendered Deployment runs it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

import test_registry
from mlgate.serving import k8s
from mlgate.serving.settings import ServingSettings
from test_registry import Result

model_repo, cli = test_registry.model_repo, test_registry.cli  # the fixtures, shared
DIGEST = "sha256:" + "c" * 64
IMAGE = "ghcr.io/acme/demo-model"


@pytest.fixture
def repo(model_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tests/test_registry.py's small repository with fake model outputs; the test runs inside it."""
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    return model_repo


def record(cli: Callable[..., Result], *extra: str) -> None:
    assert cli("registry", "record", "--image", IMAGE, "--digest", DIGEST, "--no-tag", *extra).returncode == 0


def render(cli: Callable[..., Result], *args: str) -> Result:
    return cli("k8s", "render", *args)


def test_render_writes_four_valid_manifests_for_an_alias(
    repo: Path,
    cli: Callable[..., Result],
) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["serve"].update(
        log_predictions="predictions.jsonl",
        resources={"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "2"}},
        autoscaling={"min_replicas": 3, "max_replicas": 9, "target_cpu_utilization": 60},
    )
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    record(cli)
    assert cli("registry", "promote", "1", "--to", "production").returncode == 0
    result = render(cli, "--alias", "production", "--out", "deploy")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"version 1: {IMAGE}@{DIGEST}"
    documents = {path.stem: yaml.safe_load(path.read_text()) for path in (repo / "deploy").glob("*.yaml")}
    assert set(documents) == {"deployment", "service", "hpa", "pdb"}
    for document in documents.values():
        kubernetes_validate.validate(document, k8s.KUBERNETES_VERSION, strict=True)
    pod = documents["deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == f"{IMAGE}@{DIGEST}"
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "2", "memory": "1Gi"},
    }
    env = {variable["name"]: variable["value"] for variable in container["env"]}
    assert env["MLGATE_MODEL_VERSION"] == "1" and env["MLGATE_PREDICTION_LOG"].startswith("/tmp/")
    assert env["BENTOML_HOME"].startswith("/tmp/") and env["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")
    assert pod["securityContext"]["runAsUser"] == 1034 and pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}]
    assert (documents["hpa"]["spec"]["minReplicas"], documents["hpa"]["spec"]["maxReplicas"]) == (3, 9)
    name = documents["deployment"]["metadata"]["name"]
    assert name == "demo-model" and documents["service"]["spec"]["selector"] == {
        "app.kubernetes.io/name": name
    }
    assert documents["pdb"]["spec"]["maxUnavailable"] == 1


def test_render_refuses_what_it_cannot_serve(repo: Path, cli: Callable[..., Result]) -> None:
    assert cli("registry", "record", "--no-tag").returncode == 0  # no image
    result = render(cli, "--version", "1")
    assert (
        result.returncode == 2
        and "version 1 has no image digest in the registry; deploy it first" in result.stderr
    )
    result = render(cli, "--alias", "production")
    assert result.returncode == 2 and "no version or alias 'production'" in result.stderr
    record(cli)
    assert cli("registry", "deprecate", "2", "--reason", "bad").returncode == 0
    result = render(cli, "--version", "2")
    assert result.returncode == 2 and "version 2 is deprecated" in result.stderr
    assert not (repo / "k8s").exists()


def test_render_names_an_out_path_it_cannot_write(repo: Path, cli: Callable[..., Result]) -> None:
    record(cli)
    result = render(cli, "--version", "1", "--out", "params.yaml")
    assert result.returncode == 2 and "--out params.yaml: cannot write the manifests there" in result.stderr
    assert render(cli, "--version", "1").returncode == 0
    assert "&id" not in (repo / "k8s" / "deployment.yaml").read_text()  # no YAML anchors


def test_autoscaling_bounds_are_checked(repo: Path, cli: Callable[..., Result]) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["serve"]["autoscaling"] = {"min_replicas": 5, "max_replicas": 2}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = cli("validate")
    assert (
        result.returncode == 2
        and "serve.autoscaling.max_replicas: is below min_replicas (5)" in result.stderr
    )


@pytest.mark.parametrize(("name", "expected"), [("Shop.Model_v2", "shop-model-v2"), ("__", "mlgate-model")])
def test_object_names_are_dns_labels(name: str, expected: str) -> None:
    assert k8s.k8s_name(name) == expected and len(k8s.k8s_name("a" * 80)) == 63


def test_the_deployment_s_version_wins_over_the_built_one(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ServingSettings(name="m", model_version="2")
    assert settings.served_version("ab" * 32) == "2"
    monkeypatch.setenv("MLGATE_MODEL_VERSION", "3")
    assert settings.served_version("ab" * 32) == "3"
    monkeypatch.setenv("MLGATE_MODEL_VERSION", "3\n<b>")
    with pytest.raises(Exception, match="MLGATE_MODEL_VERSION"):
        settings.served_version("ab" * 32)
    monkeypatch.delenv("MLGATE_MODEL_VERSION")
    assert ServingSettings(name="m").served_version("ab" * 32) == "sha256:" + "ab" * 6
    assert os.environ.get("MLGATE_MODEL_VERSION") is None
