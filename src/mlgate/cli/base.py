"""What every command shares: the error funnel, the project option, and printing JSON or fields."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlgate.errors import EXIT_BROKEN_PIPE, EXIT_INTERNAL, EXIT_OK, MlgateError
from mlgate.layout import LAYOUT

if TYPE_CHECKING:
    from mlgate.project import Project

Handler = Callable[[argparse.Namespace], int | None]


def fail(message: str) -> None:
    """Print an error in red on stderr, one `error:` line per line of the message."""
    from rich.markup import escape

    from mlgate.progress import console

    for line in message.splitlines() or [""]:
        console.print(f"[red]error:[/red] {escape(line)}", markup=True, highlight=False, soft_wrap=True)


def error_funnel(handler: Handler) -> Callable[[argparse.Namespace], int]:
    """Turn MlgateErrors into a red message and their exit code; anything else is a bug (exit 3)."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args) or EXIT_OK
        except MlgateError as exc:
            if args.traceback:
                raise
            fail(str(exc))
            return exc.exit_code
        except KeyboardInterrupt:
            fail("interrupted")
            return 130
        except BrokenPipeError:  # the reader went away (`mlgate ... | head`): stop quietly, as shell tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_BROKEN_PIPE
        except Exception as exc:
            if args.traceback:
                raise
            fail(f"internal error: {type(exc).__name__}: {exc}")
            fail("this is a bug in mlgate; please report it with the output of --traceback")
            return EXIT_INTERNAL

    return run


def add_command(
    subparsers: Any, name: str, handler: Handler, help_text: str, description: str | None = None
) -> argparse.ArgumentParser:
    """A subcommand whose description is shown as written, run by `handler`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help_text,
        description=description or help_text,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def params_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--params",
        default=LAYOUT.params.as_posix(),
        help="params.yaml, relative to the project root (default: %(default)s)",
    )


def output_options(parser: argparse.ArgumentParser, what: str) -> None:
    """`--json` for the whole answer, `--field KEY` (repeatable) for single values, as scripts want them."""
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")
    parser.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="KEY",
        help="print one value of the JSON answer, a dotted key such as image.digest "
        "(repeatable: one line each)",
    )


def project_of(args: argparse.Namespace) -> Project:
    """The project the command works on: `-C DIR` (default: here), with its --params and --registry."""
    from mlgate.project import Project  # here, so that `mlgate --help` does not load the config stack

    return Project.at(args.directory, getattr(args, "params", None), getattr(args, "registry", None))


def print_json(data: object) -> None:
    from mlgate.fsio import dumps_json

    sys.stdout.write(dumps_json(data))


def emit(args: argparse.Namespace, data: Any, text: Callable[[], None]) -> None:
    """Print the answer as fields, JSON, or text for people, as the options ask."""
    if args.field:
        for key in args.field:
            print(_scalar(field_value(data, key)))
    elif args.json:
        print_json(data)
    else:
        text()


def field_value(data: Any, key: str) -> Any:
    """The value at a dotted key (`image.digest`, `tags.0`); a ConfigError naming the key when absent."""
    from mlgate.errors import ConfigError
    from mlgate.yamldoc import dotted_get

    try:
        return dotted_get(data, key)
    except KeyError:
        raise ConfigError(f"--field {key}: no such field in the answer") from None


def _scalar(value: Any) -> str:
    """A field as a shell reads it: text as is, null as an empty line, anything else as JSON."""
    import json

    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
