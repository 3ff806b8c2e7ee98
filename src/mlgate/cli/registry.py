"""`mlgate registry ...`: the git-tracked model registry (registry.yaml)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from mlgate.cli.base import Handler, add_command, emit, output_options, params_option, project_of
from mlgate.errors import EXIT_CHECK_FAILED, EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    """List the registry's versions and aliases."""
    from mlgate import api
    from mlgate.registry import render

    registry = api.registry_load(project=project_of(args))
    emit(args, registry.to_data(), lambda: render.print_tables([render.versions_table(registry)]))
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    """Show one version in full."""
    from mlgate import api
    from mlgate.registry import render

    registry = api.registry_load(project=project_of(args))
    entry = registry.resolve(args.version)
    data = {**entry, "aliases": registry.aliases_of(entry["version"])}
    emit(args, data, lambda: render.print_tables(render.version_tables(registry, entry)))
    return EXIT_OK


def run_path(args: argparse.Namespace) -> int:
    """Print the registry file's path, relative to the project root."""
    project = project_of(args)
    print(Path(os.path.relpath(project.registry_file, project.root)).as_posix())
    return EXIT_OK


def run_next_version(args: argparse.Namespace) -> int:
    """Print the version the next record gets."""
    from mlgate import api

    version = api.registry_next_version(project=project_of(args))
    emit(args, {"version": version}, lambda: print(version))
    return EXIT_OK


def run_record(args: argparse.Namespace) -> int:
    """Register the current model as a new version."""
    from mlgate import api

    project = project_of(args)
    entry = api.registry_record(
        project=project,
        version=args.version,
        pr=args.pr,
        run_url=args.run_url,
        bento_tag=args.bento_tag,
        image=args.image,
        digest=args.digest,
        image_tags=tuple(args.image_tag),
        gate_report=project.resolve(args.gate_report) if args.gate_report else None,
        reason=args.reason,
        tag=args.tag,
        gate_override=args.gate_override,
    )
    sha = entry["model"]["sha256"][:12]
    emit(args, entry, lambda: print(f"recorded version {entry['version']} (model sha256 {sha})"))
    return EXIT_OK


def _print_event(args: argparse.Namespace, event: dict[str, Any]) -> None:
    if event["action"] == "deprecate":
        line = f"deprecated version {event['version']}"
    else:
        line = f"{event['action']}: {event['alias']} {event['from'] or '-'} -> {event['to']}"
    emit(args, event, lambda: print(line))


def run_promote(args: argparse.Namespace) -> int:
    """Point an alias at a version."""
    from mlgate import api

    event = api.registry_promote(
        project=project_of(args), version=args.version, alias=args.to, reason=args.reason
    )
    _print_event(args, event)
    return EXIT_OK


def run_rollback(args: argparse.Namespace) -> int:
    """Move an alias back to the version that held it before."""
    from mlgate import api

    _print_event(args, api.registry_rollback(project=project_of(args), alias=args.alias, reason=args.reason))
    return EXIT_OK


def run_deprecate(args: argparse.Namespace) -> int:
    """Retire a version."""
    from mlgate import api

    event = api.registry_deprecate(project=project_of(args), version=args.version, reason=args.reason)
    _print_event(args, event)
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    """Check the registry; exit 1 listing each problem."""
    from mlgate import api

    problems = api.registry_verify(project=project_of(args))

    def text() -> None:
        for problem in problems:
            print(f"problem: {problem}")
        print(f"{len(problems)} problem(s) found" if problems else "registry ok")

    emit(args, {"ok": not problems, "problems": problems}, text)
    return EXIT_CHECK_FAILED if problems else EXIT_OK


def _command(
    subparsers: Any, name: str, handler: Handler, help_text: str, description: str, output: bool = True
) -> argparse.ArgumentParser:
    parser = add_command(subparsers, name, handler, help_text, description)
    params_option(parser)
    parser.add_argument(
        "--registry",
        default=None,
        help="the registry file, relative to the project root (default: registry.path in params.yaml)",
    )
    if output:
        output_options(parser, "the answer")
    return parser


