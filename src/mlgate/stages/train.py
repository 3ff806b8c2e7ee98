"""The train stage: build the scikit-learn Pipeline from params.yaml, fit it, save it with skops."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pandas as pd

from mlgate.compute import Engine
from mlgate.datasets.missing import as_model_input
from mlgate.datasets.schema import FeatureSchema
from mlgate.errors import ConfigError
from mlgate.fsio import output_set, sha256_file
from mlgate.modelio import library_versions, save_model
from mlgate.progress import step
from mlgate.project import Project
from mlgate.sweep import select, sweep_problems
from mlgate.yamldoc import Problem


def estimator_class(path: str) -> type:
    """Import an estimator class from its dotted path."""
    module_name, _, class_name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"cannot import {path!r}: {exc}") from None
    if not (inspect.isclass(cls) and hasattr(cls, "fit") and hasattr(cls, "get_params")):
        raise ConfigError(f"{path!r} is not a scikit-learn-compatible estimator class")
    return cls


def estimator_problems(model: dict[str, Any]) -> list[Problem]:
    """What is wrong with model.estimator and model.params, found without fitting: the class imports, takes
    every param, and is a classifier or a regressor as model.task says."""
    try:
        cls = estimator_class(model["estimator"])
    except ConfigError as exc:
        return [(("model", "estimator"), str(exc))]
    accepted = inspect.signature(cls).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        unknown = [name for name in model["params"] if name not in accepted]
        if unknown:
            known = ", ".join(name for name in accepted if not name.startswith("_"))
            return [
                (("model", "params", name), f"{cls.__name__} takes no param {name!r} (it takes: {known})")
                for name in unknown
            ]
    try:
        estimator = cls(**model["params"])
    except (TypeError, ValueError) as exc:
        return [(("model", "params"), f"{cls.__name__}: {exc}")]
    from sklearn.base import is_classifier, is_regressor

    kind = "classifier" if is_classifier(estimator) else "regressor" if is_regressor(estimator) else None
    wanted = {"classification": "classifier", "regression": "regressor"}[model["task"]]
    if kind is not None and kind != wanted:
        return [(("model", "estimator"), f"{cls.__name__} is a {kind}, but model.task is {model['task']}")]
    return sweep_problems(model, cls)


def build_estimator(model: dict[str, Any]) -> Any:
    """Instantiate the estimator with its params, seeding it when it takes `random_state`."""
    cls = estimator_class(model["estimator"])  # validated beforehand: see estimator_problems
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


def fit_error(estimator: str, exc: Exception) -> ConfigError:
    """One line for a failed fit: what to change when the estimator cannot take missing values, else the
    first line of scikit-learn's message."""
    if "contains NaN" in str(exc):
        return ConfigError(
            f"params.yaml: model.preprocessing.numeric_impute: {estimator} cannot take missing values, and "
            "they reach it: set numeric_impute to median or mean, or use an estimator that takes NaN "
            "(HistGradientBoostingClassifier or HistGradientBoostingRegressor)"
        )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ConfigError(f"params.yaml: model: {estimator} failed to fit: {first}")


def model_card(
    pipeline: Any,
    frame: pd.DataFrame,
    schema: FeatureSchema,
    model: dict[str, Any],
    categories: dict[str, list[Any]] | None = None,
) -> dict[str, Any]:
    """Everything needed to serve and audit the model, except the sha256 added after saving."""
    classes = [_plain(c) for c in getattr(pipeline, "classes_", [])]
    return {
        "task": schema.task,
        "target": schema.target,
        "estimator": model["estimator"],
        "params": model["params"],
        "features": [{"name": c, "kind": "numeric", "dtype": str(frame[c].dtype)} for c in schema.numeric]
        + [
            {
                "name": c,
                "kind": "categorical",
                "dtype": "string",
                "categories": categories[c] if categories else sorted(frame[c].dropna().unique().tolist()),
            }
            for c in schema.categorical
        ],
        "classes": classes,
        "train_rows": len(frame),
        "libraries": library_versions(),
    }


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def run(project: Project, params: dict[str, Any], engine: Engine) -> None:
    """Run the train stage."""
    files = project.files
    incremental = hasattr(estimator_class(params["model"]["estimator"]), "partial_fit")
    frame, schema = engine.training_rows(project, params, incremental)
    frame = as_model_input(frame, schema.categorical)
    with engine.parallel():
        chosen = select(
            params, frame, schema, lambda point: build_pipeline({**params["model"], "params": point}, schema)
        )
    model = {**params["model"], "params": chosen.params}
    pipeline = build_pipeline(model, schema)
    estimator = params["model"]["estimator"]
    label = f"fit {estimator} on {len(frame)} rows"
    if incremental and engine.name == "dask":
        label = f"fit {estimator}: preprocessing on {len(frame)} sampled rows, then every partition"
    with step(label):
        try:
            pipeline = engine.fit(pipeline, frame, schema)
        except (ValueError, TypeError) as exc:
            raise fit_error(estimator, exc) from None
    card = model_card(pipeline, frame, schema, model, engine.categories(frame, schema))
    card["fit"] = engine.fit_record(pipeline, frame)
    with output_set() as outputs:
        outputs.add(files.model, lambda temp: save_model(pipeline, temp))
        card.update(
            sha256=sha256_file(outputs.pending_path(files.model)),
            size=outputs.pending_path(files.model).stat().st_size,
        )
        outputs.json(files.card, card)
        outputs.json(files.sweep, chosen.record)
    print(f"train: {estimator} saved to {project.shown(files.model)} (sha256 {card['sha256'][:12]})")
