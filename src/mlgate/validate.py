"""`mlgate validate`: params.yaml against its schema, and dvc.yaml consistent with it."""

from __future__ import annotations

import glob
import shlex
from pathlib import Path
from typing import Any

from mlgate.datasets.sources import is_url
from mlgate.errors import ConfigError
from mlgate.layout import LAYOUT
from mlgate.project import Project
from mlgate.yamldoc import YamlDocument, dotted_get, read_yaml

ABSENT = object()  # what dotted_get answers for a key params.yaml does not set
SWEEP_RANKING = ("evaluate.primary", "evaluate.average", "evaluate.bootstrap")  # what ranks model.sweep


def _param_keys(entry: Any, params_file: str) -> list[str]:
    """The params.yaml keys one `params:` entry of a stage names."""
    if isinstance(entry, str):
        return [entry]
    if isinstance(entry, dict):
        return [
            key
            for file, keys in entry.items()
            if Path(file).name == Path(params_file).name
            for key in keys or []
        ]
    return []


def _command(stage: dict[str, Any]) -> list[str]:
    cmd = stage.get("cmd", "")
    first = cmd[0] if isinstance(cmd, list) and cmd else cmd
    try:
        return shlex.split(str(first))[:3]
    except ValueError:
        return []


def _stage_problems(
    dvc: YamlDocument, name: str, stage: Any, raw_params: dict[str, Any], params_file: str
) -> list[str]:
    if not isinstance(stage, dict):
        return [str(dvc.error(("stages", name), "expected a mapping with cmd, deps, params, outs"))]
    problems = []
    command = _command(stage)
    if command[:1] != ["mlgate"]:
        problems.append(str(dvc.error(("stages", name, "cmd"), "every stage must call an mlgate command")))
    for index, entry in enumerate(stage.get("params") or []):
        for key in _param_keys(entry, params_file):
            if dotted_get(raw_params, key, ABSENT) is ABSENT:
                where = ("stages", name, "params", index)
                problems.append(str(dvc.error(where, f"{key!r} is not set in {params_file}")))
    return problems


def _source_problems(dvc: YamlDocument, stages: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """A file source must be a dependency of the data stage, or DVC will not notice it change."""
    source = params["data"]["source"]
    if source.startswith(("sklearn:", "python:")) or is_url(source):
        return []  # an s3:// source is DVC's to track only as an external dependency (docs/scaling.md)
    wanted = source_dependency(source)
    for name, stage in stages.items():
        if isinstance(stage, dict) and _command(stage)[:3] == ["mlgate", "stage", "data"]:
            deps = {str(d).rstrip("/") for d in stage.get("deps") or []}
            if wanted not in deps:
                shown = f"data.source {source!r}" + (f" (its folder {wanted!r})" if wanted != source else "")
                return [str(dvc.error(("stages", name, "deps"), f"{shown} must be listed in deps"))]
    return []


def source_dependency(source: str) -> str:
    """What the data stage must depend on for DVC to see a source change: the file or folder, or for a
    glob the folder before its first wildcard."""
    if not glob.has_magic(source):
        return source.rstrip("/")
    fixed = []
    for part in Path(source).parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed).as_posix() if fixed else "."


def _source_exists(project: Project, params: dict[str, Any], produced: set[str]) -> None:
    """A file source must exist, be DVC-tracked, or be an output of a stage, so that DVC brings it."""
    source = source_dependency(params["data"]["source"])
    if params["data"]["source"].startswith(("sklearn:", "python:")) or is_url(source):
        return
    if project.resolve(source).exists():
        return
    if project.resolve(f"{source}.dvc").exists() or source in produced or source in _lock_outs(project):
        return
    raise project.document().error(
        ("data", "source"),
        f"{source}: file not found in {project.root}, not DVC-tracked ({source}.dvc), "
        "and no stage of dvc.yaml outputs it",
    )


def _lock_outs(project: Project) -> dict[str, str]:
    from mlgate.vcs import DvcLock

    lock = project.files.dvc_lock
    return DvcLock.parse(lock.read_bytes(), project.shown(lock)).outs() if lock.is_file() else {}


def validate_project(project: Project, dvc_path: Path | None = None) -> list[str]:
    """Check params.yaml (against its source's columns too) and dvc.yaml; refresh .mlgate/version."""
    from mlgate.stages.train import estimator_problems  # here: it imports scikit-learn

    params = project.params_against_source()
    project.document().raise_problems(estimator_problems(params["model"]))
    notes = [f"{project.shown(project.params_file)}: valid"]
    dvc_file = dvc_path or project.files.dvc_yaml
    produced: set[str] = set()
    if dvc_file.exists():
        produced = _check_dvc(project, dvc_file, params)
        notes.append(f"{project.shown(dvc_file)}: consistent with {project.shown(project.params_file)}")
    if project.registry_file.is_file():
        from mlgate.registry.document import load

        load(project.registry_file, project.shown(project.registry_file))
        notes.append(f"{project.shown(project.registry_file)}: valid")
    _source_exists(project, params, produced)
    if project.refresh_version():
        notes.append(".mlgate/version: updated to the running mlgate (stages will re-run)")
    return notes


def _check_dvc(project: Project, dvc_file: Path, params: dict[str, Any]) -> set[str]:
    """Every stage of dvc.yaml consistent with params.yaml; the paths its stages output."""
    dvc = read_yaml(dvc_file, project.shown(dvc_file))
    stages = (dvc.data or {}).get("stages") if isinstance(dvc.data, dict) else None
    if not isinstance(stages, dict) or not stages:
        raise dvc.error(("stages",), "expected a mapping of stages")
    raw = read_yaml(project.params_file, project.shown(project.params_file)).data
    problems = [
        p
        for name, stage in stages.items()
        for p in _stage_problems(dvc, name, stage, raw, project.params_file.name)
    ]
    problems += _source_problems(dvc, stages, params)
    if params["model"]["sweep"]:
        problems += _sweep_problems(dvc, stages, raw, project.params_file.name)
    if problems:
        raise ConfigError("\n".join(problems))
    return {path for stage in stages.values() if isinstance(stage, dict) for path in _out_paths(stage)}


def _out_paths(stage: dict[str, Any]) -> list[str]:
    return [str(next(iter(out)) if isinstance(out, dict) and out else out) for out in stage.get("outs") or []]


def _sweep_problems(dvc: YamlDocument, stages: dict[str, Any], raw: Any, params_file: str) -> list[str]:
    """A sweep's train stage outputs reports/sweep.json and re-runs when what ranks its candidates changes."""
    problems = []
    for name, stage in stages.items():
        if not (isinstance(stage, dict) and _command(stage)[:3] == ["mlgate", "stage", "train"]):
            continue
        if LAYOUT.sweep.as_posix() not in _out_paths(stage):
            problems.append(
                str(dvc.error(("stages", name, "outs"), f"model.sweep writes {LAYOUT.sweep}: list it"))
            )
        listed = [key for entry in stage.get("params") or [] for key in _param_keys(entry, params_file)]
        unlisted = [
            key
            for key in SWEEP_RANKING
            if dotted_get(raw, key, ABSENT) is not ABSENT
            and not any(key == entry or key.startswith(f"{entry}.") for entry in listed)
        ]
        if unlisted:
            why = f"model.sweep ranks its candidates by {', '.join(unlisted)}: list them, so that DVC re-runs"
            problems.append(str(dvc.error(("stages", name, "params"), f"{why} train when they change")))
    return problems
