"""The train stage: build the scikit-learn Pipeline from params.yaml, fit it, save it with skops."""

from __future__ import annotations

import importlib
import inspect
import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from mlgate.datasets.schema import FeatureSchema
from mlgate.errors import ConfigError, DataValidationError
from mlgate.fsio import output_set, sha256_file
from mlgate.modelio import MODEL_CARD, MODEL_FILE, library_versions, save_model
from mlgate.progress import step
from mlgate.stages.data import SCHEMA_FILE, TRAIN_FILE


def estimator_class(path: str) -> type:
    """Import an estimator class from its dotted path."""
    module_name, _, class_name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"params.yaml: model.estimator: cannot import {path!r}: {exc}") from None
    if not (inspect.isclass(cls) and hasattr(cls, "fit") and hasattr(cls, "get_params")):
        raise ConfigError(
            f"params.yaml: model.estimator: {path!r} is not a scikit-learn-compatible estimator class"
        )
    return cls


def build_estimator(model: dict[str, Any]) -> Any:
    """Instantiate the estimator with its params, seeding it when it takes `random_state`."""
    cls = estimator_class(model["estimator"])
    params = dict(model["params"])
    if "random_state" not in params and "random_state" in _init_params(cls):
        params["random_state"] = model["seed"]
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigError(f"params.yaml: model.params: {model['estimator']}: {exc}") from None


def _init_params(cls: type) -> set[str]:
    return set(inspect.signature(cls).parameters)


def build_pipeline(model: dict[str, Any], schema: FeatureSchema) -> Any:
    """The ColumnTransformer (impute, scale, encode) followed by the estimator."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    prep = model["preprocessing"]
    numeric_steps: list[tuple[str, Any]] = []
    if prep["numeric_impute"] != "none":
        numeric_steps.append(("impute", SimpleImputer(strategy=prep["numeric_impute"])))
    if prep["scale"]:
        numeric_steps.append(("scale", StandardScaler()))
    encoder = (
        OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        if prep["categorical_encoding"] == "onehot"
        else OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
    )
    categorical_steps = [("impute", SimpleImputer(strategy="most_frequent")), ("encode", encoder)]
    transformers = []
    if schema.numeric:
        transformers.append(
            ("numeric", Pipeline(numeric_steps) if numeric_steps else "passthrough", list(schema.numeric))
        )
    if schema.categorical:
        transformers.append(("categorical", Pipeline(categorical_steps), list(schema.categorical)))
    columns = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    return Pipeline([("preprocess", columns), ("estimator", build_estimator(model))])


def read_prepared(path: Path) -> tuple[pd.DataFrame, FeatureSchema]:
    """Read a prepared split and the feature schema the data stage wrote."""
    if not path.is_file() or not SCHEMA_FILE.is_file():
        raise DataValidationError(f"{path}: not found; run the data stage first (`dvc repro data`)")
    schema = FeatureSchema.from_dict(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
    return pd.read_parquet(path), schema


def categorical_features(frame: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """Categorical columns as strings, so the model sees the same type in training and serving."""
    if not schema.categorical:
        return frame
    converted = {
        c: frame[c].astype("string").astype(object).where(frame[c].notna(), None) for c in schema.categorical
    }
    return frame.assign(**converted)


def model_card(
    pipeline: Any, frame: pd.DataFrame, schema: FeatureSchema, model: dict[str, Any]
) -> dict[str, Any]:
    """Everything needed to serve and audit the model, except the sha256 added after saving."""
    classes = [_plain(c) for c in getattr(pipeline, "classes_", [])]
    return {
        "task": schema.task,
        "target": schema.target,
        "estimator": model["estimator"],
        "features": [{"name": c, "kind": "numeric", "dtype": str(frame[c].dtype)} for c in schema.numeric]
        + [
            {
                "name": c,
                "kind": "categorical",
                "dtype": "string",
                "categories": sorted(frame[c].dropna().unique().tolist()),
            }
            for c in schema.categorical
        ],
        "classes": classes,
        "train_rows": len(frame),
        "libraries": library_versions(),
    }


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def run(params: dict[str, Any]) -> None:
    """Run the train stage."""
    frame, schema = read_prepared(TRAIN_FILE)
    frame = categorical_features(frame, schema)
    pipeline = build_pipeline(params["model"], schema)
    with step(f"fit {params['model']['estimator']} on {len(frame)} rows"), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            pipeline.fit(frame[schema.features], frame[schema.target])
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"params.yaml: model: {params['model']['estimator']} failed to fit: {exc}"
            ) from None
    card = model_card(pipeline, frame, schema, params["model"])
    with output_set() as outputs:
        outputs.add(MODEL_FILE, lambda temp: save_model(pipeline, temp))
        card.update(
            sha256=sha256_file(outputs.pending_path(MODEL_FILE)),
            size=outputs.pending_path(MODEL_FILE).stat().st_size,
        )
        outputs.json(MODEL_CARD, card)
    print(f"train: {params['model']['estimator']} saved to {MODEL_FILE} (sha256 {card['sha256'][:12]})")
