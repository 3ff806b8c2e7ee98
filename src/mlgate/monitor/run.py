"""`mlgate monitor`: compare a batch of production data with the reference of one model version."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.errors import EXIT_CHECK_FAILED, EXIT_OK, ConfigError, DataValidationError, ModelIntegrityError
from mlgate.fsio import atomic_write_json, atomic_write_text
from mlgate.layout import LAYOUT
from mlgate.metrics import PROBA_PREFIX, metric_names
from mlgate.monitor.accumulate import CategoricalCounter, NumericCounter, make_counter
from mlgate.monitor.drift import decide, feature_result
from mlgate.monitor.inputs import ColumnTypes, Input, column_names, iter_chunks, resolve_inputs
from mlgate.monitor.performance import (
    PREDICTION,
    ModelPredictor,
    OutputCollector,
    compare_metrics,
    current_metrics,
    load_predictor,
    prediction_counter,
    prediction_profile,
)
from mlgate.monitor.reference import Reference, load_reference
from mlgate.monitor.report import render
from mlgate.project import Project
from mlgate.vcs import pull_missing

# Columns a batch may carry besides the features without being a schema violation.
KNOWN_EXTRA = {"row_id", "prediction_id", "request_id", "id", "timestamp", "model_version", "version"}
PREDICTION_KEY = "(prediction)"
# What a reference can read from the workspace: pulled from the DVC remote when the checkout lacks them.
REFERENCE_FILES = (LAYOUT.profile, LAYOUT.metrics, LAYOUT.predictions, LAYOUT.card, LAYOUT.model)
THRESHOLDS: tuple[str, ...] = ("psi", "p_value", "correction", "null_rate_delta", "unseen_share")
THRESHOLDS += ("min_rows", "max_metric_drop", "metric_floors", "features")


@dataclass
class Batch:
    """What was read from the batch: per-feature counters, model outputs and the schema findings."""

    paths: list[Input]
    counters: dict[str, NumericCounter | CategoricalCounter]
    outputs: OutputCollector
    rows: int
    missing: list[str]
    extra: list[str]


def _column_plan(names: list[str], profile: dict[str, Any]) -> tuple[list[str], list[str], ColumnTypes]:
    """Which features and model-output columns to read from a file, and the CSV types to read them as."""
    features, target = profile["features"], profile["target"]
    present = [f for f in features if f in names]
    outputs = [n for n in names if n in (target, PREDICTION) or n.startswith(PROBA_PREFIX)]
    labels = [n for n in outputs if n in (target, PREDICTION)] if profile["task"] == "classification" else []
    types = ColumnTypes(
        numeric=tuple(f for f in present if features[f]["kind"] == "numeric"),
        text=tuple(f for f in present if features[f]["kind"] == "categorical") + tuple(labels),
    )
    return present, outputs, types


def read_batch(
    paths: list[Input], reference: Reference, chunk_rows: int, predictor: ModelPredictor | None = None
) -> Batch:
    """Read every file in chunks, counting each feature the reference knows; predict labels if asked."""
    profile = reference.profile
    features = profile["features"]
    counters = {name: make_counter(spec) for name, spec in features.items()}
    outputs = OutputCollector(profile["task"], profile["target"])
    missing: set[str] = set()
    extra: set[str] = set()
    rows = 0
    for path in paths:
        names = column_names(path)
        present, wanted, types = _column_plan(names, profile)
        missing |= set(features) - set(present)
        extra |= set(names) - set(features) - set(wanted) - KNOWN_EXTRA
        predict = predictor is not None and PREDICTION not in names and profile["target"] in names
        predict = predict and len(present) == len(features)
        for chunk in iter_chunks(path, present + wanted, chunk_rows, types):
            rows += chunk.num_rows
            for name in present:
                counters[name].add(chunk.column(name))
            if wanted:
                outputs.add(chunk.select(wanted))
            if predict and predictor is not None:
                outputs.add(predictor.outputs(chunk))
    for name in missing:
        counters.pop(name, None)
    return Batch(paths, counters, outputs, rows, sorted(missing), sorted(extra))


def merge_batches(a: Batch, b: Batch) -> Batch:
    """Two files' batches as one: counters and outputs added up, a column missing from either missing."""
    missing = sorted(set(a.missing) | set(b.missing))
    names = [name for name in a.counters.keys() | b.counters.keys() if name not in missing]
    counters = {name: a.counters[name].merge(b.counters[name]) for name in sorted(names)}  # type: ignore[arg-type]
    extra = sorted(set(a.extra) | set(b.extra))
    return Batch(a.paths + b.paths, counters, a.outputs.merge(b.outputs), a.rows + b.rows, missing, extra)


