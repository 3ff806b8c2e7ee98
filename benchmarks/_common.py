"""Helpers the benchmarks share: timing child processes and updating docs/benchmarks.md by section."""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_DOC = ROOT / "docs" / "benchmarks.md"
DOC_HEADER = (
    "# Benchmarks\n\nMeasured on the project's 2-core, 24 GiB machine by the scripts in `benchmarks/`; "
    "each script runs mlgate and its baseline side by side in one run and rewrites its own section.\n"
)


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_mb: float


def measure(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> Measured:
    """Run a command; return its wall time and the peak resident memory of that process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command} failed:\n{process.stderr.read().decode() if process.stderr else ''}")
    return Measured(seconds, usage.ru_maxrss / 1024)


def write_section(title: str, body: str, path: Path = BENCHMARKS_DOC) -> None:
    """Replace (or append) the `## title` section of docs/benchmarks.md, leaving the others as they are."""
    text = path.read_text() if path.exists() else DOC_HEADER
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = (
        pattern.sub(lambda _: section + "\n", text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + section
    )
    path.write_text(text.rstrip() + "\n")
