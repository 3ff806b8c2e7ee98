"""The library API: what the CLI, the workflows and other programs call.

Every function takes the `Project` it works on (`Project.at(root)`), keyword parameters for the rest,
and returns plain data or a dataclass; none of them prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.project import Project

if TYPE_CHECKING:  # the return types only; each function imports what it runs
    from mlgate.init import InitResult
    from mlgate.registry.document import Registry
    from mlgate.retrain import RetrainResult
    from mlgate.serving.bento import BentoBuild
    from mlgate.serving.image import BuildOptions, ImageBuild
    from mlgate.serving.k8s import Rendered
    from mlgate.serving.smoke import SmokeResult


def validate(project: Project, dvc_path: Path | None = None) -> list[str]:
    """Validate params.yaml and dvc.yaml; refresh .mlgate/version; return notes for the user."""
    from mlgate.validate import validate_project

    return validate_project(project, dvc_path)


def run_stage(project: Project, name: str) -> None:
    """Run one pipeline stage (data, train or evaluate), as dvc.yaml's commands do."""
    from mlgate.stages import run_stage as run

    run(project, name)


def registry_load(project: Project) -> Registry:
    """The project's model registry, validated."""
    from mlgate.registry.operations import load_registry

    return load_registry(project)


def registry_next_version(project: Project) -> int:
    """The version the next `registry_record` will get."""
    from mlgate.registry.operations import next_version

    return next_version(project)


def registry_record(
    project: Project,
    *,
    version: int | None = None,
    pr: int | None = None,
    run_url: str | None = None,
    bento_tag: str | None = None,
    image: str | None = None,
    digest: str | None = None,
    image_tags: tuple[str, ...] = (),
    gate_report: Path | None = None,
    reason: str | None = None,
    tag: bool | None = None,
    gate_override: str | None = None,
) -> dict[str, Any]:
    """Register the workspace's model as a new version; return its registry entry."""
    from mlgate.registry.operations import RecordRequest, record

    request = RecordRequest(
        version, pr, run_url, bento_tag, image, digest, image_tags, gate_report, reason, tag, gate_override
    )
    return record(project, request)


def registry_promote(project: Project, version: int, alias: str, reason: str | None = None) -> dict[str, Any]:
    """Point an alias at a version; return the event."""
    from mlgate.registry.operations import promote

    return promote(project, version, alias, reason)


def registry_rollback(project: Project, alias: str, reason: str | None = None) -> dict[str, Any]:
    """Move an alias back to its previous version; return the event."""
    from mlgate.registry.operations import rollback

    return rollback(project, alias, reason)


def registry_deprecate(project: Project, version: int, reason: str | None = None) -> dict[str, Any]:
    """Retire a version; return the event."""
    from mlgate.registry.operations import deprecate

    return deprecate(project, version, reason)


def registry_verify(project: Project) -> list[str]:
    """Every problem with the registry; empty when it is sound."""
    from mlgate.registry.verify import verify

    return verify(project)


def monitor(
    project: Project, current: str | None = None, alias: str | None = None, out: Path | None = None
) -> dict[str, Any]:
    """Check a production batch against a model version's reference; write monitor.json and monitor.md."""
    from mlgate.monitor.run import run_monitor

    return run_monitor(project, current, alias, out or project.files.monitor)  # the one default


def monitor_exit_code(result: dict[str, Any]) -> int:
    """1 when a monitor result holds an alarm, else 0."""
    from mlgate.monitor.run import exit_code

    return exit_code(result)


def retrain(project: Project, data: str, replace: bool = False, branch: str | None = None) -> RetrainResult:
    """Fold a labelled batch into the DVC-tracked data, reproduce, and commit on a new branch."""
    from mlgate.retrain import retrain as run_retrain

    return run_retrain(project, data, replace=replace, branch=branch)


