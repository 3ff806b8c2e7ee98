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


def _print_json(data: object) -> None:
    from mlgate.fsio import dumps_json

    sys.stdout.write(dumps_json(data))


def _registry_paths(args: argparse.Namespace) -> dict[str, Any]:
    return {"params_path": args.params, "registry_path": args.registry}


def cmd_registry_list(args: argparse.Namespace) -> int:
    """List the registry's versions and aliases."""
    from mlgate import api
    from mlgate.registry import render

    registry = api.registry_load(**_registry_paths(args))
    if args.json:
        _print_json(registry.to_data())
    else:
        render.print_tables([render.versions_table(registry)])
    return EXIT_OK


def cmd_registry_show(args: argparse.Namespace) -> int:
    """Show one version in full."""
    from mlgate import api
    from mlgate.registry import render

    registry = api.registry_load(**_registry_paths(args))
    entry = registry.resolve(args.version)
    if args.json:
        _print_json({**entry, "aliases": registry.aliases_of(entry["version"])})
    else:
        render.print_tables(render.version_tables(registry, entry))
    return EXIT_OK


def cmd_registry_next_version(args: argparse.Namespace) -> int:
    """Print the version the next record gets."""
    from mlgate import api

    version = api.registry_next_version(**_registry_paths(args))
    _print_json({"version": version}) if args.json else print(version)
    return EXIT_OK


def cmd_registry_record(args: argparse.Namespace) -> int:
    """Register the current model as a new version."""
    from mlgate import api

    entry = api.registry_record(
        **_registry_paths(args), version=args.version, pr=args.pr, run_url=args.run_url,
        bento_tag=args.bento_tag, image=args.image, digest=args.digest, image_tags=tuple(args.image_tag),
        gate_report=args.gate_report, reason=args.reason, tag=args.tag,
    )
    if args.json:
        _print_json(entry)
    else:
        print(f"recorded version {entry['version']} (model sha256 {entry['model']['sha256'][:12]})")
    return EXIT_OK


def _print_event(event: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _print_json(event)
    elif event["action"] == "deprecate":
        print(f"deprecated version {event['version']}")
    else:
        print(f"{event['action']}: {event['alias']} {event['from'] or '-'} -> {event['to']}")


def cmd_registry_promote(args: argparse.Namespace) -> int:
    """Point an alias at a version."""
    from mlgate import api

    _print_event(api.registry_promote(args.version, args.to, args.reason, **_registry_paths(args)), args.json)
    return EXIT_OK


def cmd_registry_rollback(args: argparse.Namespace) -> int:
    """Move an alias back to the version that held it before."""
    from mlgate import api

    _print_event(api.registry_rollback(args.alias, args.reason, **_registry_paths(args)), args.json)
    return EXIT_OK


def cmd_registry_deprecate(args: argparse.Namespace) -> int:
    """Retire a version."""
    from mlgate import api

    _print_event(api.registry_deprecate(args.version, args.reason, **_registry_paths(args)), args.json)
    return EXIT_OK


def cmd_registry_verify(args: argparse.Namespace) -> int:
    """Check the registry; exit 1 listing each problem."""
    from mlgate import api
    from mlgate.errors import EXIT_CHECK_FAILED

    problems = api.registry_verify(**_registry_paths(args))
    if args.json:
        _print_json({"ok": not problems, "problems": problems})
    else:
        for problem in problems:
            print(f"problem: {problem}")
        print(f"{len(problems)} problem(s) found" if problems else "registry ok")
    return EXIT_CHECK_FAILED if problems else EXIT_OK


def _add(subparsers: Any, name: str, handler: Handler, help_text: str, description: str | None = None) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help_text, description=description or help_text, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.set_defaults(handler=handler)
    return parser


def _params_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="path of params.yaml (default: %(default)s)")


