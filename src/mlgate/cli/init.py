"""`mlgate init`: adopt mlgate in a repository."""

from __future__ import annotations

import argparse
from typing import Any

from mlgate.cli.base import add_command
from mlgate.errors import EXIT_CHECK_FAILED, EXIT_OK


def run_init(args: argparse.Namespace) -> int:
    """Adopt mlgate in this repository; with --check, list what is missing."""
    from mlgate import api
    from mlgate.project import Project

    project = Project.at(Project.at(args.directory).resolve(args.path))
    if args.check:
        gaps = api.init_missing(project=project)
        for gap in gaps:
            print(f"missing: {gap}")
        print(f"{len(gaps)} item(s) missing; run `mlgate init`" if gaps else "mlgate is set up")
        return EXIT_CHECK_FAILED if gaps else EXIT_OK
    done = api.init(project=project, repository=args.mlgate_repository, ref=args.mlgate_ref)
    for name in done.written:
        print(f"wrote {name}")
    for name in done.skipped:
        print(f"skipped {name} (exists)")
    if done.written:
        print("next: mlgate validate && dvc repro, then commit and open a pull request")
    return EXIT_OK


def add_parsers(subparsers: Any) -> None:
    """The `mlgate init` command."""
    init = add_command(
        subparsers,
        "init",
        run_init,
        "adopt mlgate in this repository (writes only missing files)",
        "Write a starter params.yaml and dvc.yaml, an empty registry.yaml, .mlgate/version, the three\n"
        "workflows (pull request, deploy, promote) pinned to this mlgate release by commit, the\n"
        ".gitignore entries, and run `dvc init` when needed. An existing file is never overwritten:\n"
        "init says it skipped it, so running it again changes nothing.\n\n"
        "Examples:\n  mlgate init\n  mlgate init --check\n"
        "  mlgate init --mlgate-repository acme/mlgate --mlgate-ref <40-hex sha>",
    )
    init.add_argument(
        "--check", action="store_true", help="write nothing; list what is missing and exit 1 when anything is"
    )
    init.add_argument("--path", default=".", help="a folder inside the repository (default: %(default)s)")
    init.add_argument(
        "--mlgate-repository",
        default=None,
        help="owner/name of mlgate on GitHub, whose reusable workflows are called "
        "(default: the official repository)",
    )
    init.add_argument(
        "--mlgate-ref",
        default=None,
        help="commit the workflows pin (default: the commit of this release's tag, read with git ls-remote)",
    )