def _read(
    paths: list[Input], reference: Reference, params: dict[str, Any], predictor: ModelPredictor | None
) -> Batch:
    """The batch, read here chunk by chunk, or on the dask engine one file per task on the workers."""
    chunk_rows = params["monitor"]["chunk_rows"]
    if params["compute"]["engine"] != "dask":
        return read_batch(paths, reference, chunk_rows, predictor)
    from mlgate.cluster.engine import dask_engine

    with dask_engine(params["compute"]) as engine:
        return engine.per_file(read_batch, paths, merge_batches, reference, chunk_rows, predictor)


def schema_findings(batch: Batch, settings: dict[str, Any]) -> tuple[dict[str, Any], list[str], list[str]]:
    """Missing columns and unparseable values alarm; extra columns warn (or alarm, or pass, as configured)."""
    wrong = {
        name: c.invalid for name, c in batch.counters.items() if isinstance(c, NumericCounter) and c.invalid
    }
    alarms = [f"missing column(s): {', '.join(batch.missing)}"] if batch.missing and batch.counters else []
    alarms += [f"{name}: {count} value(s) are not numbers" for name, count in wrong.items()]
    warnings: list[str] = []
    if batch.extra and settings["extra_columns"] != "ignore":
        line = f"extra column(s) the model does not read: {', '.join(batch.extra)}"
        (alarms if settings["extra_columns"] == "alarm" else warnings).append(line)
    return {"missing": batch.missing, "extra": batch.extra, "wrong_type": wrong}, alarms, warnings


def run_monitor(project: Project, current: str | None, alias: str | None, out: Path) -> dict[str, Any]:
    """Check a batch against the reference of the version holding `alias`; write monitor.json and .md.

    `current` is a path or glob of CSV, Parquet or JSONL files, or `python:<module>:<function>`;
    None takes `monitor.current` from params.yaml.
    """
    params = project.params
    current = current or params["monitor"]["current"]
    if not current:
        raise ConfigError("no batch to check: give --current, or set monitor.current in params.yaml")
    pulled = pull_missing(project.root, [path.as_posix() for path in REFERENCE_FILES])
    reference = load_reference(project, alias or params["monitor"]["alias"])
    reference.notes += [pulled] if pulled else []
    result = _check_source(project, current, reference, params)
    atomic_write_json(out / "monitor.json", result)
    atomic_write_text(out / "monitor.md", render(result, params["monitor"]["top_features"]))
    return result


def _check_source(
    project: Project, current: str, reference: Reference, params: dict[str, Any]
) -> dict[str, Any]:
    """Check files as they are; a python: loader's DataFrame goes through a temporary Parquet file."""
    if not current.startswith("python:"):
        return check(project, current, reference, params)
    from mlgate.datasets.sources import load_source

    with tempfile.TemporaryDirectory(prefix="mlgate-monitor-") as folder:
        path = Path(folder) / "current.parquet"
        load_source(current, project.root).to_parquet(path, index=False)
        result = check(project, str(path), reference, params)
    result["current"]["paths"] = [current]
    return result


