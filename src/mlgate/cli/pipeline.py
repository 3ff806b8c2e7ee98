"""`mlgate validate`, `mlgate params` and `mlgate stage`: the config and the pipeline's stages."""

from __future__ import annotations

import argparse
from typing import Any

from mlgate.cli.base import add_command, emit, output_options, params_option, project_of
from mlgate.errors import EXIT_OK
from mlgate.layout import LAYOUT


def run_validate(args: argparse.Namespace) -> int:
    """Check params.yaml against its schema and dvc.yaml against params.yaml."""
    from mlgate import api

    project = project_of(args)
    for note in api.validate(project=project, dvc_path=project.resolve(args.dvc)):
        print(note)
    return EXIT_OK


def run_params(args: argparse.Namespace) -> int:
    """Print params.yaml as mlgate reads it: validated, every default filled in."""
    import yaml

    params = project_of(args).params
    emit(args, params, lambda: print(yaml.safe_dump(params, sort_keys=False, allow_unicode=True), end=""))
    return EXIT_OK


def run_stage(args: argparse.Namespace) -> int:
    """Run one pipeline stage (dvc.yaml calls these)."""
    from mlgate import api

    api.run_stage(project=project_of(args), name=args.name)
    return EXIT_OK


def add_parsers(subparsers: Any) -> None:
    """The `validate`, `params` and `stage` commands."""
    validate = add_command(
        subparsers,
        "validate",
        run_validate,
        "check params.yaml and dvc.yaml",
        "Check params.yaml against its schema (and the fields that name columns against the source's\n"
        "header) and dvc.yaml against params.yaml.\n\n"
        "Also refreshes .mlgate/version, which ties cached stage results to this mlgate release.\n\n"
        "Examples:\n  mlgate validate\n  mlgate -C models/churn validate",
    )
    params_option(validate)
    validate.add_argument(
        "--dvc",
        default=LAYOUT.dvc_yaml.as_posix(),
        help="dvc.yaml, relative to the project root (default: %(default)s)",
    )
    params = add_command(
        subparsers,
        "params",
        run_params,
        "print params.yaml as mlgate reads it, defaults filled in",
        "Print params.yaml validated and with every default filled in, as YAML, as JSON, or one field.\n\n"
        "Examples:\n  mlgate params\n  mlgate params --field monitor.current --field monitor.retrain",
    )
    params_option(params)
    output_options(params, "the params")
    stage = add_command(
        subparsers,
        "stage",
        run_stage,
        "run one pipeline stage",
        "Run one pipeline stage. dvc.yaml calls these; run `dvc repro` rather than calling them.\n\n"
        "Examples:\n  mlgate stage data\n  mlgate stage evaluate",
    )
    stage.add_argument("name", choices=["data", "train", "evaluate"], help="the stage to run")
    params_option(stage)
