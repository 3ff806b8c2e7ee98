"""Gather what a new registry entry says about the model from the workspace, git and the environment."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlgate.errors import RegistryError
from mlgate.fsio import sha256_file
from mlgate.layout import LAYOUT
from mlgate.modelio import read_card, verify_sha256
from mlgate.project import Project
from mlgate.vcs import DvcLock, git_or_none, head


def now() -> str:
    """The current UTC time, to the second, as the registry writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def actor(project: Project) -> str:
    """Who acts: GITHUB_ACTOR in a workflow, else the git user, else the login name."""
    if os.environ.get("GITHUB_ACTOR"):
        return os.environ["GITHUB_ACTOR"]
    name = git_or_none(project.root, "config", "user.name")
    email = git_or_none(project.root, "config", "user.email")
    if name and email:
        return f"{name} <{email}>"
    return name or email or getpass.getuser()


def source(project: Project, pr: int | None, run_url: str | None) -> dict[str, Any]:
    """The commit the model comes from, its pull request, and the workflow run when known."""
    commit = head(project.root) or os.environ.get("GITHUB_SHA") or None
    if run_url is None and os.environ.get("GITHUB_RUN_ID") and os.environ.get("GITHUB_REPOSITORY"):
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        run_url = f"{server}/{os.environ['GITHUB_REPOSITORY']}/actions/runs/{os.environ['GITHUB_RUN_ID']}"
    return {"commit": commit, "pr": pr, "run_url": run_url}


def params_digest(params: dict[str, Any]) -> str:
    """sha256 of params as canonical JSON, so formatting and comments do not change it."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_json(path: Path, shown: str, what: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(f"{shown}: {what} not found; run `dvc repro` first") from None
    except (OSError, ValueError) as exc:
        raise RegistryError(f"{shown}: unreadable {what}: {exc}") from None
    return data


def dvc_outs(project: Project) -> dict[str, str]:
    """md5 of every output recorded in the workspace's dvc.lock, by path."""
    lock = project.files.dvc_lock
    if not lock.is_file():
        return {}
    outs = DvcLock.parse(lock.read_bytes(), project.shown(lock)).outs()
    return {path: md5 for path, md5 in outs.items() if md5}


def lineage(project: Project, params: dict[str, Any]) -> dict[str, Any]:
    """dvc.lock hash, data hashes, params hash and the pipeline outputs' md5s."""
    files = project.files
    shown = project.shown(files.data_report)
    data = _read_json(files.data_report, shown, "data report") if files.data_report.is_file() else {}
    return {
        "dvc_lock_sha256": sha256_file(files.dvc_lock) if files.dvc_lock.is_file() else None,
        "params_sha256": params_digest(params),
        "data_hash": data.get("data_hash"),
        "test_hash": data.get("test_hash"),
        "outs": dvc_outs(project),
    }


def model_files(project: Project) -> dict[str, Any]:
    """The model file's path, sha256 and size from the model card, checked against the file when present."""
    files = project.files
    card = read_card(files.card)
    if "sha256" not in card:
        raise RegistryError(
            f"{project.shown(files.card)}: the model card has no sha256; rerun the train stage"
        )
    if files.model.is_file():
        verify_sha256(files.model, card["sha256"], project.shown(files.card))
    size = card.get("size")
    if size is None:
        size = files.model.stat().st_size if files.model.is_file() else 0
    return {
        "path": LAYOUT.model.as_posix(),
        "sha256": card["sha256"],
        "size": int(size),
        "task": card.get("task"),
        "estimator": card.get("estimator"),
    }


def metrics(project: Project) -> dict[str, Any]:
    """Test-set metrics with their confidence intervals, from reports/metrics.json (slices left out)."""
    report = _read_json(project.files.metrics, project.shown(project.files.metrics), "metrics report")
    picked: dict[str, Any] = {"n_test": report.get("n_test")}
    for name, value in report.items():
        if isinstance(value, dict) and "value" in value:
            picked[name] = {key: value.get(key) for key in ("value", "ci_low", "ci_high")}
    return picked


def gate_verdict(project: Project, report_path: Path | None, override: str | None = None) -> dict[str, Any]:
    """The gate's verdict from a JSON report (`passed: bool`, or `verdict`/`status`), else unknown; with
    the base it compared with and whose policy judged, from a full `mlgate report` JSON.

    A full `mlgate report` JSON holds the gate under `gate`; a gate-only JSON holds it at the top.
    """
    unknown = {"verdict": "unknown", "report": None, "base": None, "policy_from": None, "override": override}
    if report_path is None:
        return unknown
    shown = project.shown(report_path)
    full = _read_json(project.resolve(report_path), shown, "gate report")
    report = full["gate"] if isinstance(full.get("gate"), dict) else full
    verdict: Any = report.get("passed")
    if isinstance(verdict, bool):
        verdict = "passed" if verdict else "failed"
    else:
        verdict = str(report.get("verdict") or report.get("status") or "").lower()
    if verdict not in ("passed", "failed"):
        raise RegistryError(
            f"{shown}: no verdict found; expected `passed: true|false` or `verdict: passed|failed`"
        )
    base, policy = full.get("base") or {}, full.get("policy") or {}
    return {
        **unknown,
        "verdict": verdict,
        "report": project.relative(report_path),
        "base": base.get("sha") if isinstance(base, dict) else None,
        "policy_from": policy.get("source") if isinstance(policy, dict) else None,
    }


def default_model_name(project: Project) -> str:
    """The repository folder's name made tag-safe, or `model`."""
    top = git_or_none(project.root, "rev-parse", "--show-toplevel")
    name = Path(top or project.root).name.lower()
    cleaned = "".join(char if char.isascii() and (char.isalnum() or char == "-") else "-" for char in name)
    cleaned = "-".join(part for part in cleaned.split("-") if part)
    return cleaned or "model"
