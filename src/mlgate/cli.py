"""The `mlgate` command line: parse arguments, call the library, print. No logic lives here."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from typing import Any

from mlgate import __version__
from mlgate.errors import EXIT_BROKEN_PIPE, EXIT_CHECK_FAILED, EXIT_INTERNAL, EXIT_OK, MlgateError

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
        except BrokenPipeError:  # the reader went away (`mlgate ... | head`): stop quietly, as shell tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_BROKEN_PIPE
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
    if args.json:
        _print_json({"version": version})
    else:
        print(version)
    return EXIT_OK


def cmd_registry_record(args: argparse.Namespace) -> int:
    """Register the current model as a new version."""
    from mlgate import api

    entry = api.registry_record(
        **_registry_paths(args),
        version=args.version,
        pr=args.pr,
        run_url=args.run_url,
        bento_tag=args.bento_tag,
        image=args.image,
        digest=args.digest,
        image_tags=tuple(args.image_tag),
        gate_report=args.gate_report,
        reason=args.reason,
        tag=args.tag,
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


def _add(
    subparsers: Any, name: str, handler: Handler, help_text: str, description: str | None = None
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help_text,
        description=description or help_text,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def _params_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="path of params.yaml (default: %(default)s)")


def _registry_command(
    subparsers: Any, name: str, handler: Handler, help_text: str, description: str
) -> argparse.ArgumentParser:
    parser = _add(subparsers, name, handler, help_text, description)
    _params_option(parser)
    parser.add_argument(
        "--registry", default=None, help="path of the registry file (default: registry.path in params.yaml)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def _add_registry_record(commands: Any) -> None:
    record = _registry_command(
        commands,
        "record",
        cmd_registry_record,
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
    option("--reason", default=None, help="why, for the events history")
    option(
        "--tag",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also create the git tag <model>@v<version>.0.0 (default: registry.tag in params.yaml)",
    )


def _add_registry_aliases(commands: Any) -> None:
    promote = _registry_command(
        commands,
        "promote",
        cmd_registry_promote,
        "point an alias at a version",
        "Point an alias at a version.\n\nExamples:\n  mlgate registry promote 3 --to production",
    )
    promote.add_argument("version", type=int, help="the version to promote")
    promote.add_argument("--to", required=True, help="the alias, such as production or staging")
    promote.add_argument("--reason", default=None, help="why, for the events history")
    rollback = _registry_command(
        commands,
        "rollback",
        cmd_registry_rollback,
        "move an alias back to its previous version",
        "Move an alias back to the previous version that held it (skipping deprecated ones).\n\n"
        "Examples:\n  mlgate registry rollback --alias production --reason 'latency spike'",
    )
    rollback.add_argument(
        "--alias", default="production", help="the alias to roll back (default: %(default)s)"
    )
    rollback.add_argument("--reason", default=None, help="why, for the events history")
    deprecate = _registry_command(
        commands,
        "deprecate",
        cmd_registry_deprecate,
        "retire a version",
        "Retire a version no alias points at; it can no longer be promoted.",
    )
    deprecate.add_argument("version", type=int, help="the version to deprecate")
    deprecate.add_argument("--reason", default=None, help="why, for the events history")


def _add_registry(subparsers: Any) -> None:
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
    _registry_command(
        commands,
        "list",
        cmd_registry_list,
        "list versions and aliases",
        "List every version with its primary metric, gate verdict, aliases and status.",
    )
    show = _registry_command(
        commands,
        "show",
        cmd_registry_show,
        "show one version in full",
        "Show one version: source, lineage, model, metrics with CIs, gate, bento and image.\n\n"
        "Examples:\n  mlgate registry show 3\n  mlgate registry show production --json",
    )
    show.add_argument("version", help="a version number or an alias such as production")
    _registry_command(
        commands,
        "next-version",
        cmd_registry_next_version,
        "print the version the next record gets",
        "Print the version the next `record` gets; a deploy tags its image with it first.",
    )
    _add_registry_record(commands)
    _add_registry_aliases(commands)
    _registry_command(
        commands,
        "verify",
        cmd_registry_verify,
        "check the registry; exit 1 listing each problem",
        "Check the schema, that aliases point at existing active versions, that versions and events\n"
        "increase and agree, and that model files on disk (workspace or DVC cache) match their sha256.",
    )


def cmd_monitor(args: argparse.Namespace) -> int:
    """Compare a batch of production data with a model version's reference; exit 1 on alarm."""
    from mlgate import api

    result = api.monitor(args.current, alias=args.alias, out=args.out, params_path=args.params)
    rows, reference = result["current"]["rows"], result["reference"]["describe"]
    print(f"monitor: {result['status']}: {rows} rows vs {reference}")
    for line in result["alarms"]:
        print(f"alarm: {line}")
    for line in result["warnings"]:
        print(f"warning: {line}")
    for line in result["notes"]:
        print(f"note: {line}")
    print(f"report: {args.out}/monitor.md")
    return api.monitor_exit_code(result)