def materialise_data(project: Project, to: Path | None = None, dvc: bool = True) -> Path:
    """Write a bundled or python: data source to a CSV under data/raw/, DVC-tracked unless `dvc` is False."""
    from mlgate.retrain import materialise_data as write

    return write(project, to=to, dvc_track=dvc)


def build_bento(
    project: Project,
    version: str | None = None,
    registry_sha256: str | None = None,
    lock_packages: bool | None = None,
) -> BentoBuild:
    """Build a self-contained bento of the project's model; return its tag, path, labels and image name."""
    from mlgate.serving import bento

    return bento.build(project, version, registry_sha256, lock_packages)


def containerize(
    project: Project, bento_tag: str, version: str | None = None, options: BuildOptions | None = None
) -> ImageBuild:
    """Build the container image of a bento (its tag or folder) with mlgate's Dockerfile, named by
    serve.image, tagged with the commit and the version; `options` go to `docker build`."""
    from mlgate.serving import image

    return image.containerize(project, bento_tag, version, options or image.BuildOptions())


def k8s_render(project: Project, reference: str, out: Path) -> Rendered:
    """Write the Kubernetes manifests of the registry version `reference` (a number or an alias) names."""
    from mlgate.serving import k8s

    return k8s.render(project, reference, out)


def serve(project: Project, host: str = "127.0.0.1", port: int = 3000) -> int:
    """Serve the project's current model in the foreground; return the server's exit code."""
    from mlgate.serving import bento

    return bento.serve(project, host, port)


def smoke(project: Project, url: str, timeout: float = 120.0, rows: int = 5) -> SmokeResult:
    """Check a running service: ready within `timeout` seconds, and a prediction for `rows` test records."""
    from mlgate.serving.smoke import smoke as check

    return check(project, url, timeout, rows)


def report(project: Project, base: str, reproduce: bool = True) -> dict[str, Any]:
    """Compare the workspace with the base revision; return the report as plain data (`--format json`)."""
    from mlgate.datasets.schema import prepared_columns
    from mlgate.report.build import build_report

    params = project.checked_params(prepared_columns(project.files.test))
    return build_report(project, base, params, reproduce=reproduce)


def render_report(data: dict[str, Any], fmt: str = "md", budget: int = 60_000) -> str:
    """The report as markdown (kept within `budget` characters; 0 for no limit) or JSON."""
    if fmt == "json":
        from mlgate.fsio import dumps_json

        return dumps_json(data)
    from mlgate.report.markdown import render_markdown

    return render_markdown(data, budget)


def write_report(data: dict[str, Any], out: Path, fmt: str = "md", budget: int = 60_000) -> list[Path]:
    """Write the report to `out`; markdown also gets an untruncated `<name>.full.md` beside it."""
    from mlgate.fsio import atomic_write_text

    atomic_write_text(out, render_report(data, fmt, budget))
    if fmt != "md":
        return [out]
    full = out.with_name(f"{out.stem}.full.md")
    atomic_write_text(full, render_report(data, fmt, 0))
    return [out, full]


def read_report(path: Path) -> dict[str, Any]:
    """Load a report written by `mlgate report --format json`; ConfigError when it is not one."""
    import json

    from mlgate.errors import ConfigError
    from mlgate.fsio import shown
    from mlgate.report.build import FORMAT

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{shown(path)}: file not found") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{shown(path)}: cannot read a JSON report: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or "gate" not in data:
        raise ConfigError(f"{shown(path)}: not a report of `mlgate report --format json` ({FORMAT})")
    return data


def init(project: Project, repository: str | None = None, ref: str | None = None) -> InitResult:
    """Adopt mlgate in the git repository holding the project, writing only missing files."""
    from mlgate import init as adopt

    return adopt.init_project(project, repository or adopt.MLGATE_REPOSITORY, ref)


def init_missing(project: Project) -> list[str]:
    """What `mlgate init` would still write in the repository holding the project."""
    from mlgate import init as adopt

    return adopt.missing(project)
