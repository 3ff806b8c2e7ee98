"""`mlgate k8s render`: Kubernetes manifests for a registry version's image."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlgate.cli.base import add_command, emit, output_options, params_option, project_of
from mlgate.errors import EXIT_OK


def run_render(args: argparse.Namespace) -> int:
    """Write the Deployment, Service, HorizontalPodAutoscaler and PodDisruptionBudget of a version."""
    from mlgate import api

    project = project_of(args)
    reference = str(args.version) if args.version is not None else args.alias
    rendered = api.k8s_render(project=project, reference=reference, out=project.resolve(args.out))
    lines = [f"version {rendered.version}: {rendered.image}", *rendered.files]
    emit(args, asdict(rendered), lambda: print("\n".join(lines)))
    return EXIT_OK


def add_parsers(subparsers: Any) -> None:
    """The `mlgate k8s ...` command group."""
    group = subparsers.add_parser(
        "k8s",
        help="Kubernetes manifests for a registry version",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Kubernetes manifests that serve a registry version's image by digest.",
    )
    commands = group.add_subparsers(title="k8s commands", metavar="COMMAND", required=True)
    render = add_command(
        commands,
        "render",
        run_render,
        "write a version's Deployment, Service, HorizontalPodAutoscaler and PodDisruptionBudget",
        "Write deployment.yaml, service.yaml, hpa.yaml and pdb.yaml for the version an alias or a number\n"
        "names: the image by digest, probes on /readyz and /livez, serve.resources, serve.autoscaling,\n"
        "a non-root user and a read-only root filesystem with a writable /tmp. Apply them with\n"
        "`kubectl apply -f <folder>`.\n\n"
        "Examples:\n  mlgate k8s render --alias production\n  mlgate k8s render --version 3 --out deploy/k8s",
    )
    which = render.add_mutually_exclusive_group(required=True)
    which.add_argument("--alias", help="the alias whose version to render, e.g. production")
    which.add_argument("--version", type=int, help="the version number to render")
    render.add_argument(
        "--out", type=Path, default=Path("k8s"), help="folder for the manifests (default: %(default)s)"
    )
    params_option(render)
    render.add_argument(
        "--registry",
        default=None,
        help="the registry file, relative to the project root (default: registry.path in params.yaml)",
    )
    output_options(render, "the version, image and files")
