"""The library API: what the CLI, the workflows and other programs call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlgate.stages import run_stage
from mlgate.validate import validate_project


def validate(params_path: str | Path = "params.yaml", dvc_path: str | Path = "dvc.yaml") -> list[str]:
    """Validate params.yaml and dvc.yaml; return notes for the user."""
    return validate_project(params_path, dvc_path)


def _registry_settings(params_path: str | Path, registry_path: str | Path | None) -> Any:
    from mlgate.registry import settings

    return settings(params_path, registry_path)


def registry_load(params_path: str | Path = "params.yaml", registry_path: str | Path | None = None) -> Any:
    """Load the model registry named in params.yaml (or at `registry_path`)."""
    from mlgate.registry import load

    return load(_registry_settings(params_path, registry_path).path)


def registry_next_version(
    params_path: str | Path = "params.yaml", registry_path: str | Path | None = None
) -> int:
    """The version the next `registry_record` will get."""
    from mlgate.registry import next_version

    return next_version(_registry_settings(params_path, registry_path))


def registry_record(
    params_path: str | Path = "params.yaml", registry_path: str | Path | None = None, **request: Any
) -> dict[str, Any]:
    """Register the workspace's model; `request` holds RecordRequest fields (version, pr, image, ...)."""
    from mlgate.registry import RecordRequest, record

    return record(_registry_settings(params_path, registry_path), params_path, RecordRequest(**request))


def registry_promote(
    version: int,
    alias: str,
    reason: str | None = None,
    params_path: str | Path = "params.yaml",
    registry_path: str | Path | None = None,
) -> dict[str, Any]:
    """Point an alias at a version; return the event."""
    from mlgate.registry import promote

    return promote(_registry_settings(params_path, registry_path), version, alias, reason)


def registry_rollback(
    alias: str,
    reason: str | None = None,
    params_path: str | Path = "params.yaml",
    registry_path: str | Path | None = None,
) -> dict[str, Any]:
    """Move an alias back to its previous version; return the event."""
    from mlgate.registry import rollback

    return rollback(_registry_settings(params_path, registry_path), alias, reason)


def registry_deprecate(
    version: int,
    reason: str | None = None,
    params_path: str | Path = "params.yaml",
    registry_path: str | Path | None = None,
) -> dict[str, Any]:
    """Retire a version; return the event."""
    from mlgate.registry import deprecate

    return deprecate(_registry_settings(params_path, registry_path), version, reason)


def registry_verify(
    params_path: str | Path = "params.yaml", registry_path: str | Path | None = None
) -> list[str]:
    """Every problem with the registry; empty when it is sound."""
    from mlgate.registry import verify

    return verify(_registry_settings(params_path, registry_path).path)


def monitor(
    current: str | None = None,
    alias: str | None = None,
    out: str | Path = "reports/monitor",
    params_path: str | Path = "params.yaml",
) -> dict[str, Any]:
    """Check a production batch against a model version's reference; write monitor.json and monitor.md."""
    from mlgate.monitor import run_monitor

    return run_monitor(current, alias=alias, out=out, params_path=params_path)


def monitor_exit_code(result: dict[str, Any]) -> int:
    """1 when a monitor result holds an alarm, else 0."""
    from mlgate.monitor.run import exit_code

    return exit_code(result)


def retrain(
    data: str | Path,
    replace: bool = False,
    params_path: str | Path = "params.yaml",
    branch: str | None = None,
) -> Any:
    """Fold a labelled batch into the DVC-tracked data, reproduce, and commit on a new branch."""
    from mlgate.retrain import retrain as run_retrain

    return run_retrain(data, replace=replace, params_path=params_path, branch=branch)


def materialise_data(
    to: str | Path | None = None, params_path: str | Path = "params.yaml", dvc: bool = True
) -> Path:
    """Write a bundled or python: data source to a CSV under data/raw/, DVC-tracked unless `dvc` is False."""
    from mlgate.retrain import materialise_data as write

    return write(to=to, params_path=params_path, dvc=dvc)


