"""Hyperparameter sweeps (`model.sweep`): candidates fitted in parallel, ranked on a validation split.

The validation split is carved from the train split, so the test split takes no part in the selection
and the evaluate stage scores only the winner on it. `fit_candidates` is the parallel step: it runs
through `joblib.Parallel`, so a `joblib.parallel_backend(...)` around it chooses where the fits run.
"""

from __future__ import annotations

import inspect
import json
import math
import random
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlgate.datasets.schema import FeatureSchema
from mlgate.errors import ConfigError, DataValidationError
from mlgate.metrics import (
    HIGHER_IS_BETTER,
    Predictions,
    model_outputs,
    percentile_interval,
    point_scores,
    predictions_from_frame,
    primary_metric,
    resample_weights,
    score,
    usable_metrics,
)
from mlgate.progress import step
from mlgate.yamldoc import Problem

FORMAT = "mlgate-sweep/1"
MAX_CANDIDATES = 1000
MAX_RESAMPLES = 200  # evaluate.bootstrap.samples, capped: one CI per candidate must stay cheap


@dataclass(frozen=True)
class Candidate:
    """One point of the sweep: the estimator params it sets, and the unfitted pipeline with them."""

    point: dict[str, Any]
    pipeline: Any


@dataclass(frozen=True)
class Selection:
    """The winner's estimator params, and what reports/sweep.json records of the sweep."""

    params: dict[str, Any]
    record: dict[str, Any]


def grid_size(sweep: dict[str, Any]) -> int:
    """How many combinations the values of `model.sweep.params` make."""
    return math.prod(len(values) for values in sweep["params"].values())


def _point(index: int, grid: dict[str, list[Any]]) -> dict[str, Any]:
    """The grid's combination number `index`, the last param varying fastest (as itertools.product)."""
    picked: dict[str, Any] = {}
    for name, values in reversed(grid.items()):
        index, position = divmod(index, len(values))
        picked[name] = values[position]
    return {name: picked[name] for name in grid}


