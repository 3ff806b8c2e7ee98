"""Benchmark: `mlgate report` on a 100,000-row test set, the time beyond DVC's own reads.

DVC hands the report the bytes of each output; everything after that is timed here: parsing the
prediction files, the paired bootstrap of every metric's Δ (1,000 resamples), gates, diffs, chart data
and the markdown and JSON renderings. Prints the figure and rewrites the "Report" section of
docs/benchmarks.md.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_section

from mlgate.config import default_section
from mlgate.fsio import dumps_json
from mlgate.layout import LAYOUT
from mlgate.metrics import METRICS_BY_TASK, Predictions, point_scores
from mlgate.plots import classification_plots
from mlgate.report import sides
from mlgate.report.build import assemble_report
from mlgate.report.markdown import render_markdown
from mlgate.yamldoc import parse_yaml

ROWS = 100_000
REPEATS = 3
TARGET_SECONDS = 2.0
PARAMS = {
    "model": {"task": "classification"},
    "evaluate": default_section("evaluate") | {"primary": "roc_auc"},
    "gates": default_section("gates")
    | {"metrics": {"roc_auc": {"min": 0.8, "max_drop": 0.01, "require_significant": True}}},
}


def side_files(y: np.ndarray, noise: float, rng: np.random.Generator) -> dict[str, bytes]:
    """The bytes DVC would return for one side: predictions, metrics, data summary, card, plots."""
    score = y + rng.normal(0, noise, len(y))
    proba = 1 / (1 + np.exp(-(score - 0.5) * 4))
    frame = pd.DataFrame(
        {
            "row_id": np.arange(len(y), dtype=np.int64),
            "target": y,
            "prediction": (proba > 0.5).astype(int),
            "proba_0": 1 - proba,
            "proba_1": proba,
        }
    )
    predictions = Predictions("classification", y, frame["prediction"].to_numpy(), np.c_[1 - proba, proba])
    values = point_scores(list(METRICS_BY_TASK["classification"]), predictions)
    metrics = {name: {"value": v, "ci_low": v - 0.01, "ci_high": v + 0.01} for name, v in values.items()} | {
        "n_test": len(y)
    }
    plots = classification_plots(frame, [0, 1], None)
    importance = [{"feature": f"x{i:02d}", "importance": 0.1 / (i + 1), "std": 0.01} for i in range(20)]
    data = {
        "rows": 5 * len(y),
        "train_rows": 4 * len(y),
        "test_rows": len(y),
        "class_balance": {"0": 0.5, "1": 0.5},
        "data_hash": "d",
        "test_hash": "t",
        "task": "classification",
    }
    parquet = io.BytesIO()
    frame.to_parquet(parquet, index=False)
    return {
        LAYOUT.predictions.as_posix(): parquet.getvalue(),
        LAYOUT.metrics.as_posix(): dumps_json(metrics).encode(),
        LAYOUT.data_report.as_posix(): json.dumps(data).encode(),
        LAYOUT.card.as_posix(): json.dumps({"task": "classification", "classes": [0, 1]}).encode(),
        "reports/plots/roc.json": json.dumps(plots["roc.json"]).encode(),
        "reports/plots/precision_recall.json": json.dumps(plots["precision_recall.json"]).encode(),
        "reports/plots/importance.json": json.dumps(importance).encode(),
    }


def _one_file(path: str) -> None:
    """No output is a partitioned folder here: the predictions are one file."""


def one_report(base_files: dict[str, bytes], head_files: dict[str, bytes]) -> tuple[float, int]:
    """Time one report from the read bytes to the markdown; return seconds and markdown length."""
    started = time.perf_counter()
    base_params = parse_yaml("model:\n  params:\n    max_depth: 8\n", "params.yaml")
    head_params = parse_yaml("model:\n  params:\n    max_depth: 2\n", "params.yaml")
    base = sides.load_outputs(
        base_files.get, sides.Outputs("dvc-cache", params_document=base_params), _one_file
    )
    head = sides.load_outputs(
        head_files.get, sides.Outputs("workspace", params_document=head_params), _one_file
    )
    report = assemble_report("main", base, head, PARAMS, [])
    markdown = render_markdown(report)
    dumps_json(report)
    return time.perf_counter() - started, len(markdown)


def main() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(ROWS) < 0.5).astype(int)
    base_files, head_files = side_files(y, 1.0, rng), side_files(y, 1.1, rng)
    runs = [one_report(base_files, head_files) for _ in range(REPEATS)]
    seconds = statistics.median(t for t, _ in runs)
    print(
        f"report on {ROWS:,} test rows: {seconds:.2f} s beyond DVC's reads (median of {REPEATS}; "
        f"target < {TARGET_SECONDS:.0f} s); markdown {runs[0][1]:,} characters"
    )
    write_section(
        "Report",
        f"""
`mlgate report` for a {ROWS:,}-row binary test set: both prediction files parsed, the paired bootstrap of
Δ for all six classification metrics (1,000 resamples; above 5,000 rows an m-out-of-n bootstrap on a seeded
5,000-row subset, spread rescaled by sqrt(m/n)), gates, diffs, chart data, markdown and JSON. DVC's own reads
of the outputs are not counted. Regenerate with `python benchmarks/report.py`.

| run | wall time (s) |
|---|---:|
| report beyond DVC's reads (median of {REPEATS}) | {seconds:.2f} |

Target: under {TARGET_SECONDS:.0f} s.
""",
    )


if __name__ == "__main__":
    main()
