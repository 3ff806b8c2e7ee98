"""`mlgate build`, `mlgate containerize` and `mlgate serve`: the bento, its image, and a local service."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from mlgate.cli.base import add_command, emit, output_options, params_option, project_of
from mlgate.errors import EXIT_OK


def run_build(args: argparse.Namespace) -> int:
    """Build the self-contained bento."""
    from mlgate import api

    built = api.build_bento(
        project=project_of(args),
        version=args.model_version,
        registry_sha256=args.registry_sha256,
        lock_packages=args.lock_packages,
    )
    image = f"\nimage: {built.image}" if built.image else ""
    emit(args, asdict(built), lambda: print(f"bento: {built.tag}\npath: {built.path}{image}"))
    return EXIT_OK


def run_containerize(args: argparse.Namespace) -> int:
    """Build the container image of a bento."""
    from mlgate import api
    from mlgate.serving.image import BuildOptions

    options = BuildOptions(network=args.network, build_args=tuple(args.build_arg), platform=args.platform)
    image = api.containerize(
        project=project_of(args), bento_tag=args.bento, version=args.model_version, options=options
    )
    lines = [f"image: {tag}" for tag in image.tags] + [f"id: {image.id}"]
    emit(args, asdict(image), lambda: print("\n".join(lines)))
    return EXIT_OK


def run_serve(args: argparse.Namespace) -> int:
    """Serve the current model locally."""
    from mlgate import api

    return api.serve(project=project_of(args), host=args.host, port=args.port)


def run_smoke(args: argparse.Namespace) -> int:
    """Check a running service: ready within the timeout, and a prediction for test records."""
    from mlgate import api

    result = api.smoke(project=project_of(args), url=args.url, timeout=args.timeout, rows=args.rows)
    first = json.dumps(result.answers[0], ensure_ascii=False)
    more = f" and {result.records - 1} more" if result.records > 1 else ""
    ready = f"{result.url}, ready after {result.ready_seconds:.1f}s"
    line = f"smoke test: /readyz ok; /predict answered {first}{more} ({ready}); {result.parity}"
    emit(args, asdict(result), lambda: print(line))
    return EXIT_OK


def _add_build(subparsers: Any) -> None:
    build = add_command(
        subparsers,
        "build",
        run_build,
        "build a self-contained bento of the model",
        "Build a BentoML bento that carries the model files, their settings and this mlgate release,\n"
        "so `docker build -f env/docker/Dockerfile <bento path>` needs nothing else. It prints the\n"
        "bento's tag and folder, and the image name its container gets (serve.image, else\n"
        "ghcr.io/<owner>/<repo>).\n\n"
        "Examples:\n  mlgate build\n  mlgate build --model-version 3 --json\n"
        "  mlgate build --field tag --field path",
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
    output_options(build, "the tag, path, labels and image name")
    params_option(build)


def _add_containerize(subparsers: Any) -> None:
    containerize = add_command(
        subparsers,
        "containerize",
        run_containerize,
        "build the container image of a bento",
        "Build the container image of a bento with the Dockerfile `mlgate build` wrote into it (no\n"
        "compilers, a numeric non-root user, a health check on /readyz, OCI labels), named by\n"
        "serve.image (default ghcr.io/<owner>/<repo>), tagged with the commit and version it was built\n"
        "as. "
        "Needs a running container engine (Docker); docker's progress goes to stderr.\n\n"
        "Examples:\n  mlgate containerize my-model:latest --model-version 3\n"
        "  mlgate containerize my-model:latest --network host --build-arg BASE_IMAGE=python:3.11-slim --json",
    )
    containerize.add_argument("bento", help="the bento tag printed by `mlgate build`, or the bento's folder")
    containerize.add_argument(
        "--model-version",
        default=None,
        help="check that the bento was built as this version (`mlgate build --model-version`); the image "
        "is tagged with the version and commit the bento was built as",
    )
    containerize.add_argument(
        "--network", default=None, help="network for the build's RUN steps (docker build --network)"
    )
    containerize.add_argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a build argument, e.g. BASE_IMAGE=<image>; repeatable",
    )
    containerize.add_argument("--platform", default=None, help="target platform, e.g. linux/amd64")
    output_options(containerize, "the image name and tags")
    params_option(containerize)


def add_parsers(subparsers: Any) -> None:
    """The `build`, `containerize`, `serve` and `smoke` commands."""
    _add_build(subparsers)
    _add_containerize(subparsers)
    serve = add_command(
        subparsers,
        "serve",
        run_serve,
        "serve the current model locally, for development",
        "Serve the project's current model with BentoML in the foreground (Ctrl-C stops it).\n\n"
        "Examples:\n  mlgate serve\n  mlgate serve --port 8080",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=3000, help="port to listen on (default: %(default)s)")
    params_option(serve)
    smoke = add_command(
        subparsers,
        "smoke",
        run_smoke,
        "check a running service: ready, and a prediction for test records",
        "Wait for <url>/readyz (up to --timeout seconds), then score the first test records of the\n"
        "prepared data on <url>/predict and check each answer. Exit 1 when the service fails a check.\n\n"
        "Examples:\n  mlgate smoke http://127.0.0.1:3000\n"
        "  mlgate smoke http://127.0.0.1:3000 --rows 20 --json",
    )
    smoke.add_argument("url", help="the service's base URL, e.g. http://127.0.0.1:3000")
    smoke.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for /readyz (default: %(default)s)"
    )
    smoke.add_argument("--rows", type=int, default=5, help="test records to score (default: %(default)s)")
    output_options(smoke, "the result")
    params_option(smoke)