def check(project: Project, current: str, reference: Reference, params: dict[str, Any]) -> dict[str, Any]:
    """The full monitor result: schema, drift per feature, prediction drift and performance."""
    settings = params["monitor"]
    paths = resolve_inputs(current, project.root)
    notes = list(reference.notes)
    predictor = _predictor(project, paths, reference, params, notes)
    batch = _read(paths, reference, params, predictor)
    if batch.rows == 0:
        raise DataValidationError(f"--current {current}: the batch has no rows")
    schema, alarms, warnings = schema_findings(batch, settings)
    result: dict[str, Any] = {
        "reference": _reference_block(reference),
        "current": {
            "paths": [p if isinstance(p, str) else project.shown(p) for p in paths],
            "rows": batch.rows,
        },
        "thresholds": {key: settings[key] for key in THRESHOLDS},
        "schema": schema,
        "features": {},
        "prediction_drift": None,
        "performance": None,
    }
    if not batch.counters:
        notes.append(
            "the batch has no feature columns (a prediction log without inputs? see serve.log_inputs): "
            "only the predictions are checked"
        )
    if batch.rows < settings["min_rows"]:
        notes.append(
            f"only {batch.rows} rows, fewer than monitor.min_rows ({settings['min_rows']}): drift not tested"
        )
    else:
        alarms += _drift(batch, reference, settings, result)
        alarms += _performance(batch, reference, params, result, notes)
    result.update(status=_status(alarms, batch.rows, settings), alarms=alarms, warnings=warnings, notes=notes)
    return result


def _predictor(
    project: Project, paths: list[Input], reference: Reference, params: dict[str, Any], notes: list[str]
) -> ModelPredictor | None:
    """The model, when a batch has labels but no predictions; None (with a note) when it cannot be used."""
    names = column_names(paths[0])
    if reference.profile["target"] not in names or PREDICTION in names:
        return None
    try:
        return load_predictor(project, reference.model_sha256, params["serve"]["trusted_types"])
    except ModelIntegrityError as exc:
        notes.append(f"labels present but the reference model cannot predict them: {exc}")
        return None


def _status(alarms: list[str], rows: int, settings: dict[str, Any]) -> str:
    if alarms:
        return "alarm"
    return "insufficient" if rows < settings["min_rows"] else "healthy"


def exit_code(result: dict[str, Any]) -> int:
    """1 when the monitor raised an alarm, else 0."""
    return EXIT_CHECK_FAILED if result["status"] == "alarm" else EXIT_OK


def _reference_block(reference: Reference) -> dict[str, Any]:
    return {
        "origin": reference.origin,
        "alias": reference.alias,
        "version": reference.version,
        "commit": reference.commit,
        "rows": reference.profile["rows"],
        "describe": reference.describe(),
    }


def _drift(batch: Batch, reference: Reference, settings: dict[str, Any], result: dict[str, Any]) -> list[str]:
    rows = reference.profile["rows"]
    results = {
        name: feature_result(reference.profile["features"][name], counter, rows)
        for name, counter in batch.counters.items()
    }
    predictions = batch.outputs.column(PREDICTION)
    if predictions is not None and reference.predictions is not None:
        task = reference.profile["task"]
        profile = prediction_profile(reference.predictions, task)
        counter = prediction_counter(profile, predictions, task)
        results[PREDICTION_KEY] = feature_result(profile, counter, len(reference.predictions))
    alarms = decide(results, settings)
    result["prediction_drift"] = results.pop(PREDICTION_KEY, None)
    result["features"] = results
    return alarms


def _performance(
    batch: Batch, reference: Reference, params: dict[str, Any], result: dict[str, Any], notes: list[str]
) -> list[str]:
    outputs = batch.outputs
    target = outputs.column(outputs.target)
    if target is None or outputs.column(PREDICTION) is None:
        return []
    classes = (reference.card or {}).get("classes") or list(
        reference.profile["target_profile"].get("counts", {})
    )
    current = current_metrics(outputs, classes, metric_names(params), params["evaluate"])
    table, alarms = compare_metrics(current, reference.metrics, params["monitor"])
    result["performance"] = {"rows": current["rows"], "metrics": table, "average": current["average"]}
    return alarms
