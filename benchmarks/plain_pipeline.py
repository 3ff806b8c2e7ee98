"""The baseline for benchmarks/pipeline.py: the same work as mlgate's stages, as a plain script.

Same split, estimator and params, metrics, bootstrap count, permutation-importance sample, and a
skops save; written the way a plain scikit-learn script does it (a loop over resamples).
Usage: python plain_pipeline.py DATA.parquet OUTDIR BOOTSTRAP_SAMPLES
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
from benchmark_data import ESTIMATOR_PARAMS
from sklearn import metrics
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def main(data_path: str, out: str, samples: int) -> None:
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    frame = pd.read_parquet(data_path)
    train, test = train_test_split(frame, test_size=0.2, random_state=42, stratify=frame["target"])
    categorical = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in frame.columns if c not in categorical and c != "target"]
    pre = ColumnTransformer(
        [
            (
                "numeric",
                Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
                numeric,
            ),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                categorical,
            ),
        ]
    )
    model = Pipeline([("preprocess", pre), ("estimator", HistGradientBoostingClassifier(**ESTIMATOR_PARAMS))])
    features = numeric + categorical
    model.fit(train[features], train["target"])
    sio.dump(model, outdir / "model.skops")
    y, proba = test["target"].to_numpy(), model.predict_proba(test[features])
    pred = model.classes_[proba.argmax(axis=1)]
    scorers = {
        "accuracy": lambda y, p, q: metrics.accuracy_score(y, p),
        "precision": lambda y, p, q: metrics.precision_score(y, p),
        "recall": lambda y, p, q: metrics.recall_score(y, p),
        "f1": lambda y, p, q: metrics.f1_score(y, p),
        "roc_auc": lambda y, p, q: metrics.roc_auc_score(y, q[:, 1]),
        "log_loss": lambda y, p, q: metrics.log_loss(y, q, labels=[0, 1]),
    }
    result = {name: {"value": f(y, pred, proba)} for name, f in scorers.items()}
    rng = np.random.default_rng(0)
    draws: dict[str, list[float]] = {name: [] for name in scorers}
    for _ in range(samples):
        idx = rng.integers(0, len(y), len(y))
        for name, f in scorers.items():
            draws[name].append(f(y[idx], pred[idx], proba[idx]))
    for name, values in draws.items():
        result[name]["ci_low"], result[name]["ci_high"] = np.percentile(values, [2.5, 97.5])
    sample = test.sample(n=min(len(test), 10_000), random_state=0)
    permutation_importance(
        model, sample[features], sample["target"], scoring="roc_auc", n_repeats=5, random_state=0
    )
    pd.DataFrame({"target": y, "prediction": pred, "proba_1": proba[:, 1]}).to_parquet(
        outdir / "predictions.parquet"
    )
    (outdir / "metrics.json").write_text(json.dumps(result, default=float))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
