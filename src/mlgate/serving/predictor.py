"""Load the checked model once and turn checked records into predictions, metadata and log lines."""

from __future__ import annotations

import gc
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlgate import __version__
from mlgate.datasets.missing import MISSING
from mlgate.modelio import load_model
from mlgate.serving import fastpath
from mlgate.serving.schema import NUMBER_LIMIT, CheckedRecords, RecordSchema
from mlgate.serving.settings import ServingSettings


def _split_pipeline(model: Any) -> tuple[Any, Any]:
    """(preprocessing, estimator) of a scikit-learn Pipeline, so preprocessing runs once per batch."""
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline) and len(model.steps) > 1:
        return model[:-1], model.steps[-1][1]
    return None, model


def _predicts_argmax(estimator: Any) -> bool:
    """True when `predict` is by definition the class of highest probability, so one call gives both."""
    from sklearn.ensemble._forest import ForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    return isinstance(estimator, ForestClassifier | DecisionTreeClassifier)


def input_limits(preprocess: Any, features: list[dict[str, Any]]) -> dict[str, float]:
    """Largest power of ten per numeric feature whose preprocessed value stays within NUMBER_LIMIT.

    Found by probing the preprocessing with ±1, ±10, ... ±1e38 once at start-up, so the request check can
    turn away values the estimator would fail on (e.g. 1e38 scaled by a tiny standard deviation).
    """
    numeric = [f["name"] for f in features if f["kind"] == "numeric"]
    if preprocess is None or not numeric:
        return {}
    names_out = _names_out(preprocess)
    limits = dict.fromkeys(numeric, 0.0)
    open_names = set(numeric)

    def bounded(output: np.ndarray) -> np.ndarray:
        return np.abs(output) <= NUMBER_LIMIT

    for exponent in range(39):
        magnitude = 10.0**exponent
        within = _probe(preprocess, features, [magnitude, -magnitude], bounded)
        if within is None:
            break
        for name in list(open_names):
            if _feature_passes(within, names_out, name):
                limits[name] = magnitude
            else:
                open_names.discard(name)
    return {name: limit or 1.0 for name, limit in limits.items()}


def nullable_inputs(preprocess: Any, estimator: Any, features: list[dict[str, Any]]) -> frozenset[str]:
    """The features a request may send as null: those the trained pipeline handles when missing.

    That is a numeric feature the preprocessing imputes or the estimator takes as NaN itself (such as
    HistGradientBoosting with `numeric_impute: none`), and a categorical one the imputer fills in. Found by
    probing the whole pipeline once at start-up: all features missing at once, else one at a time.
    """
    names = [feature["name"] for feature in features]
    if _handles_missing(preprocess, estimator, features, names):
        return frozenset(names)
    return frozenset(name for name in names if _handles_missing(preprocess, estimator, features, [name]))


def _valid_record(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        f["name"]: (0.0 if f["kind"] == "numeric" else (f.get("categories") or [""])[0]) for f in features
    }


def _handles_missing(
    preprocess: Any, estimator: Any, features: list[dict[str, Any]], missing: list[str]
) -> bool:
    """Whether the pipeline predicts a finite answer for a record whose `missing` features are missing."""
    record = {**_valid_record(features), **dict.fromkeys(missing, MISSING)}
    probe = pd.DataFrame([record])
    try:
        inputs = probe if preprocess is None else preprocess.transform(probe)
        answer = (
            estimator.predict_proba(inputs)
            if hasattr(estimator, "predict_proba")
            else estimator.predict(inputs)
        )
    except (ValueError, TypeError, AttributeError):  # scikit-learn refuses NaN with a ValueError
        return False
    values = np.asarray(answer)
    return not np.issubdtype(values.dtype, np.number) or bool(np.isfinite(values).all())


