"""The local engine against a 2-worker local Dask cluster on the same 2 cores, at growing sizes.

For each size (default 1,000,000 and 10,000,000 rows x 20 features, in 50 Parquet files), both engines
run `mlgate stage data|train|evaluate` (SGDClassifier, one pass, so that both learn from every row:
one `fit` locally, `partial_fit` over the partitions on the cluster; 100 bootstrap resamples). Measured:
the wall time of the three stages, and the peak memory of the biggest process (the stage process itself,
or on the cluster also each worker, from its own peak RSS). The cluster is started fresh for each size,
with a memory limit per worker. Writes the "Scale-out" section of docs/benchmarks.md.
Usage: python benchmarks/scale.py [--rows 1000000 10000000] [--memory-limit 2GB]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from _common import ROOT, Measured, measure, write_section
from benchmark_data import classification_table

from cluster import cluster

BIN = Path(sys.executable).parent
FILES = 50
STAGES = ("data", "train", "evaluate")


def write_source(folder: Path, rows: int) -> None:
    """FILES Parquet files, generated one at a time, each with four row groups."""
    folder.mkdir(parents=True)
    per_file = rows // FILES
    for index in range(FILES):
        frame = classification_table(per_file, seed=index)
        frame.to_parquet(folder / f"part-{index:02d}.parquet", index=False, row_group_size=per_file // 4)


def project(root: Path, source: Path, compute: dict[str, Any]) -> Path:
    root.mkdir()
    shutil.copytree(ROOT / ".mlgate", root / ".mlgate")
    params = {
        "data": {"source": str(source), "target": "target", "split": {"method": "hash", "test_size": 0.2}},
        "model": {
            "task": "classification",
            "estimator": "sklearn.linear_model.SGDClassifier",
            "params": {"loss": "log_loss", "max_iter": 1, "tol": None},
        },
        "evaluate": {
            "bootstrap": {"samples": 100, "seed": 0},
            "permutation_importance": {"max_rows": 10_000, "repeats": 2},
        },
        "compute": compute,
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def run_stages(root: Path) -> list[Measured]:
    return [measure([str(BIN / "mlgate"), "stage", stage], root) for stage in STAGES]


def worker_peak_mb(address: str) -> float:
    from distributed import Client

    def peak() -> float:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    with Client(address, set_as_default=False) as client:
        return max(client.run(peak).values())


def one_size(workdir: Path, rows: int, memory_limit: str) -> dict[str, tuple[float, float]]:
    source = workdir / f"source-{rows}"
    write_source(source, rows)
    local = run_stages(project(workdir / f"local-{rows}", source, {"engine": "local"}))
    with cluster(workdir / f"cluster-{rows}", workers=2, memory_limit=memory_limit) as running:
        compute = {"engine": "dask", "address": running.address, "partition_mb": 32}
        remote = run_stages(project(workdir / f"dask-{rows}", source, compute))
        workers = worker_peak_mb(running.address)
    shutil.rmtree(source)
    for engine, stages in (("local", local), ("dask", remote)):
        print(
            rows,
            engine,
            {s: (round(m.seconds, 1), round(m.peak_mb)) for s, m in zip(STAGES, stages, strict=True)},
        )
    return {
        "local": (sum(m.seconds for m in local), max(m.peak_mb for m in local)),
        "dask": (sum(m.seconds for m in remote), max(max(m.peak_mb for m in remote), workers)),
        "dask workers": (0.0, workers),
        "dask runner": (0.0, max(m.peak_mb for m in remote)),
    }


def table(results: dict[int, dict[str, tuple[float, float]]], memory_limit: str) -> str:
    lines = [
        f"{' and '.join(f'{rows:,}' for rows in results)} rows x 20 features (16 numeric, 4 categorical) in "
        f"{FILES} Parquet files; SGDClassifier, one pass over every row on both engines; 100 Poisson or "
        "multinomial resamples; permutation importance on 10,000 rows x 2. The cluster: `dask scheduler` and "
        f"two single-threaded `dask worker`s with `--memory-limit {memory_limit}` and `--preload "
        "mlgate.cluster.preload`, started before the clock, on the same 2 cores. Peak "
        "memory is the biggest process's peak RSS (on the cluster, the stage process or a worker). "
        "Regenerate with `python benchmarks/scale.py`.",
        "",
        "| rows | local: time (s) | local: peak (MB) | dask: time (s) | dask: peak (MB) "
        "| of which workers (MB) | runner (MB) | time dask / local |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows, found in results.items():
        (lt, lm), (dt, dm) = found["local"], found["dask"]
        ratio = dt / lt
        lines.append(
            f"| {rows:,} | {lt:.0f} | {lm:.0f} | {dt:.0f} | {dm:.0f} | {found['dask workers'][1]:.0f} "
            f"| {found['dask runner'][1]:.0f} | {ratio:.2f}x |"
        )
    first, last = min(results), max(results)
    if first != last:
        grow = {engine: results[last][engine][1] / results[first][engine][1] for engine in ("local", "dask")}
        times = {engine: results[last][engine][0] / results[first][engine][0] for engine in ("local", "dask")}
        lines += [
            "",
            f"From {first:,} to {last:,} rows ({last // first}x): the local engine's peak memory grows "
            f"{grow['local']:.1f}x and its time {times['local']:.1f}x; the cluster's biggest process grows "
            f"{grow['dask']:.1f}x and its time {times['dask']:.1f}x.",
        ]
    limit_mb = float(memory_limit.removesuffix("GB")) * 1000**3 / 2**20
    under = all(found["dask"][1] < limit_mb for found in results.values())
    ratio = results[first]["dask"][0] / results[first]["local"][0]
    lines += [
        "",
        f"Goals: the cluster's biggest process stays under its memory limit ({memory_limit}) at every size, "
        f"where the local engine grows with the data: {'met' if under else 'not met'}. The cluster takes at "
        f"most 1.5x the local engine's time at {first:,} rows: {'met' if ratio <= 1.5 else 'not met'} "
        f"({ratio:.2f}x). At small sizes the cluster pays fixed costs the local engine does not: each stage "
        "process imports Dask and connects, and the data stage reads the partitions in four passes "
        "(expectations with the digest and the repeated rows, the split, the profile of both splits, the "
        "profile's bin counts) where the local engine holds the table once.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000], help="sizes to run")
    parser.add_argument("--memory-limit", default="2GB", help="each worker's --memory-limit")
    args = parser.parse_args()
    os.environ.update(DVC_NO_ANALYTICS="1", ITERATIVE_DO_NOT_TRACK="1", ARROW_DEFAULT_MEMORY_POOL="system")
    results = {}
    with tempfile.TemporaryDirectory(prefix="mlgate-scale-") as temp:
        for rows in args.rows:
            results[rows] = one_size(Path(temp), rows, args.memory_limit)
            print(rows, results[rows], flush=True)
    body = table(results, args.memory_limit)
    print(body)
    write_section("Scale-out", body)


if __name__ == "__main__":
    main()
