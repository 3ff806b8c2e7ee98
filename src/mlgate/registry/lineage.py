"""Gather what a new registry entry says about the model from the workspace, git and the environment."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mlgate.errors import ConfigError, GitError, RegistryError
from mlgate.fsio import sha256_file

DVC_LOCK = Path("dvc.lock")
DATA_REPORT = Path("reports/data.json")
METRICS_REPORT = Path("reports/metrics.json")


def now() -> str:
    """The current UTC time, to the second, as the registry writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def git(*args: str, check: bool = True) -> str | None:
    """Run git here; return its stripped stdout, or None when it fails and check is off."""
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        if check:
            raise GitError("git is not installed") from None
        return None
    if result.returncode != 0:
        if check:
            raise GitError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
        return None
    return result.stdout.strip()


def actor() -> str:
    """Who acts: GITHUB_ACTOR in a workflow, else the git user, else the login name."""
    if os.environ.get("GITHUB_ACTOR"):
        return os.environ["GITHUB_ACTOR"]
    name = git("config", "user.name", check=False)
    email = git("config", "user.email", check=False)
    if name and email:
        return f"{name} <{email}>"
    return name or email or getpass.getuser()


def source(pr: int | None, run_url: str | None) -> dict[str, Any]:
    """The commit the model comes from, its pull request, and the workflow run when known."""
    commit = git("rev-parse", "HEAD", check=False) or os.environ.get("GITHUB_SHA") or None
    if run_url is None and os.environ.get("GITHUB_RUN_ID") and os.environ.get("GITHUB_REPOSITORY"):
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        run_url = f"{server}/{os.environ['GITHUB_REPOSITORY']}/actions/runs/{os.environ['GITHUB_RUN_ID']}"
    return {"commit": commit, "pr": pr, "run_url": run_url}


def params_digest(params: dict[str, Any]) -> str:
    """sha256 of params as canonical JSON, so formatting and comments do not change it."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_params_snapshot(params_path: str | Path) -> dict[str, Any]:
    """params.yaml as written (validated first, so a broken file is never recorded)."""
    from mlgate.config import load_params, read_yaml

    load_params(params_path)
    data: dict[str, Any] = read_yaml(params_path).data
    return data


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(f"{path}: {what} not found; run `dvc repro` first") from None
    except (OSError, ValueError) as exc:
        raise RegistryError(f"{path}: unreadable {what}: {exc}") from None
    return data


def dvc_outs(lock_path: Path = DVC_LOCK) -> dict[str, str]:
    """md5 of every output recorded in dvc.lock, by path."""
    if not lock_path.is_file():
        return {}
    try:
        lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{lock_path}: invalid YAML: {exc}") from None
    outs: dict[str, str] = {}
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if out.get("md5"):
                outs[str(out["path"])] = str(out["md5"])
    return dict(sorted(outs.items()))


def lineage(params: dict[str, Any]) -> dict[str, Any]:
    """dvc.lock hash, data hashes, params hash and the pipeline outputs' md5s."""
    data = _read_json(DATA_REPORT, "data report") if DATA_REPORT.is_file() else {}
    return {
        "dvc_lock_sha256": sha256_file(DVC_LOCK) if DVC_LOCK.is_file() else None,
        "params_sha256": params_digest(params),
        "data_hash": data.get("data_hash"),
        "test_hash": data.get("test_hash"),
        "outs": dvc_outs(),
    }


def model_files() -> dict[str, Any]:
    """The model file's path, sha256 and size from the model card, checked against the file when present."""
    from mlgate.modelio import MODEL_CARD, MODEL_FILE, read_card, verify_sha256

    card = read_card(MODEL_CARD)
    if "sha256" not in card:
        raise RegistryError(f"{MODEL_CARD}: the model card has no sha256; rerun the train stage")
    if MODEL_FILE.is_file():
        verify_sha256(MODEL_FILE, card["sha256"], str(MODEL_CARD))
    size = card.get("size")
    if size is None:
        size = MODEL_FILE.stat().st_size if MODEL_FILE.is_file() else 0
    return {
        "path": MODEL_FILE.as_posix(),
        "sha256": card["sha256"],
        "size": int(size),
        "task": card.get("task"),
        "estimator": card.get("estimator"),
    }


def metrics() -> dict[str, Any]:
    """Test-set metrics with their confidence intervals, from reports/metrics.json (slices left out)."""
    report = _read_json(METRICS_REPORT, "metrics report")
    picked: dict[str, Any] = {"n_test": report.get("n_test")}
    for name, value in report.items():
        if isinstance(value, dict) and "value" in value:
            picked[name] = {key: value.get(key) for key in ("value", "ci_low", "ci_high")}
    return picked


def gate_verdict(report_path: str | Path | None) -> dict[str, Any]:
    """The gate's verdict from a JSON report (`passed: bool`, or `verdict`/`status`), else unknown.

    A full `mlgate report` JSON holds the gate under `gate`; a gate-only JSON holds it at the top.
    """
    if report_path is None:
        return {"verdict": "unknown", "report": None}
    report = _read_json(Path(report_path), "gate report")
    if isinstance(report.get("gate"), dict):
        report = report["gate"]
    verdict: Any = report.get("passed")
    if isinstance(verdict, bool):
        verdict = "passed" if verdict else "failed"
    else:
        verdict = str(report.get("verdict") or report.get("status") or "").lower()
    if verdict not in ("passed", "failed"):
        raise RegistryError(
            f"{report_path}: no verdict found; expected `passed: true|false` or `verdict: passed|failed`"
        )
    return {"verdict": verdict, "report": Path(report_path).as_posix()}


def default_model_name() -> str:
    """The repository folder's name made tag-safe, or `model`."""
    top = git("rev-parse", "--show-toplevel", check=False)
    name = Path(top or Path.cwd()).name.lower()
    cleaned = "".join(char if char.isascii() and (char.isalnum() or char == "-") else "-" for char in name)
    cleaned = "-".join(part for part in cleaned.split("-") if part)
    return cleaned or "model"
