"""`mlgate image ...`: an image registry's API, for deploys that re-tag by digest without a rebuild."""

from __future__ import annotations

import argparse
from typing import Any

from mlgate.cli.base import add_command, emit, output_options
from mlgate.errors import EXIT_OK


def run_digest(args: argparse.Namespace) -> int:
    """Print the digest the registry serves for an image reference."""
    from mlgate.serving import oci

    digest = oci.digest(args.reference)
    emit(args, {"reference": args.reference, "digest": digest}, lambda: print(digest))
    return EXIT_OK


def run_retag(args: argparse.Namespace) -> int:
    """Tag an image, given by digest, with another tag of its repository."""
    from mlgate.serving import oci

    digest = oci.retag(args.reference, args.tag)
    image = args.reference.partition("@")[0]
    data = {"image": image, "tag": args.tag, "digest": digest}
    emit(args, data, lambda: print(f"{image}:{args.tag} -> {digest}"))
    return EXIT_OK


def add_parsers(subparsers: Any) -> None:
    """The `mlgate image ...` command group."""
    group = subparsers.add_parser(
        "image",
        help="an image registry's API: digests, and re-tagging by digest",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Speak to an image registry's HTTP API (OCI distribution). Credentials come from\n"
        "MLGATE_REGISTRY_USERNAME and MLGATE_REGISTRY_PASSWORD, else from `docker login`'s config;\n"
        "loopback registries are spoken to over HTTP, every other one over HTTPS.\n\n"
        "Examples:\n  mlgate image digest ghcr.io/acme/model:3\n"
        "  mlgate image retag ghcr.io/acme/model@sha256:<hex> --tag production",
    )
    commands = group.add_subparsers(title="image commands", metavar="COMMAND", required=True)
    digest = add_command(commands, "digest", run_digest, "print the digest the registry serves for an image")
    digest.add_argument("reference", help="host/name:tag (or host/name@sha256:<hex>, checked)")
    output_options(digest, "the reference and its digest")
    retag = add_command(
        commands,
        "retag",
        run_retag,
        "tag an image by digest, without a rebuild",
        "PUT the manifest's exact bytes under the new tag of the same repository, so the tag names\n"
        "the very digest given; the registry's answer is checked.\n\n"
        "Examples:\n  mlgate image retag ghcr.io/acme/model@sha256:<hex> --tag production",
    )
    retag.add_argument("reference", help="the image as host/name@sha256:<hex>")
    retag.add_argument("--tag", required=True, help="the tag to point at it, e.g. production")
    output_options(retag, "the image, tag and digest")
