"""The `mlgate` command line: parse arguments, call the library, print. No logic lives here.

One module per command group, each pairing its parsers with their handlers; `base` holds what they share.
"""

from __future__ import annotations

import argparse

from mlgate import __version__
from mlgate.cli import image, init, k8s, monitor, pipeline, registry, report, serving
from mlgate.cli.base import error_funnel
from mlgate.untrusted import console_streams

GROUPS = (pipeline, registry, monitor, serving, image, k8s, report, init)


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; every command and option carries help text."""
    parser = argparse.ArgumentParser(
        prog="mlgate", description="CI-native MLOps: DVC pipeline, PR reports, gates, deploys."
    )
    parser.add_argument(
        "--version", action="version", version=f"mlgate {__version__}", help="print the version and exit"
    )
    parser.add_argument(
        "-C",
        dest="directory",
        default=".",
        metavar="DIR",
        help="run as if mlgate was started in DIR, the project root (like git -C); "
        "relative paths in other options are relative to it",
    )
    parser.add_argument(
        "--traceback", action="store_true", help="re-raise errors with a traceback, for debugging"
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.add_parsers(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mlgate` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with console_streams():
        return error_funnel(args.handler)(args)
