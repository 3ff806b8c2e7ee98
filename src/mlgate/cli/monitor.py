"""`mlgate monitor`, `mlgate retrain` and `mlgate materialise-data`: operations after the deploy."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from mlgate.cli.base import add_command, emit, output_options, params_option, project_of
from mlgate.errors import EXIT_OK


def run_monitor(args: argparse.Namespace) -> int:
    """Compare a batch of production data with a model version's reference; exit 1 on alarm."""
    from mlgate import api

    project = project_of(args)
    out = project.resolve(args.out) if args.out else project.files.monitor
    result = api.monitor(project=project, current=args.current, alias=args.alias, out=out)

    def text() -> None:
        rows, reference = result["current"]["rows"], result["reference"]["describe"]
        print(f"monitor: {result['status']}: {rows} rows vs {reference}")
        for kind in ("alarms", "warnings", "notes"):
            for line in result[kind]:
                print(f"{kind[:-1]}: {line}")
        print(f"report: {project.shown(out / 'monitor.md')}")

    if args.field or args.json:  # the answer is for a script; the findings still reach the log
        with contextlib.redirect_stdout(sys.stderr):
            text()
    emit(args, result, text)
    return api.monitor_exit_code(result)


def run_retrain(args: argparse.Namespace) -> int:
    """Fold a labelled batch into the tracked data, reproduce, and commit on a new branch."""
    from mlgate import api

    project = project_of(args)
    done = api.retrain(project=project, data=args.data, replace=args.replace, branch=args.branch)
    print(
        f"retrain: {done.source}: {done.rows_before} → {done.rows_after} rows; "
        f"branch {done.branch} at {done.commit[:12]}"
    )
    print(
        "pushed to the DVC remote"
        if done.pushed
        else "no DVC remote configured: data and model stay in the local cache"
    )
    return EXIT_OK


def run_materialise_data(args: argparse.Namespace) -> int:
    """Write the bundled or python: data source to a DVC-tracked CSV."""
    from mlgate import api

    project = project_of(args)
    target = project.resolve(args.to) if args.to else None
    written = api.materialise_data(project=project, to=target, dvc=not args.git)
    path, source = project.shown(written), project.relative(written)
    tracked = f"{path} (keep it in git: git add {path})" if args.git else f"{path} and {path}.dvc"
    print(
        f"wrote {tracked}; now set data.source: {source} in params.yaml "
        "and add it to the data stage's deps in dvc.yaml"
    )
    return EXIT_OK


def _add_monitor(subparsers: Any) -> None:
    monitor = add_command(
        subparsers,
        "monitor",
        run_monitor,
        "check production data for drift; exit 1 on alarm",
        "Compare a batch of production data (CSV, Parquet or the service's JSONL log) with the\n"
        "reference profile of the model version holding an alias: drift per feature (PSI and\n"
        "chi-square, corrected for multiple testing), missing rates, unseen categories, schema,\n"
        "and metrics when the batch carries labels. Writes monitor.json and monitor.md.\n"
        "Exit codes: 0 healthy, 1 alarm, 2 bad input.\n\n"
        "Examples:\n  mlgate monitor --current data/production/2026-11.parquet\n"
        "  mlgate monitor --current 'logs/*.jsonl' --alias staging --out reports/monitor",
    )
    monitor.add_argument(
        "--current",
        default=None,
        help="the batch: a CSV, Parquet or JSONL file, a glob of them, or python:<module>:<function> "
        "(default: monitor.current in params.yaml)",
    )
    monitor.add_argument(
        "--alias",
        default=None,
        help="registry alias of the reference version (default: monitor.alias in params.yaml)",
    )
    monitor.add_argument(
        "--out", default=None, help="folder for monitor.json and monitor.md (default: reports/monitor)"
    )
    output_options(monitor, "the whole result (monitor.json)")
    params_option(monitor)


def add_parsers(subparsers: Any) -> None:
    """The `monitor`, `retrain` and `materialise-data` commands."""
    _add_monitor(subparsers)
    retrain = add_command(
        subparsers,
        "retrain",
        run_retrain,
        "add a labelled batch to the data and retrain on a new branch",
        "Append a labelled batch to the DVC-tracked CSV in data.source (or replace it), then\n"
        "`dvc add`, `mlgate validate`, `dvc repro`, `dvc push` when a remote is configured, and\n"
        "commit on a new branch, ready to open as a pull request.\n\n"
        "Examples:\n  mlgate retrain --data labelled-2026-11.csv\n"
        "  mlgate retrain --data fresh.parquet --replace",
    )
    retrain.add_argument(
        "--data",
        required=True,
        help="the labelled batch with the data file's columns: what monitor --current takes (a CSV, "
        "Parquet or JSONL file, or a glob of them), or python:<module>:<function>",
    )
    retrain.add_argument("--replace", action="store_true", help="replace the data instead of appending to it")
    retrain.add_argument(
        "--branch", default=None, help="name of the new branch (default: mlgate/retrain-<UTC time>)"
    )
    params_option(retrain)
    materialise = add_command(
        subparsers,
        "materialise-data",
        run_materialise_data,
        "write a bundled or python: data source to a DVC-tracked CSV",
        "Write the data source named in params.yaml (sklearn: or python:) once to a CSV under\n"
        "data/raw/ and `dvc add` it (or, with --git, leave it to git), so that `mlgate retrain`\n"
        "has a file to grow.\n\n"
        "Examples:\n  mlgate materialise-data\n  mlgate materialise-data --to data/raw/cancer.csv",
    )
    materialise.add_argument("--to", default=None, help="the CSV to write (default: data/raw/<dataset>.csv)")
    materialise.add_argument(
        "--git",
        action="store_true",
        help="leave the CSV to git instead of `dvc add` (repositories without a DVC remote)",
    )
    params_option(materialise)
