"""`mlgate report` and `mlgate gate`: the pull request's comparison with its base and its verdict."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mlgate.cli.base import add_command, params_option, project_of
from mlgate.errors import EXIT_CHECK_FAILED, EXIT_OK

BASE_HELP = "the revision to compare with, usually the PR's target branch"
NO_REPRODUCE_HELP = (
    "when the base outputs are in neither the DVC cache nor a remote, go without a baseline "
    "instead of reproducing the base in a temporary git worktree"
)


def run_report(args: argparse.Namespace) -> int:
    """Compare the workspace with a base revision: metrics with CIs, params, data, slices, plots."""
    from mlgate import api

    project = project_of(args)
    data = api.report(project=project, base=args.base, reproduce=args.reproduce)
    fmt = args.format or "md"
    if args.out:
        for path in api.write_report(data, project.resolve(args.out), fmt, args.max_chars):
            print(f"wrote {project.shown(path)}", file=sys.stderr)
    if args.out or (args.format is None and sys.stdout.isatty()):
        from rich.console import Console

        from mlgate.report.terminal import print_report

        print_report(Console(highlight=False, width=None if sys.stdout.isatty() else 120), data)
    else:
        sys.stdout.write(api.render_report(data, fmt, args.max_chars))
    return EXIT_OK


def run_gate(args: argparse.Namespace) -> int:
    """Check the quality gates of params.yaml; exit 1 when one fails."""
    from rich.console import Console

    from mlgate import api
    from mlgate.report.terminal import print_gate

    project = project_of(args)
    if args.report:
        data = api.read_report(project.resolve(args.report))
    else:
        data = api.report(project=project, base=args.base, reproduce=args.reproduce)
    print_gate(Console(highlight=False), data)
    return EXIT_OK if data["gate"]["passed"] else EXIT_CHECK_FAILED


def add_parsers(subparsers: Any) -> None:
    """The `report` and `gate` commands."""
    report = add_command(
        subparsers,
        "report",
        run_report,
        "compare the workspace with a base revision (the PR report)",
        "Compare the workspace (the PR head after `dvc repro`) with a base revision: gate status,\n"
        "metrics with the CI of each Δ, params and data changes, sliced metrics, Mermaid plots.\n\n"
        "On a terminal it prints a rich rendering; piped, or with --format, markdown or JSON.\n\n"
        "Examples:\n  mlgate report --base main\n  mlgate report --base origin/main --out report.md\n"
        "  mlgate report --base main --format json > report.json",
    )
    report.add_argument("--base", required=True, help=BASE_HELP)
    report.add_argument(
        "--out",
        help="write the report to this file (markdown also gets an untruncated "
        "<name>.full.md beside it) and print the terminal rendering",
    )
    report.add_argument("--format", choices=["md", "json"], help="md (GitHub markdown) or json (default: md)")
    report.add_argument(
        "--max-chars",
        type=int,
        default=60_000,
        help="keep the markdown within this many characters, for a GitHub comment; "
        "0 for no limit (default: %(default)s)",
    )
    report.add_argument("--no-reproduce", dest="reproduce", action="store_false", help=NO_REPRODUCE_HELP)
    params_option(report)
    gate = add_command(
        subparsers,
        "gate",
        run_gate,
        "check the quality gates of params.yaml; exit 1 when one fails",
        "Check the `gates:` of params.yaml against the workspace and the base revision.\n"
        "Exit 0 when every gate passes, 1 when one fails, 2 on bad input.\n"
        "The report's headline shows the same verdict, computed by the same code.\n\n"
        "Examples:\n  mlgate gate --base main\n  mlgate gate --report report.json",
    )
    source = gate.add_mutually_exclusive_group(required=True)
    source.add_argument("--base", help=BASE_HELP)
    source.add_argument(
        "--report",
        help="take the verdict from a report written by "
        "`mlgate report --format json` instead of computing it again",
    )
    gate.add_argument("--no-reproduce", dest="reproduce", action="store_false", help=NO_REPRODUCE_HELP)
    params_option(gate)