def build_bento(
    params_path: str | Path = "params.yaml",
    version: str | None = None,
    registry_sha256: str | None = None,
    lock_packages: bool | None = None,
) -> dict[str, Any]:
    """Build a self-contained bento of the repository's model; return its tag, path and labels."""
    from mlgate.config import load_params
    from mlgate.serving import bento

    repo = Path(params_path).resolve().parent
    return bento.build(repo, load_params(params_path), version, registry_sha256, lock_packages)


def containerize(
    bento_tag: str, params_path: str | Path = "params.yaml", version: str | None = None
) -> dict[str, Any]:
    """Build the container image of a bento, named by serve.image, tagged with the commit and version."""
    from mlgate.config import load_params
    from mlgate.serving import bento

    repo = Path(params_path).resolve().parent
    return bento.containerize(repo, load_params(params_path), bento_tag, version)


def serve(params_path: str | Path = "params.yaml", host: str = "127.0.0.1", port: int = 3000) -> int:
    """Serve the repository's current model in the foreground; return the server's exit code."""
    from mlgate.config import load_params
    from mlgate.serving import bento

    repo = Path(params_path).resolve().parent
    return bento.serve(repo, load_params(params_path), host, port)


def report(base: str, params_path: str | Path = "params.yaml", reproduce: bool = True) -> dict[str, Any]:
    """Compare the workspace with the base revision; return the report as plain data (`--format json`)."""
    from mlgate.config import load_params
    from mlgate.report.base import repo_root
    from mlgate.report.build import build_report
    from mlgate.report.gate import check_gate_config

    params = load_params(params_path)
    check_gate_config(params, str(params_path))
    root = repo_root(Path(params_path).resolve().parent)
    return build_report(root, base, params, reproduce=reproduce)


def render_report(data: dict[str, Any], fmt: str = "md", budget: int = 60_000) -> str:
    """The report as markdown (kept within `budget` characters; 0 for no limit) or JSON."""
    if fmt == "json":
        from mlgate.fsio import dumps_json

        return dumps_json(data)
    from mlgate.report.markdown import render_markdown

    return render_markdown(data, budget)


def write_report(data: dict[str, Any], out: str | Path, fmt: str = "md", budget: int = 60_000) -> list[Path]:
    """Write the report to `out`; markdown also gets an untruncated `<name>.full.md` beside it."""
    from mlgate.fsio import atomic_write_text

    target = Path(out)
    atomic_write_text(target, render_report(data, fmt, budget))
    if fmt != "md":
        return [target]
    full = target.with_name(f"{target.stem}.full.md")
    atomic_write_text(full, render_report(data, fmt, 0))
    return [target, full]


def read_report(path: str | Path) -> dict[str, Any]:
    """Load a report written by `mlgate report --format json`; ConfigError when it is not one."""
    import json

    from mlgate.errors import ConfigError
    from mlgate.report.build import FORMAT

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read a JSON report: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or "gate" not in data:
        raise ConfigError(f"{path}: not a report of `mlgate report --format json` ({FORMAT})")
    return data


def gate(base: str, params_path: str | Path = "params.yaml", reproduce: bool = True) -> dict[str, Any]:
    """The quality gates' verdict: the same computation, and seed, as the report's headline."""
    return report(base, params_path, reproduce)["gate"]


def init(root: str | Path = ".", repository: str | None = None, ref: str | None = None) -> Any:
    """Adopt mlgate in the git repository at `root`, writing only missing files; return what was done."""
    from mlgate import init as adopt

    return adopt.init_project(Path(root), repository or adopt.MLGATE_REPOSITORY, ref)


def init_missing(root: str | Path = ".") -> list[str]:
    """What `mlgate init` would still write in the repository at `root`."""
    from mlgate import init as adopt

    return adopt.missing(Path(root))


__all__ = [
    "build_bento",
    "containerize",
    "gate",
    "init",
    "init_missing",
    "materialise_data",
    "monitor",
    "monitor_exit_code",
    "read_report",
    "registry_deprecate",
    "registry_load",
    "registry_next_version",
    "registry_promote",
    "registry_record",
    "registry_rollback",
    "registry_verify",
    "render_report",
    "report",
    "retrain",
    "run_stage",
    "serve",
    "validate",
    "write_report",
]