def _add_record(commands: Any) -> None:
    record = _command(
        commands,
        "record",
        run_record,
        "register the current model as a new version",
        "Register the workspace's model (models/model.json, reports/metrics.json, dvc.lock).\n"
        "Exits 2 if the requested version is taken.\n\n"
        "Examples:\n  mlgate registry record\n"
        "  mlgate registry record --version 4 --pr 12 --image ghcr.io/o/r --digest sha256:...",
    )
    option = record.add_argument
    option("--version", type=int, default=None, help="the version to record (default: the next one)")
    option("--pr", type=int, default=None, help="the pull request that brought the model")
    option("--run-url", default=None, help="the workflow run URL (default: from GITHUB_* variables)")
    option("--bento-tag", default=None, help="the bento tag built from this model")
    option("--image", default=None, help="the image name, without tag")
    option("--digest", default=None, help="the image digest, sha256:<hex>")
    option("--image-tag", action="append", default=[], help="a tag the image was pushed with (repeatable)")
    option("--gate-report", default=None, help="a gate JSON report to read the verdict from")
    option(
        "--gate-override",
        default=None,
        metavar="REASON",
        help="record that a failed gate was overridden, and why (a deploy dispatched with gate-override)",
    )
    option("--reason", default=None, help="why, for the events history")
    option(
        "--tag",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also create the git tag <model>@v<version>.0.0 (default: registry.tag in params.yaml)",
    )


def _add_aliases(commands: Any) -> None:
    promote = _command(
        commands,
        "promote",
        run_promote,
        "point an alias at a version",
        "Point an alias at a version.\n\nExamples:\n  mlgate registry promote 3 --to production",
    )
    promote.add_argument("version", type=int, help="the version to promote")
    promote.add_argument("--to", required=True, help="the alias, such as production or staging")
    promote.add_argument("--reason", default=None, help="why, for the events history")
    rollback = _command(
        commands,
        "rollback",
        run_rollback,
        "move an alias back to its previous version",
        "Move an alias back to the previous version that held it (skipping deprecated ones).\n\n"
        "Examples:\n  mlgate registry rollback --alias production --reason 'latency spike'",
    )
    rollback.add_argument(
        "--alias", default="production", help="the alias to roll back (default: %(default)s)"
    )
    rollback.add_argument("--reason", default=None, help="why, for the events history")
    deprecate = _command(
        commands,
        "deprecate",
        run_deprecate,
        "retire a version",
        "Retire a version no alias points at; it can no longer be promoted.",
    )
    deprecate.add_argument("version", type=int, help="the version to deprecate")
    deprecate.add_argument("--reason", default=None, help="why, for the events history")


def _add_reads(commands: Any) -> None:
    _command(
        commands,
        "list",
        run_list,
        "list versions and aliases",
        "List every version with its primary metric, gate verdict, aliases and status.",
    )
    show = _command(
        commands,
        "show",
        run_show,
        "show one version in full",
        "Show one version: source, lineage, model, metrics with CIs, gate, bento and image.\n\n"
        "Examples:\n  mlgate registry show 3\n  mlgate registry show production --json\n"
        "  mlgate registry show production --field image.name --field image.digest",
    )
    show.add_argument("version", help="a version number, an alias such as production, or latest")
    _command(
        commands,
        "path",
        run_path,
        "print the registry file's path",
        "Print the registry file's path relative to the project root (registry.path in params.yaml).",
        output=False,
    )
    _command(
        commands,
        "next-version",
        run_next_version,
        "print the version the next record gets",
        "Print the version the next `record` gets; a deploy tags its image with it first.",
    )
    _command(
        commands,
        "verify",
        run_verify,
        "check the registry; exit 1 listing each problem",
        "Check the schema, that aliases point at existing active versions, that versions and events\n"
        "increase and agree, and that model files on disk (workspace or DVC cache) match their sha256.",
    )


def add_parsers(subparsers: Any) -> None:
    """The `mlgate registry ...` command group."""
    group = subparsers.add_parser(
        "registry",
        help="the git-tracked model registry (registry.yaml)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Record model versions, move aliases such as production, audit the history.\n\n"
        "Examples:\n  mlgate registry record --image ghcr.io/o/r --digest sha256:...\n"
        "  mlgate registry promote 3 --to production\n"
        "  mlgate registry rollback --alias production",
    )
    commands = group.add_subparsers(title="registry commands", metavar="COMMAND", required=True)
    _add_reads(commands)
    _add_record(commands)
    _add_aliases(commands)
