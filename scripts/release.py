"""Release mlgate: bump the version, update internal references, date the changelog, commit and tag.

    python scripts/release.py 0.2.0            # commit "Release v0.2.0", tag v0.2.0, move v0 to it
    python scripts/release.py 0.2.0 --push     # also push main, the version tag and the moved major tag

What changes, in one commit on a clean tree:
- `src/mlgate/__init__.py` `__version__` and `.mlgate/version` (the stages' cache key);
- references to the release on lines that name mlgate, in docs/, README.md, actions/*/README.md,
  .github/workflows/ and src/mlgate/templates/: `v<old>` becomes `v<new>`, `mlgate==<old>` becomes
  `mlgate==<new>`, and on a major bump `@v<old major>` becomes `@v<new major>`;
- CHANGELOG.md: the `## Unreleased` section becomes `## [<new>] - <date>` under a fresh, empty one.
Then the annotated tag `v<new>` and the moving major tag `v<major>` (what `uses: ...@v1` resolves to).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
VERSION_LINE = re.compile(r'^__version__ = "([^"]+)"$', re.MULTILINE)
REFERENCE_GLOBS = (
    "README.md",
    "docs/**/*.md",
    "actions/*/README.md",
    ".github/workflows/*.yml",
    "src/mlgate/templates/**/*",
)
UNRELEASED = "## Unreleased"


class ReleaseError(Exception):
    """A release that must not go ahead; the message says why."""


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def parse(version: str) -> tuple[int, int, int]:
    match = VERSION.match(version)
    if not match:
        raise ReleaseError(f"{version!r} is not a version like 1.2.3")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def current_version(repo: Path) -> str:
    match = VERSION_LINE.search((repo / "src/mlgate/__init__.py").read_text())
    if not match:
        raise ReleaseError("src/mlgate/__init__.py has no __version__ line")
    return match.group(1)


def check_ready(repo: Path, old: str, new: str) -> None:
    """Refuse a dirty tree, a version below the current one, and a tag that exists."""
    if git(repo, "status", "--porcelain"):
        raise ReleaseError("the work tree has uncommitted changes; commit or stash them first")
    if parse(new) < parse(old):
        raise ReleaseError(f"{new} is below the current version {old}")
    if git(repo, "tag", "--list", f"v{new}"):
        raise ReleaseError(f"tag v{new} exists already")


def bump_version_files(repo: Path, new: str) -> None:
    init = repo / "src/mlgate/__init__.py"
    init.write_text(VERSION_LINE.sub(f'__version__ = "{new}"', init.read_text(), count=1))
    (repo / ".mlgate").mkdir(exist_ok=True)
    (repo / ".mlgate/version").write_text(new + "\n")


def update_references(repo: Path, old: str, new: str) -> list[Path]:
    """Rewrite release references on lines that name mlgate; return the files changed."""
    rules = [
        (re.compile(rf"\bv{re.escape(old)}\b"), f"v{new}"),
        (re.compile(rf"mlgate=={re.escape(old)}\b"), f"mlgate=={new}"),
    ]
    if parse(new)[0] != parse(old)[0]:
        rules.append((re.compile(rf"@v{parse(old)[0]}\b(?!\.)"), f"@v{parse(new)[0]}"))
    changed = []
    for path in sorted({p for pattern in REFERENCE_GLOBS for p in repo.glob(pattern) if p.is_file()}):
        text = path.read_text()
        lines = [
            _rewrite(line, rules) if "mlgate" in line else line for line in text.splitlines(keepends=True)
        ]
        if "".join(lines) != text:
            path.write_text("".join(lines))
            changed.append(path)
    return changed


def _rewrite(line: str, rules: list[tuple[re.Pattern[str], str]]) -> str:
    for pattern, replacement in rules:
        line = pattern.sub(replacement, line)
    return line


def date_changelog(repo: Path, new: str, date: str) -> None:
    """Turn `## Unreleased` into the release's section, under a fresh empty one."""
    path = repo / "CHANGELOG.md"
    text = path.read_text() if path.is_file() else ""
    if UNRELEASED not in text:
        raise ReleaseError(f"CHANGELOG.md has no '{UNRELEASED}' section")
    head, rest = text.split(UNRELEASED, 1)
    body, _, tail = rest.partition("\n## ")
    if not body.strip():
        raise ReleaseError(f"nothing to release: '{UNRELEASED}' in CHANGELOG.md is empty")
    released = f"{UNRELEASED}\n\n## [{new}] - {date}\n\n{body.strip()}\n"
    path.write_text(head + released + (f"\n## {tail}" if tail else ""))


def release(repo: Path, new: str, date: str, push: bool) -> list[str]:
    """Do the release; return the git commands that publish it (run when `push`)."""
    old = current_version(repo)
    check_ready(repo, old, new)
    bump_version_files(repo, new)
    update_references(repo, old, new)
    date_changelog(repo, new, date)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"Release v{new}")
    major = f"v{parse(new)[0]}"
    git(repo, "tag", "-a", f"v{new}", "-m", f"mlgate {new}")
    git(repo, "tag", "-f", "-a", major, "-m", f"mlgate {new} (moving major tag)")
    branch = git(repo, "rev-parse", "--abbrev-ref", "HEAD")
    commands = [["push", "origin", branch, f"v{new}"], ["push", "--force", "origin", major]]
    if push:
        for command in commands:
            git(repo, *command)
    return [" ".join(["git", *command]) for command in commands]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("version", help="the new version, like 1.2.3")
    parser.add_argument("--date", default=dt.date.today().isoformat(), help="release date for the changelog")
    parser.add_argument(
        "--push", action="store_true", help="push the branch, the tag and the moved major tag"
    )
    parser.add_argument(
        "--repo",
        type=Path,
        default=Path(__file__).resolve().parents[1],
        help="the mlgate repository (default: this checkout)",
    )
    args = parser.parse_args(argv)
    try:
        commands = release(args.repo, args.version, args.date, args.push)
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"released v{args.version}")
    for command in commands:
        print(("pushed: " if args.push else "publish with: ") + command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
