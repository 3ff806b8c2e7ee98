"""Benchmark `mlgate monitor` against Evidently's data-drift preset on the same data, side by side.

    python benchmarks/monitor.py [--rows 1000000] [--evidently-python /work/bench-venvs/evidently/bin/python]
                                 [--update-docs docs/benchmarks.md]

Data: `rows` × 20 features (16 numeric, 4 categorical) in Parquet, a reference of the same shape, and
three injected changes in the current batch: a 0.5σ mean shift in num_00, a new category in 5% of
cat_00, and the missing rate of num_01 doubled from 5% to 10%. Each tool runs in its own process;
time and peak memory are measured after the data is loaded (mlgate: after imports, since it reads in
chunks). Evidently needs pandas<3, so it runs from its own venv; without one it is reported skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_section

NUMERIC = [f"num_{i:02d}" for i in range(16)]
CATEGORICAL = [f"cat_{i:02d}" for i in range(4)]
INJECTED = {
    "num_00": "0.5σ mean shift",
    "cat_00": "new category in 5% of rows",
    "num_01": "missing rate 5% → 10%",
}
DEFAULT_EVIDENTLY = Path("/work/bench-venvs/evidently/bin/python")
SECTION = "Monitor"


def make_frame(rows: int, seed: int, drifted: bool) -> Any:
    """Synthetic features; `drifted` injects the three changes."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for index, name in enumerate(NUMERIC):
        values = rng.normal(index, 1 + index % 3, rows) if index % 2 == 0 else rng.lognormal(0, 0.5, rows)
        null_rate = 0.05 if name == "num_01" else 0.01
        if drifted and name == "num_00":
            values = values + 0.5 * (1 + index % 3)
        if drifted and name == "num_01":
            null_rate = 0.10
        values[rng.random(rows) < null_rate] = np.nan
        columns[name] = values
    for index, name in enumerate(CATEGORICAL):
        levels = np.array([f"c{k}" for k in range(4 + 3 * index)])
        shares = np.linspace(2, 1, len(levels))
        values = levels[rng.choice(len(levels), rows, p=shares / shares.sum())].astype(object)
        if drifted and name == "cat_00":
            values[rng.random(rows) < 0.05] = "brand-new"
        columns[name] = values
    return pd.DataFrame(columns)


def write_data(folder: Path, rows: int) -> None:
    """reference.parquet, current.parquet, and an mlgate workspace (params.yaml + reference profile)."""
    import yaml

    from mlgate.datasets.profile import reference_profile
    from mlgate.datasets.schema import FeatureSchema
    from mlgate.fsio import atomic_write_json

    reference = make_frame(rows, seed=1, drifted=False)
    reference.to_parquet(folder / "reference.parquet", index=False)
    make_frame(rows, seed=2, drifted=True).to_parquet(folder / "current.parquet", index=False)
    schema = FeatureSchema("target", "regression", tuple(NUMERIC), tuple(CATEGORICAL))
    profile = reference_profile(reference.assign(target=0.0), schema, {"bins": 20, "max_categories": 100})
    workspace = folder / "workspace"
    atomic_write_json(workspace / "reports/reference_profile.json", profile)
    params = {
        "data": {"source": "reference.parquet", "target": "target"},
        "model": {"task": "regression", "estimator": "sklearn.linear_model.Ridge"},
    }
    (workspace / "params.yaml").write_text(yaml.safe_dump(params))


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    """Make VmHWM restart from the current RSS (Linux), so the peak excludes loading."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def child_mlgate(workspace: Path, current: Path, chunk_rows: int) -> dict[str, Any]:
    """Run the monitor in this process; time and peak memory beyond the imports."""
    os.chdir(workspace)
    # imported first so that their memory counts as imports, not as the monitor's work
    for module in ("pyarrow.compute", "pyarrow.parquet", "scipy.special", "mlgate.monitor.run"):
        importlib.import_module(module)
    from mlgate import api
    from mlgate.project import Project

    params = Path("params.yaml")
    params.write_text(params.read_text().split("monitor:")[0] + f"monitor:\n  chunk_rows: {chunk_rows}\n")
    _reset_peak()
    baseline = _rss_mb("VmRSS")
    started, cpu = time.perf_counter(), time.process_time()
    result = api.monitor(Project.at(), current=str(current), out=Path("out").resolve())
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    drifting = sorted({line.split(":")[0] for line in result["alarms"]})
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_mb": _rss_mb("VmHWM") - baseline,
        "drifting": drifting,
    }


EVIDENTLY_CHILD = r"""
import json, sys, time
from pathlib import Path
import pandas as pd
folder, numeric, categorical = Path(sys.argv[1]), sys.argv[2].split(","), sys.argv[3].split(",")
def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
import evidently
reference = pd.read_parquet(folder / "reference.parquet")
current = pd.read_parquet(folder / "current.parquet")
try:
    Path("/proc/self/clear_refs").write_text("5")
