"""mlgate's data, train and evaluate stages against a plain scikit-learn script doing the same work.

Both run side by side in one run on a synthetic Parquet table (default 1,000,000 rows x 20 features);
the ratios of wall time and peak memory go to docs/benchmarks.md. DVC's own start-up is measured
separately (`dvc stage list`, which starts DVC and parses dvc.yaml) and not counted in the stage times.
Usage: python benchmarks/pipeline.py [--rows N] [--bootstrap N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from _common import ROOT, Measured, measure, write_section
from benchmark_data import ESTIMATOR_PARAMS, write_table

BIN = Path(sys.executable).parent


def project(workdir: Path, data: Path, samples: int) -> Path:
    """A git + DVC project whose params.yaml matches the plain script's work."""
    repo = workdir / "project"
    repo.mkdir()
    shutil.copy(ROOT / "dvc.yaml", repo)
    shutil.copytree(ROOT / ".mlgate", repo / ".mlgate")
    dvc = yaml.safe_load((repo / "dvc.yaml").read_text())
    dvc["stages"]["data"]["deps"].append("data.parquet")
    (repo / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))
    shutil.copy(data, repo / "data.parquet")
    params = {
        "data": {"source": "data.parquet", "target": "target", "split": {"test_size": 0.2, "seed": 42}},
        "model": {
            "task": "classification",
            "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
            "params": ESTIMATOR_PARAMS,
        },
        "evaluate": {
            "primary": "roc_auc",
            "bootstrap": {"samples": samples, "seed": 0},
            "permutation_importance": {"max_rows": 10_000, "repeats": 5, "seed": 0},
        },
        "serve": {"trusted_types": []},
    }
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for command in (["git", "init", "-q"], [BIN / "dvc", "init", "-q"]):
        measure([str(c) for c in command], repo)
    return repo


def run_stages(repo: Path) -> dict[str, Measured]:
    return {
        stage: measure([str(BIN / "mlgate"), "stage", stage], repo) for stage in ("data", "train", "evaluate")
    }


def table(
    stages: dict[str, Measured], plain: Measured, dvc_startup: Measured, rows: int, samples: int
) -> str:
    total = sum(m.seconds for m in stages.values())
    peak = max(m.peak_mb for m in stages.values())
    lines = [
        f"{rows:,} rows x 20 features (16 numeric, 4 categorical), HistGradientBoostingClassifier "
        f"({ESTIMATOR_PARAMS['max_iter']} iterations), {samples} bootstrap resamples, permutation importance "
        "on 10,000 rows x 5 repeats, skops save. Regenerate with `python benchmarks/pipeline.py`.",
        "",
        "| run | wall time (s) | peak memory (MB) |",
        "|---|---:|---:|",
        *[f"| mlgate stage {name} | {m.seconds:.1f} | {m.peak_mb:.0f} |" for name, m in stages.items()],
        f"| **mlgate, all stages** | **{total:.1f}** | **{peak:.0f}** |",
        f"| plain scikit-learn script | {plain.seconds:.1f} | {plain.peak_mb:.0f} |",
        f"| **ratio mlgate / plain** | **{total / plain.seconds:.2f}x** | **{peak / plain.peak_mb:.2f}x** |",
        f"| DVC start-up (`dvc stage list`: import and parse dvc.yaml), not counted above "
        f"| {dvc_startup.seconds:.1f} | {dvc_startup.peak_mb:.0f} |",
        "",
        "Targets: time ≤ 1.15x and peak memory ≤ 1.3x the plain script. The plain script computes the "
        "bootstrap the usual way, a loop of scikit-learn metric calls per resample, and that loop is most of "
        "its time; mlgate scores all resamples at once from a weight matrix.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the synthetic table")
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples on both sides")
    args = parser.parse_args()
    os.environ.update(DVC_NO_ANALYTICS="1", ITERATIVE_DO_NOT_TRACK="1")
    with tempfile.TemporaryDirectory(prefix="mlgate-bench-") as temp:
        workdir = Path(temp)
        data = write_table(workdir / "data.parquet", args.rows)
        repo = project(workdir, data, args.bootstrap)
        plain = measure(
            [
                sys.executable,
                str(Path(__file__).parent / "plain_pipeline.py"),
                str(data),
                str(workdir / "plain"),
                str(args.bootstrap),
            ],
            Path(__file__).parent,
        )
        stages = run_stages(repo)
        dvc_startup = measure([str(BIN / "dvc"), "stage", "list"], repo)
    body = table(stages, plain, dvc_startup, args.rows, args.bootstrap)
    print(body)
    write_section("Pipeline stages", body)


if __name__ == "__main__":
    main()