def _probe(
    preprocess: Any, features: list[dict[str, Any]], values: list[float], passes: Callable[[Any], Any]
) -> np.ndarray | None:
    """Per output column, whether `passes` holds for every probe record (every numeric feature set to one
    of `values`, the rest valid); None when the preprocessing refuses the probe."""
    numeric = [f["name"] for f in features if f["kind"] == "numeric"]
    probe = pd.DataFrame([{**_valid_record(features), **dict.fromkeys(numeric, value)} for value in values])
    try:
        output = np.asarray(preprocess.transform(probe), dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return None
    return np.asarray(np.all(passes(output), axis=0))


def _feature_passes(columns: np.ndarray, names_out: list[str], name: str) -> bool:
    """The probe's verdict for one input feature: its output column's, or all columns' when unnamed."""
    return bool(columns[names_out.index(name)] if name in names_out else columns.all())


def _names_out(preprocess: Any) -> list[str]:
    try:
        return [str(name) for name in preprocess.get_feature_names_out()]
    except (AttributeError, ValueError):
        return []


def probe_columns(
    features: list[dict[str, Any]], nullable: frozenset[str] = frozenset(), rows: int = 64
) -> dict[str, np.ndarray]:
    """Seeded, varied feature columns to prove the fast paths against scikit-learn; NaNs where nullable."""
    rng = np.random.default_rng(0)
    columns: dict[str, np.ndarray] = {}
    for feature in features:
        if feature["kind"] == "numeric":
            columns[feature["name"]] = rng.normal(size=rows) * 10.0 ** rng.uniform(-3, 3, size=rows)
            if feature["name"] in nullable:
                columns[feature["name"]][::5] = np.nan
        else:
            options = feature.get("categories") or [""]
            columns[feature["name"]] = np.array(
                [options[i % len(options)] for i in range(rows)], dtype=object
            )
    return columns


def settle_garbage_collector() -> None:
    """Freeze everything alive now (the model, the libraries) out of the garbage collector's walks.

    Those objects live as long as the process. Left in, every full collection walks them all, and large
    concurrent requests trigger full collections often, which shows in the tail latency (docs/serving.md).
    """
    gc.collect()
    gc.freeze()


def prediction_ids(count: int) -> list[str]:
    """`count` random 128-bit ids as 32 hex digits, from one read of the system's random source."""
    digits = os.urandom(16 * count).hex()
    return [digits[start : start + 32] for start in range(0, 32 * count, 32)]


class Predictor:
    """The model, its card and the request schema built from it."""

    def __init__(self, model: Any, card: dict[str, Any], settings: ServingSettings, base: Path) -> None:
        self.card = card
        self.settings = settings
        self.preprocess, self.estimator = _split_pipeline(model)
        limits = input_limits(self.preprocess, card["features"])
        nullable = nullable_inputs(self.preprocess, self.estimator, card["features"])
        self.schema = RecordSchema(card["features"], settings.max_batch_size, limits, nullable)
        self.classes = [c.item() if hasattr(c, "item") else c for c in getattr(model, "classes_", [])]
        self.argmax = _predicts_argmax(self.estimator)
        self.version = settings.served_version(card["sha256"])
        self.log_path = settings.prediction_log(base)
        metrics_file = base / settings.metrics_path
        self.metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
        self.fast_paths = self._choose_paths()

    def _slow_transform(self, columns: dict[str, np.ndarray]) -> Any:
        frame = pd.DataFrame(columns, copy=False)
        return frame if self.preprocess is None else self.preprocess.transform(frame)

    def _choose_paths(self) -> dict[str, bool]:
        """Use each fast path only when it reproduces scikit-learn exactly on probe data."""
        probe = probe_columns(self.card["features"], self.schema.nullable)
        fast = fastpath.numeric_transform(self.preprocess, self.schema.numeric)
        fast_transform = fast is not None and fastpath.proven(
            fast, self._slow_transform, np.column_stack([probe[name] for name in self.schema.numeric]), probe
        )
        self.transform: Callable[[CheckedRecords], Any] = (
            (lambda batch: fast(batch.numbers))
            if fast is not None and fast_transform
            else (lambda batch: self._slow_transform(self.schema.columns(batch)))
        )
        self.proba: Callable[[Any], Any] | None = getattr(self.estimator, "predict_proba", None)
        fast_proba = False
        if self.classes and self.proba is not None:
            features = self._slow_transform(probe)
            fast_forest = fastpath.forest_proba(self.estimator)
            fast_proba = fastpath.proven(fast_forest, self.proba, features, features)
            self.proba = fast_forest if fast_forest is not None and fast_proba else self.proba
        return {"transform": fast_transform, "predict_proba": fast_proba}

    @classmethod
    def load(cls, settings: ServingSettings, base: Path) -> Predictor:
        """Check the model file's sha256 and trusted types, then load it (else ModelIntegrityError)."""
        model, card = load_model(
            base / settings.model_path,
            base / settings.card_path,
            settings.trusted_types,
            settings.registry_sha256,
        )
        return cls(model, card, settings, base)

    def predict(self, batch: CheckedRecords) -> list[dict[str, Any]]:
        """Predictions for checked records, one dict per record with its prediction id."""
        features = self.transform(batch)
        if self.classes and self.proba is not None:
            rows = self._classify(features, self.proba)
        else:
            rows = [{"prediction": value} for value in self.estimator.predict(features).tolist()]
        for row, prediction_id in zip(rows, prediction_ids(len(rows)), strict=True):
            row["prediction_id"] = prediction_id
        if self.log_path is not None:
            self.log(batch.records, rows)
        return rows

    def _classify(self, features: Any, predict_proba: Callable[[Any], Any]) -> list[dict[str, Any]]:
        proba = predict_proba(features)
        if self.argmax:
            labels = np.take(np.asarray(self.classes, dtype=object), np.argmax(proba, axis=1)).tolist()
        else:
            labels = [c.item() if hasattr(c, "item") else c for c in self.estimator.predict(features)]
        names = [str(c) for c in self.classes]
        return [
            {"prediction": label, "probabilities": dict(zip(names, row, strict=True))}
            for label, row in zip(labels, proba.tolist(), strict=True)
        ]

    def log(self, records: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
        """Append one JSONL line per prediction; raw inputs only when serve.log_inputs is on."""
        assert self.log_path is not None
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"
        lines = []
        for record, row in zip(records, rows, strict=True):
            entry = {
                "prediction_id": row["prediction_id"],
                "model_version": self.version,
                "timestamp": stamp,
                "output": {key: value for key, value in row.items() if key != "prediction_id"},
            }
            if self.settings.log_inputs:
                entry["input"] = record
            lines.append(json.dumps(entry, separators=(",", ":")) + "\n")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # One write per batch on an O_APPEND file keeps lines of concurrent workers whole.
        with open(self.log_path, "a", encoding="utf-8") as handle:
            handle.write("".join(lines))

    def metadata(self) -> dict[str, Any]:
        """What /metadata answers: version, commit, metrics, features and the request schema."""
        card = self.card
        return {
            "name": self.settings.name,
            "model_version": self.version,
            "git_commit": self.settings.git_commit,
            "model_sha256": card["sha256"],
            "mlgate_version": __version__,
            "task": card["task"],
            "target": card["target"],
            "estimator": card["estimator"],
            "classes": self.classes,
            "features": card["features"],
            "request_schema": self.schema.json_schema(),
            "max_batch_size": self.settings.max_batch_size,
            "metrics": self.metrics,
            "libraries": card.get("libraries", {}),
            "fast_paths": self.fast_paths,
        }