except OSError:
    pass
baseline = status("VmRSS")
started, cpu = time.perf_counter(), time.process_time()
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
snapshot = Report([DataDriftPreset()]).run(
    Dataset.from_pandas(current, data_definition=definition),
    Dataset.from_pandas(reference, data_definition=definition),
)
result = snapshot.dict()
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
drifting, methods = [], {}
for metric in result["metrics"]:
    config = metric["config"]
    if config.get("type", "").endswith("ValueDrift"):
        p_value = "p_value" in config["method"]
        value = metric["value"]
        methods[config["column"]] = config["method"]
        if (value < config["threshold"]) if p_value else (value >= config["threshold"]):
            drifting.append(config["column"])
figures = {"seconds": seconds, "cpu_seconds": cpu, "peak_mb": status("VmHWM") - baseline}
figures.update(drifting=sorted(drifting), version=evidently.__version__, methods=methods)
print(json.dumps(figures))
"""


def run_child(command: list[str]) -> dict[str, Any]:
    """Run a measuring child process and parse the JSON it prints last."""
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def cli_seconds(workspace: Path, current: Path) -> float:
    """Wall time of the whole `mlgate monitor` command, imports and report writing included."""
    mlgate = Path(sys.executable).with_name("mlgate")
    started = time.perf_counter()
    subprocess.run(
        [str(mlgate), "monitor", "--current", str(current), "--out", "out-cli"],
        cwd=workspace,
        capture_output=True,
        check=False,
    )
    return time.perf_counter() - started


def measure(folder: Path, rows: int, evidently: Path | None) -> dict[str, Any]:
    """Every figure of the benchmark."""
    workspace, current = folder / "workspace", folder / "current.parquet"
    me = [sys.executable, __file__, "--child", str(workspace), str(current)]
    figures: dict[str, Any] = {"rows": rows, "mlgate": {}, "cli_seconds": cli_seconds(workspace, current)}
    for chunk in (32_768, 131_072, 524_288):
        figures["mlgate"][chunk] = run_child([*me, str(chunk)])
    doubled = folder / "current-2x.parquet"
    _write_twice(current, doubled)
    figures["mlgate_2x"] = run_child(
        [sys.executable, __file__, "--child", str(workspace), str(doubled), "131072"]
    )
    if evidently is not None and evidently.exists():
        script = folder / "evidently_child.py"
        script.write_text(EVIDENTLY_CHILD)
        figures["evidently"] = run_child(
            [str(evidently), str(script), str(folder), ",".join(NUMERIC), ",".join(CATEGORICAL)]
        )
    else:
        figures["evidently"] = None
    return figures


def _write_twice(source: Path, target: Path) -> None:
    """A file with every row of `source` twice, written batch by batch."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(source)
    with pq.ParquetWriter(target, parquet.schema_arrow) as writer:
        for _ in range(2):
            for batch in parquet.iter_batches(batch_size=131_072):
                writer.write_batch(batch)