def _registry_command(subparsers: Any, name: str, handler: Handler, help_text: str,
                      description: str) -> argparse.ArgumentParser:
    parser = _add(subparsers, name, handler, help_text, description)
    _params_option(parser)
    parser.add_argument("--registry", default=None,
                        help="path of the registry file (default: registry.path in params.yaml)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def _add_registry_record(commands: Any) -> None:
    record = _registry_command(
        commands, "record", cmd_registry_record, "register the current model as a new version",
        "Register the workspace's model (models/model.json, reports/metrics.json, dvc.lock).\n"
        "Exits 2 if the requested version is taken.\n\n"
        "Examples:\n  mlgate registry record\n"
        "  mlgate registry record --version 4 --pr 12 --image ghcr.io/o/r --digest sha256:...")
    option = record.add_argument
    option("--version", type=int, default=None, help="the version to record (default: the next one)")
    option("--pr", type=int, default=None, help="the pull request that brought the model")
    option("--run-url", default=None, help="the workflow run URL (default: from GITHUB_* variables)")
    option("--bento-tag", default=None, help="the bento tag built from this model")
    option("--image", default=None, help="the image name, without tag")
    option("--digest", default=None, help="the image digest, sha256:<hex>")
    option("--image-tag", action="append", default=[], help="a tag the image was pushed with (repeatable)")
    option("--gate-report", default=None, help="a gate JSON report to read the verdict from")
    option("--reason", default=None, help="why, for the events history")
    option("--tag", action=argparse.BooleanOptionalAction, default=None,
           help="also create the git tag <model>@v<version>.0.0 (default: registry.tag in params.yaml)")


def _add_registry_aliases(commands: Any) -> None:
    promote = _registry_command(
        commands, "promote", cmd_registry_promote, "point an alias at a version",
        "Point an alias at a version.\n\nExamples:\n  mlgate registry promote 3 --to production")
    promote.add_argument("version", type=int, help="the version to promote")
    promote.add_argument("--to", required=True, help="the alias, such as production or staging")
    promote.add_argument("--reason", default=None, help="why, for the events history")
    rollback = _registry_command(
        commands, "rollback", cmd_registry_rollback, "move an alias back to its previous version",
        "Move an alias back to the previous version that held it (skipping deprecated ones).\n\n"
        "Examples:\n  mlgate registry rollback --alias production --reason 'latency spike'")
    rollback.add_argument("--alias", default="production",
                          help="the alias to roll back (default: %(default)s)")
    rollback.add_argument("--reason", default=None, help="why, for the events history")
    deprecate = _registry_command(commands, "deprecate", cmd_registry_deprecate, "retire a version",
                                  "Retire a version no alias points at; it can no longer be promoted.")
    deprecate.add_argument("version", type=int, help="the version to deprecate")
    deprecate.add_argument("--reason", default=None, help="why, for the events history")


def _add_registry(subparsers: Any) -> None:
    """The `mlgate registry ...` command group."""
    group = subparsers.add_parser(
        "registry", help="the git-tracked model registry (registry.yaml)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Record model versions, move aliases such as production, audit the history.\n\n"
                    "Examples:\n  mlgate registry record --image ghcr.io/o/r --digest sha256:...\n"
                    "  mlgate registry promote 3 --to production\n"
                    "  mlgate registry rollback --alias production")
    commands = group.add_subparsers(title="registry commands", metavar="COMMAND", required=True)
    _registry_command(commands, "list", cmd_registry_list, "list versions and aliases",
                      "List every version with its primary metric, gate verdict, aliases and status.")
    show = _registry_command(
        commands, "show", cmd_registry_show, "show one version in full",
        "Show one version: source, lineage, model, metrics with CIs, gate, bento and image.\n\n"
        "Examples:\n  mlgate registry show 3\n  mlgate registry show production --json")
    show.add_argument("version", help="a version number or an alias such as production")
    _registry_command(commands, "next-version", cmd_registry_next_version,
                      "print the version the next record gets",
                      "Print the version the next `record` gets; a deploy tags its image with it first.")
    _add_registry_record(commands)
    _add_registry_aliases(commands)
    _registry_command(
        commands, "verify", cmd_registry_verify, "check the registry; exit 1 listing each problem",
        "Check the schema, that aliases point at existing active versions, that versions and events\n"
        "increase and agree, and that model files on disk (workspace or DVC cache) match their sha256.")


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
    _add_registry(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mlgate` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return error_funnel(args.handler)(args)


if __name__ == "__main__":
    sys.exit(main())
