"""Load the checked model once and turn checked records into predictions, metadata and log lines."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlgate import __version__
from mlgate.modelio import load_model
from mlgate.serving.schema import RecordSchema
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


class Predictor:
    """The model, its card and the request schema built from it."""

    def __init__(self, model: Any, card: dict[str, Any], settings: ServingSettings, base: Path) -> None:
        self.card = card
        self.settings = settings
        self.schema = RecordSchema(card["features"], settings.max_batch_size)
        self.preprocess, self.estimator = _split_pipeline(model)
        self.classes = [c.item() if hasattr(c, "item") else c for c in getattr(model, "classes_", [])]
        self.argmax = _predicts_argmax(self.estimator)
        self.version = settings.model_version or f"sha256:{card['sha256'][:12]}"
        self.log_path = base / settings.log_predictions if settings.log_predictions else None
        metrics_file = base / settings.metrics_path
        self.metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}

    @classmethod
    def load(cls, settings: ServingSettings, base: Path) -> Predictor:
        """Check the model file's sha256 and trusted types, then load it; raise ModelIntegrityError otherwise."""
        model, card = load_model(
            base / settings.model_path, base / settings.card_path, settings.trusted_types, settings.registry_sha256
        )
        return cls(model, card, settings, base)

    def frame(self, records: list[dict[str, Any]]) -> pd.DataFrame:
        """Checked records as the DataFrame the model was trained on (one array per column, no copies)."""
        return pd.DataFrame(self.schema.columns(records), copy=False)

    def predict(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Predictions for checked records, one dict per record with its prediction id."""
        features = self.frame(records)
        if self.preprocess is not None:
            features = self.preprocess.transform(features)
        if not self.classes:
            rows = [{"prediction": value} for value in self.estimator.predict(features).tolist()]
        else:
            rows = self._classify(features)
        for row in rows:
            row["prediction_id"] = uuid.uuid4().hex
        if self.log_path is not None:
            self.log(records, rows)
        return rows

    def _classify(self, features: Any) -> list[dict[str, Any]]:
        proba = self.estimator.predict_proba(features)
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
            entry = {"prediction_id": row["prediction_id"], "model_version": self.version, "timestamp": stamp,
                     "output": {key: value for key, value in row.items() if key != "prediction_id"}}
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
        }