def markdown(figures: dict[str, Any]) -> str:
    """The body of the "## Monitor" section of docs/benchmarks.md."""
    default = figures["mlgate"][131_072]
    evidently = figures["evidently"]
    lines = [
        f"`python benchmarks/monitor.py` on {figures['rows']:,} rows × 20 features "
        "(16 numeric, 4 categorical, Parquet), "
        f"against a reference of the same shape, on this machine (2 shared cores). Injected: "
        + "; ".join(f"`{k}` {v}" for k, v in INJECTED.items())
        + ".",
        "",
        "| | mlgate monitor | Evidently DataDriftPreset |",
        "|---|---:|---:|",
        f"| time (after loading / imports) | {default['seconds']:.2f} s "
        f"| {_fmt(evidently, 'seconds', '{:.1f} s')} |",
        f"| CPU time (all threads) | {default['cpu_seconds']:.2f} s "
        f"| {_fmt(evidently, 'cpu_seconds', '{:.1f} s')} |",
        f"| peak memory beyond that | {default['peak_mb']:.0f} MB "
        f"| {_fmt(evidently, 'peak_mb', '{:.0f} MB')} |",
        f"| whole CLI run, imports and report included | {figures['cli_seconds']:.2f} s | – |",
    ]
    for name, change in INJECTED.items():
        lines.append(
            f"| flags `{name}` ({change}) | {_yes(name in default['drifting'])} | "
            f"{'skipped' if evidently is None else _yes(name in evidently['drifting'])} |"
        )
    other_m = [n for n in default["drifting"] if n not in INJECTED]
    other_e = [] if evidently is None else [n for n in evidently["drifting"] if n not in INJECTED]
    lines.append(
        f"| flags anything else | {', '.join(other_m) or 'no'} | "
        f"{'skipped' if evidently is None else (', '.join(other_e) or 'no')} |"
    )
    lines += [
        "",
        "Wall times move with the load of the shared machine; CPU time is the steadier figure.",
        "",
        "Peak memory of mlgate follows the chunk size, not the file:",
        "",
        "| chunk rows | rows in file | time | peak memory beyond imports |",
        "|---:|---:|---:|---:|",
    ]
    for chunk, data in figures["mlgate"].items():
        lines.append(
            f"| {int(chunk):,} | {figures['rows']:,} | {data['seconds']:.2f} s | {data['peak_mb']:.0f} MB |"
        )
    doubled = figures["mlgate_2x"]
    lines.append(
        f"| 131,072 | {2 * figures['rows']:,} | {doubled['seconds']:.2f} s | {doubled['peak_mb']:.0f} MB |"
    )
    if evidently is None:
        lines += ["", "Evidently was skipped: no venv with it was given (`--evidently-python`)."]
    else:
        lines += [
            "",
            f"Evidently {evidently['version']} ran in its own venv (it needs pandas<3) and chose: "
            + ", ".join(sorted(set(evidently["methods"].values())))
            + ". It drops missing values before "
            "testing, so a change in the missing rate alone is invisible to it.",
        ]
    return "\n".join(lines) + "\n"


def _fmt(data: dict[str, Any] | None, key: str, pattern: str) -> str:
    return "skipped" if data is None else pattern.format(data[key])


def _yes(flag: bool) -> str:
    return "✅ yes" if flag else "❌ no"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the reference and in the batch")
    parser.add_argument(
        "--evidently-python",
        type=Path,
        default=DEFAULT_EVIDENTLY,
        help="python of a venv with evidently==0.7.* and pandas<3 (skipped when absent)",
    )
    parser.add_argument(
        "--update-docs", type=Path, default=None, help="write the results into this markdown file"
    )
    parser.add_argument("--child", nargs=3, metavar=("WORKSPACE", "CURRENT", "CHUNK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_mlgate(Path(args.child[0]), Path(args.child[1]), int(args.child[2]))))
        return
    folder = Path(tempfile.mkdtemp(prefix="mlgate-bench-monitor-"))
    try:
        write_data(folder, args.rows)
        figures = measure(folder, args.rows, args.evidently_python)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    section = markdown(figures)
    print(json.dumps(figures, indent=2, default=str))
    print(section)
    if args.update_docs:
        write_section(SECTION, section, args.update_docs)


if __name__ == "__main__":
    main()
