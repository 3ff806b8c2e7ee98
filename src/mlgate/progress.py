"""Progress for long steps, on stderr: a live bar on a terminal, one line per step elsewhere (CI logs)."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True, highlight=False)


@contextlib.contextmanager
def step(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """Show a step; yield a function that advances it by n units of `total`."""
    started = time.perf_counter()
    description = escape(description)  # it may name a user's file: text, never rich markup
    if not sys.stderr.isatty():
        yield lambda n: None
        console.print(f"mlgate: {description} ({time.perf_counter() - started:.1f}s)")
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)
    console.print(f"mlgate: {description} ({time.perf_counter() - started:.1f}s)")