def cmd_retrain(args: argparse.Namespace) -> int:
    """Fold a labelled batch into the tracked data, reproduce, and commit on a new branch."""
    from mlgate import api

    done = api.retrain(args.data, replace=args.replace, params_path=args.params, branch=args.branch)
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


def cmd_materialise_data(args: argparse.Namespace) -> int:
    """Write the bundled or python: data source to a DVC-tracked CSV."""
    from mlgate import api

    path = api.materialise_data(to=args.to, params_path=args.params, dvc=not args.git)
    tracked = f"{path} (keep it in git: git add {path})" if args.git else f"{path} and {path}.dvc"
    print(
        f"wrote {tracked}; now set data.source: {path} in params.yaml "
        "and add it to the data stage's deps in dvc.yaml"
    )
    return EXIT_OK


def _add_monitoring(subparsers: Any) -> None:
    """The `monitor`, `retrain` and `materialise-data` commands."""
    monitor = _add(
        subparsers,
        "monitor",
        cmd_monitor,
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
        "--out",
        default="reports/monitor",
        help="folder for monitor.json and monitor.md (default: %(default)s)",
    )
    _params_option(monitor)
    retrain = _add(
        subparsers,
        "retrain",
        cmd_retrain,
        "add a labelled batch to the data and retrain on a new branch",
        "Append a labelled batch to the DVC-tracked CSV in data.source (or replace it), then\n"
        "`dvc add`, `mlgate validate`, `dvc repro`, `dvc push` when a remote is configured, and\n"
        "commit on a new branch, ready to open as a pull request.\n\n"
        "Examples:\n  mlgate retrain --data labelled-2026-11.csv\n"
        "  mlgate retrain --data fresh.parquet --replace",
    )
    retrain.add_argument(
        "--data", required=True, help="the labelled batch, CSV or Parquet, with the data file's columns"
    )
    retrain.add_argument("--replace", action="store_true", help="replace the data instead of appending to it")
    retrain.add_argument(
        "--branch", default=None, help="name of the new branch (default: mlgate/retrain-<UTC time>)"
    )
    _params_option(retrain)
    materialise = _add(
        subparsers,
        "materialise-data",
        cmd_materialise_data,
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
    _params_option(materialise)


def cmd_build(args: argparse.Namespace) -> int:
    """Build the self-contained bento."""
    from mlgate import api

    result = api.build_bento(
        params_path=args.params,
        version=args.model_version,
        registry_sha256=args.registry_sha256,
        lock_packages=args.lock_packages,
    )
    if args.json:
        _print_json(result)
    else:
        print(f"bento: {result['tag']}")
        print(f"path: {result['path']}")
    return EXIT_OK


def cmd_containerize(args: argparse.Namespace) -> int:
    """Build the container image of a bento."""
    from mlgate import api

    result = api.containerize(args.bento, params_path=args.params, version=args.model_version)
    if args.json:
        _print_json(result)
    else:
        for tag in result["tags"]:
            print(f"image: {tag}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the current model locally."""
    from mlgate import api

    return api.serve(params_path=args.params, host=args.host, port=args.port)


def _add_serving(subparsers: Any) -> None:
    """`build`, `containerize` and `serve`."""
    build = _add(
        subparsers,
        "build",
        cmd_build,
        "build a self-contained bento of the model",
        "Build a BentoML bento that carries the model files, their settings and this mlgate release, "
        "so `docker build -f env/docker/Dockerfile <bento path>` needs nothing else.\n\n"
        "Examples:\n  mlgate build\n  mlgate build --model-version 3 --json",
    )
    build.add_argument(
        "--model-version", default=None, help="model version to label the bento with (e.g. from the registry)"
    )
    build.add_argument(
        "--registry-sha256",
        default=None,
        help="sha256 the registry records for the model; the build and the service refuse any other file",
    )
    build.add_argument(
        "--lock-packages",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="lock every Python package against the index (default: serve.lock_packages)",
    )
    build.add_argument("--json", action="store_true", help="print the tag, path and labels as JSON")
    _params_option(build)

    containerize = _add(
        subparsers,
        "containerize",
        cmd_containerize,
        "build the container image of a bento",
        "Build a container image of a bento with `bentoml containerize`, named by serve.image "
        "(default ghcr.io/<owner>/<repo>) and tagged with the git commit and the version.\n"
        "Needs a running container engine (Docker).\n\n"
        "Examples:\n  mlgate containerize my-model:latest --model-version 3",
    )
    containerize.add_argument("bento", help="the bento tag printed by `mlgate build`")
    containerize.add_argument("--model-version", default=None, help="also tag the image with this version")
    containerize.add_argument("--json", action="store_true", help="print the image name and tags as JSON")
    _params_option(containerize)

    serve = _add(
        subparsers,
        "serve",
        cmd_serve,
        "serve the current model locally, for development",
        "Serve the repository's current model with BentoML in the foreground (Ctrl-C stops it).\n\n"
        "Examples:\n  mlgate serve\n  mlgate serve --port 8080",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=3000, help="port to listen on (default: %(default)s)")
    _params_option(serve)


def cmd_init(args: argparse.Namespace) -> int:
    """Adopt mlgate in this repository; with --check, list what is missing."""
    from mlgate import api

    if args.check:
        gaps = api.init_missing(args.path)
        for gap in gaps:
            print(f"missing: {gap}")
        print(f"{len(gaps)} item(s) missing; run `mlgate init`" if gaps else "mlgate is set up")
        return EXIT_CHECK_FAILED if gaps else EXIT_OK
    done = api.init(args.path, repository=args.mlgate_repository, ref=args.mlgate_ref)
    for name in done.written:
        print(f"wrote {name}")
    for name in done.skipped:
        print(f"skipped {name} (exists)")
    if done.written:
        print("next: mlgate validate && dvc repro, then commit and open a pull request")
    return EXIT_OK


def _add_init(subparsers: Any) -> None:
    """The `mlgate init` command."""
    init = _add(
        subparsers,
        "init",
        cmd_init,
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


def cmd_report(args: argparse.Namespace) -> int:
    """Compare the workspace with a base revision: metrics with CIs, params, data, slices, plots."""
    from mlgate import api

    data = api.report(args.base, params_path=args.params, reproduce=args.reproduce)
    fmt = args.format or "md"
    if args.out:
        for path in api.write_report(data, args.out, fmt, args.max_chars):
            print(f"wrote {path}", file=sys.stderr)
    if args.out or (args.format is None and sys.stdout.isatty()):
        from rich.console import Console

        from mlgate.report.terminal import print_report

        print_report(Console(highlight=False, width=None if sys.stdout.isatty() else 120), data)
    else:
        sys.stdout.write(api.render_report(data, fmt, args.max_chars))
    return EXIT_OK


def cmd_gate(args: argparse.Namespace) -> int:
    """Check the quality gates of params.yaml; exit 1 when one fails."""
    from rich.console import Console

    from mlgate import api
    from mlgate.report.terminal import print_gate

    if args.report:
        data = api.read_report(args.report)
    else:
        data = api.report(args.base, params_path=args.params, reproduce=args.reproduce)
    print_gate(Console(highlight=False), data)
    return EXIT_OK if data["gate"]["passed"] else EXIT_CHECK_FAILED


BASE_HELP = "the revision to compare with, usually the PR's target branch"
NO_REPRODUCE_HELP = (
    "when the base outputs are in neither the DVC cache nor a remote, go without a baseline "
    "instead of reproducing the base in a temporary git worktree"
)


def _add_report(subparsers: Any) -> None:
    """`report` and `gate`."""
    report = _add(
        subparsers,
        "report",
        cmd_report,
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
    _params_option(report)
    gate = _add(
        subparsers,
        "gate",
        cmd_gate,
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
    _params_option(gate)


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; every command and option carries help text."""
    parser = argparse.ArgumentParser(
        prog="mlgate", description="CI-native MLOps: DVC pipeline, PR reports, gates, deploys."
    )
    parser.add_argument(
        "--version", action="version", version=f"mlgate {__version__}", help="print the version and exit"
    )
    parser.add_argument(
        "--traceback", action="store_true", help="re-raise errors with a traceback, for debugging"
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    validate = _add(
        subparsers,
        "validate",
        cmd_validate,
        "check params.yaml and dvc.yaml",
        "Check params.yaml against its schema and dvc.yaml against params.yaml.\n\n"
        "Also refreshes .mlgate/version, which ties cached stage results to this mlgate release.\n\n"
        "Examples:\n  mlgate validate\n  mlgate validate --params other.yaml",
    )
    _params_option(validate)
    validate.add_argument("--dvc", default="dvc.yaml", help="path of dvc.yaml (default: %(default)s)")

    stage = _add(
        subparsers,
        "stage",
        cmd_stage,
        "run one pipeline stage",
        "Run one pipeline stage. dvc.yaml calls these; run `dvc repro` rather than calling them.\n\n"
        "Examples:\n  mlgate stage data\n  mlgate stage evaluate",
    )
    stage.add_argument("name", choices=["data", "train", "evaluate"], help="the stage to run")
    _params_option(stage)
    _add_registry(subparsers)
    _add_monitoring(subparsers)
    _add_serving(subparsers)
    _add_report(subparsers)
    _add_init(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mlgate` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return error_funnel(args.handler)(args)


if __name__ == "__main__":
    sys.exit(main())
