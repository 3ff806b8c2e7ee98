"""The `mlgate` command line: parse arguments, call the library, print. No logic lives here."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from typing import Any

from mlgate import __version__
from mlgate.errors import EXIT_INTERNAL, EXIT_OK, MlgateError

Handler = Callable[[argparse.Namespace], int | None]


def _fail(message: str) -> None:
    from mlgate.progress import console

    for line in message.splitlines() or [""]:
        console.print(f"[red]error:[/red] {line}", markup=True, highlight=False, soft_wrap=True)


def error_funnel(handler: Handler) -> Callable[[argparse.Namespace], int]:
    """Turn MlgateErrors into a red message and their exit code; anything else is a bug (exit 3)."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args) or EXIT_OK
        except MlgateError as exc:
            if args.traceback:
                raise
            _fail(str(exc))
            return exc.exit_code
        except KeyboardInterrupt:
            _fail("interrupted")
            return 130
        except Exception as exc:
            if args.traceback:
                raise
            _fail(f"internal error: {type(exc).__name__}: {exc}")
            _fail("this is a bug in mlgate; please report it with the output of --traceback")
            return EXIT_INTERNAL

    return run


def cmd_validate(args: argparse.Namespace) -> int:
    """Check params.yaml against its schema and dvc.yaml against params.yaml."""
    from mlgate import api

    for note in api.validate(params_path=args.params, dvc_path=args.dvc):
        print(note)
    return EXIT_OK


def cmd_stage(args: argparse.Namespace) -> int:
    """Run one pipeline stage (dvc.yaml calls these)."""
    from mlgate import api

    api.run_stage(args.name, params_path=args.params)
    return EXIT_OK


def _add(subparsers: Any, name: str, handler: Handler, help_text: str, description: str | None = None) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help_text, description=description or help_text, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.set_defaults(handler=handler)
    return parser


def _params_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="path of params.yaml (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; every command and option carries help text."""
    parser = argparse.ArgumentParser(prog="mlgate", description="CI-native MLOps: DVC pipeline, PR reports, gates, deploys.")
    parser.add_argument("--version", action="version", version=f"mlgate {__version__}", help="print the version and exit")
    parser.add_argument("--traceback", action="store_true", help="re-raise errors with a traceback, for debugging")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    validate = _add(subparsers, "validate", cmd_validate, "check params.yaml and dvc.yaml",
                    "Check params.yaml against its schema and dvc.yaml against params.yaml.\n\n"
                    "Also refreshes .mlgate/version, which ties cached stage results to this mlgate release.\n\n"
                    "Examples:\n  mlgate validate\n  mlgate validate --params other.yaml")
    _params_option(validate)
    validate.add_argument("--dvc", default="dvc.yaml", help="path of dvc.yaml (default: %(default)s)")

    stage = _add(subparsers, "stage", cmd_stage, "run one pipeline stage",
                 "Run one pipeline stage. dvc.yaml calls these; run `dvc repro` rather than calling them.\n\n"
                 "Examples:\n  mlgate stage data\n  mlgate stage evaluate")
    stage.add_argument("name", choices=["data", "train", "evaluate"], help="the stage to run")
    _params_option(stage)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mlgate` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return error_funnel(args.handler)(args)


if __name__ == "__main__":
    sys.exit(main())