def sweep_points(sweep: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination of a grid, or `n` distinct ones drawn with `seed`, in grid order."""
    size = grid_size(sweep)
    if sweep["method"] == "grid":
        indices: list[int] = list(range(size))
    else:  # a sample of the indices: the grid itself may be far too large to list
        indices = sorted(random.Random(sweep["seed"]).sample(range(size), sweep["n"]))
    return [_point(index, sweep["params"]) for index in indices]


def sweep_problems(model: dict[str, Any], cls: type) -> list[Problem]:
    """What is wrong with model.sweep, found without fitting: its size, n_jobs, and params `cls` lacks."""
    sweep = model.get("sweep")
    if not sweep:
        return []
    where, size = ("model", "sweep"), grid_size(sweep)
    problems: list[Problem] = []
    if sweep["method"] == "grid" and size > MAX_CANDIDATES:
        why = f"the grid has {size} candidates, more than the limit of {MAX_CANDIDATES}; draw some with"
        problems.append(((*where, "params"), f"{why} `method: random` and `n`"))
    if sweep["method"] == "random" and sweep["n"] > size:
        problems.append(((*where, "n"), f"{sweep['n']} is more than the {size} candidates of the grid"))
    if sweep["n_jobs"] == 0:
        problems.append(((*where, "n_jobs"), "0 fits nothing: give -1 (one per core) or a count"))
    accepted = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        return problems
    known = ", ".join(name for name in accepted if not name.startswith("_"))
    return problems + [
        ((*where, "params", name), f"{cls.__name__} takes no param {name!r} (it takes: {known})")
        for name in sweep["params"]
        if name not in accepted
    ]


def validation_split(
    frame: pd.DataFrame, schema: FeatureSchema, sweep: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The train rows the candidates are fitted on, and the validation rows that rank them (seeded;
    stratified by class for classification)."""
    from sklearn.model_selection import train_test_split

    stratify = frame[schema.target] if schema.task == "classification" else None
    size = sweep["validation_size"]
    try:
        fit_rows, validation = train_test_split(
            frame, test_size=size, random_state=sweep["seed"], stratify=stratify
        )
    except ValueError as exc:
        raise DataValidationError(
            f"params.yaml: model.sweep.validation_size: cannot hold out {size} of the {len(frame)} train "
            f"rows: {exc}"
        ) from None
    return fit_rows.reset_index(drop=True), validation.reset_index(drop=True)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _fit_and_predict(
    candidate: Candidate, fit_rows: pd.DataFrame, validation: pd.DataFrame, schema: FeatureSchema
) -> tuple[list[Any], pd.DataFrame]:
    """Fit one candidate; return its classes and its outputs on the validation rows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            model = candidate.pipeline.fit(fit_rows[schema.features], fit_rows[schema.target])
        except (ValueError, TypeError) as exc:
            shown = json.dumps(candidate.point, default=str)
            raise ConfigError(
                f"params.yaml: model.sweep: the candidate {shown} failed to fit: {exc}"
            ) from None
    classes = [_plain(label) for label in getattr(model, "classes_", [])]
    outputs = model_outputs(model, validation[schema.features], schema.task, classes)
    return classes, pd.DataFrame({"target": validation[schema.target].to_numpy(), **outputs})


def fit_candidates(
    candidates: list[Candidate],
    fit_rows: pd.DataFrame,
    validation: pd.DataFrame,
    schema: FeatureSchema,
    n_jobs: int,
) -> list[tuple[list[Any], pd.DataFrame]]:
    """Fit every candidate on `fit_rows` in parallel (joblib: local processes unless a
    `joblib.parallel_backend` says otherwise); return each one's classes and validation outputs."""
    from joblib import Parallel, delayed

    work = (delayed(_fit_and_predict)(c, fit_rows, validation, schema) for c in candidates)
    return list(Parallel(n_jobs=n_jobs)(work))


def _resampled(metric: str, predictions: list[Predictions], bootstrap: dict[str, Any]) -> np.ndarray:
    """Each candidate's metric on the same bootstrap resamples of the validation rows: candidates × B."""
    samples = min(bootstrap["samples"], MAX_RESAMPLES)
    chunks = [
        np.vstack([score([metric], p, weights)[metric] for p in predictions])
        for weights in resample_weights(predictions[0].rows, samples, bootstrap["seed"])
    ]
    return np.hstack(chunks) if chunks else np.empty((len(predictions), 0))


def _interval(values: np.ndarray, confidence: float) -> list[float] | None:
    return list(percentile_interval(values, confidence)) if values.size else None


def _ranking(values: list[float], higher_is_better: bool) -> list[int]:
    """Candidate indices best first; an undefined value ranks last, a tie goes to the earlier candidate."""
    sign = 1.0 if higher_is_better else -1.0
    return sorted(range(len(values)), key=lambda i: (not math.isfinite(values[i]), -sign * values[i], i))


def ranked_record(
    sweep: dict[str, Any],
    params: dict[str, Any],
    points: list[dict[str, Any]],
    predictions: list[Predictions],
) -> dict[str, Any]:
    """reports/sweep.json: each candidate's validation metric with its CI, the winner and its margin."""
    metric, bootstrap = primary_metric(params), params["evaluate"]["bootstrap"]
    higher, confidence = HIGHER_IS_BETTER[metric], bootstrap["confidence"]
    values = [point_scores([metric], p)[metric] for p in predictions]
    resampled, order = _resampled(metric, predictions, bootstrap), _ranking(values, higher)
    sign, rank = (1.0 if higher else -1.0), {index: place + 1 for place, index in enumerate(order)}
    model_params = params["model"]["params"]
    candidates = [
        {"index": i, "rank": rank[i], "winner": i == order[0], "point": point}
        | {"params": {**model_params, **point}, "value": values[i], "ci": _interval(resampled[i], confidence)}
        for i, point in enumerate(points)
    ]
    margin = None
    if len(order) > 1:
        best, runner_up = order[0], order[1]
        difference = sign * (resampled[best] - resampled[runner_up])
        value = sign * (values[best] - values[runner_up])
        margin = {"runner_up": runner_up, "value": value, "ci": _interval(difference, confidence)}
    return _record(sweep, metric, predictions[0], candidates, margin) | {
        "bootstrap": {"samples": resampled.shape[1], "confidence": confidence, "seed": bootstrap["seed"]},
        "winner": order[0],
    }


def _record(
    sweep: dict[str, Any] | None,
    metric: str | None,
    predictions: Predictions | None,
    candidates: list[dict[str, Any]],
    margin: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "sweep": sweep is not None,
        "method": sweep["method"] if sweep else None,
        "metric": metric,
        "higher_is_better": HIGHER_IS_BETTER[metric] if metric else None,
        "average": predictions.class_average if predictions else None,
        "candidate_count": len(candidates),
        "validation_rows": predictions.rows if predictions else 0,
        "candidates": candidates,
        "margin": margin,
    }


def unswept_record(model: dict[str, Any]) -> dict[str, Any]:
    """reports/sweep.json without model.sweep: the one candidate, model.params, unscored."""
    only = {"index": 0, "rank": 1, "winner": True, "point": {}, "params": model["params"]}
    return _record(None, None, None, [only | {"value": None, "ci": None}], None) | {"winner": 0}


def select(
    params: dict[str, Any],
    frame: pd.DataFrame,
    schema: FeatureSchema,
    build: Callable[[dict[str, Any]], Any],
) -> Selection:
    """Run model.sweep on the train rows `frame`: `build` makes the pipeline of a candidate's estimator
    params. Without a sweep, model.params win unscored."""
    model, sweep = params["model"], params["model"]["sweep"]
    if not sweep:
        return Selection(dict(model["params"]), unswept_record(model))
    fit_rows, validation = validation_split(frame, schema, sweep)
    points = sweep_points(sweep)
    candidates = [Candidate(point, build({**model["params"], **point})) for point in points]
    with step(f"fit {len(candidates)} candidates on {len(fit_rows)} rows, rank on {len(validation)}"):
        outputs = fit_candidates(candidates, fit_rows, validation, schema, sweep["n_jobs"])
    average = params["evaluate"]["average"]
    predictions = [predictions_from_frame(table, schema.task, classes, average) for classes, table in outputs]
    metric = primary_metric(params)
    if not usable_metrics([metric], predictions[0]):
        raise ConfigError(f"params.yaml: model.sweep: ranks by {metric}, which needs predict_proba")
    record = ranked_record(sweep, params, points, predictions)
    return Selection(record["candidates"][record["winner"]]["params"], record)
