"""`mlgate k8s render`: Kubernetes manifests that serve one registry version's image, by digest.

A Deployment (probes, resources from serve.resources, a non-root user, a read-only root filesystem with an
emptyDir at /tmp for BentoML's home, its metrics folder and the prediction log), a Service, a
HorizontalPodAutoscaler from serve.autoscaling and a PodDisruptionBudget. `kubectl apply -f <folder>`
takes them as written; docs/serving.md also shows KServe's custom-container InferenceService.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlgate.errors import ConfigError, RegistryError
from mlgate.fsio import atomic_write_text
from mlgate.project import Project
from mlgate.serving import dockerfile
from mlgate.serving.bento import service_name

KUBERNETES_VERSION = "1.33.0"  # the API the manifests are validated against (tests, kubernetes-validate)
SERVICE_PORT = 80
TMP_SIZE = "1Gi"
FILES = ("deployment", "service", "hpa", "pdb")


@dataclass(frozen=True)
class Rendered:
    """The manifests written for one version: where, and for which image."""

    version: int
    image: str
    files: list[str]


def k8s_name(name: str) -> str:
    """A DNS-1123 label (lower-case letters, digits and dashes, at most 63) for the service's objects."""
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].rstrip("-") or "mlgate-model"


def _entry(project: Project, reference: str) -> dict[str, Any]:
    from mlgate.registry.operations import load_registry

    entry = load_registry(project).resolve(reference)
    if entry["status"] != "active":
        raise RegistryError(f"version {entry['version']} is {entry['status']}; render an active version")
    if not (entry.get("image") or {}).get("digest"):
        raise RegistryError(
            f"version {entry['version']} has no image digest in the registry; deploy it first"
        )
    return entry


def _container(image: str, version: int, serve: dict[str, Any]) -> dict[str, Any]:
    """The serving container: probes on BentoML's endpoints, resources, a locked-down security context."""
    env = {"MLGATE_MODEL_VERSION": str(version)}
    env |= {"BENTOML_HOME": dockerfile.BENTOML_HOME, "HOME": dockerfile.BENTOML_HOME}
    env["PROMETHEUS_MULTIPROC_DIR"] = f"{dockerfile.BENTOML_HOME}/prometheus_multiproc_dir"
    if serve["log_predictions"]:
        env["MLGATE_PREDICTION_LOG"] = dockerfile.PREDICTION_LOG
    probe = {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5, "timeoutSeconds": 3}
    resources = {
        kind: {key: value for key, value in serve["resources"][kind].items() if value is not None}
        for kind in ("requests", "limits")
    }
    return {
        "name": "model",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": dockerfile.PORT, "protocol": "TCP"}],
        "env": [{"name": name, "value": value} for name, value in env.items()],
        "startupProbe": {**probe, "failureThreshold": 36},  # up to 3 minutes to load the model
        "readinessProbe": {**probe, "failureThreshold": 3},
        "livenessProbe": {**probe, "httpGet": {"path": "/livez", "port": "http"}, "periodSeconds": 10},
        "resources": {kind: limits for kind, limits in resources.items() if limits},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": dockerfile.WRITABLE}],
    }


def _deployment(
    name: str, labels: dict[str, str], meta: dict[str, Any], pod: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "revisionHistoryLimit": 5,
            "template": {
                "metadata": {"labels": meta["labels"], "annotations": meta["annotations"]},
                "spec": pod,
            },
        },
    }


def _pod(image: str, version: int, serve: dict[str, Any]) -> dict[str, Any]:
    uid = dockerfile.UID
    return {
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": uid,
            "fsGroup": uid,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": 30,
        "containers": [_container(image, version, serve)],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE}}],
    }


def manifests(project: Project, reference: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The registry entry `reference` (a version or an alias) names, and its manifests by file name."""
    entry = _entry(project, reference)
    serve = project.params["serve"]
    name = k8s_name(service_name(serve, project.root))
    image = f"{entry['image']['name']}@{entry['image']['digest']}"
    labels = {"app.kubernetes.io/name": name}
    meta = {
        "name": name,
        "labels": {
            **labels,
            "app.kubernetes.io/version": str(entry["version"]),
            "app.kubernetes.io/managed-by": "mlgate",
        },
        "annotations": {"mlgate.dev/model-sha256": entry["model"]["sha256"], "mlgate.dev/image": image},
    }
    scaling = serve["autoscaling"]
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    cpu = {"type": "Utilization", "averageUtilization": scaling["target_cpu_utilization"]}
    return entry, {
        "deployment": _deployment(name, labels, meta, _pod(image, entry["version"], serve)),
        "service": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": meta["labels"]},
            "spec": {
                "type": "ClusterIP",
                "selector": labels,
                "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
            },
        },
        "hpa": {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "labels": meta["labels"]},
            "spec": {
                "scaleTargetRef": target,
                "minReplicas": scaling["min_replicas"],
                "maxReplicas": scaling["max_replicas"],
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": cpu}}],
            },
        },
        "pdb": {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "labels": meta["labels"]},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}},
        },
    }


class _Dumper(yaml.SafeDumper):
    """Writes a value used twice (the labels) out twice, not as an &anchor and *alias."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def render(project: Project, reference: str, out: Path) -> Rendered:
    """Write the manifests of the version `reference` names into `out`, one file per object."""
    entry, documents = manifests(project, reference)
    files = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            path = out / f"{name}.yaml"
            atomic_write_text(path, yaml.dump(documents[name], Dumper=_Dumper, sort_keys=False))
            files.append(str(path))
    except OSError as exc:
        raise ConfigError(
            f"--out {project.shown(out)}: cannot write the manifests there: {exc.strerror}"
        ) from None
    return Rendered(
        entry["version"], documents["deployment"]["metadata"]["annotations"]["mlgate.dev/image"], files
    )
