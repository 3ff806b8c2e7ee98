"""scripts/release.py in a temp git repository with a bare origin: bump, references, changelog, tags."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import ROOT, run

SCRIPT = ROOT / "scripts" / "release.py"
GETTING_STARTED = """\
pip install mlgate==0.1.0
uses: acme/mlgate/.github/workflows/mlgate-pr.yml@v0 # floating major tag of mlgate
The schema of mlgate v0.1.0 is at .../v0.1.0/src/mlgate/schemas/params.schema.json
Unrelated: numpy v0.1.0 stays.
"""
CHANGELOG = """\
# Changelog

## Unreleased

- Deploy on merge.

## [0.0.9] - 2026-01-01

- First cut.
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A small copy of mlgate's release-relevant files, committed and pushed to a bare origin."""
    repo = tmp_path / "mlgate"
    (repo / "src/mlgate/templates/workflows").mkdir(parents=True)
    (repo / "docs").mkdir()
    (repo / ".mlgate").mkdir()
    (repo / "src/mlgate/__init__.py").write_text('"""mlgate."""\n\n__version__ = "0.1.0"\n')
    (repo / ".mlgate/version").write_text("0.1.0\n")
    (repo / "docs/getting-started.md").write_text(GETTING_STARTED)
    (repo / "src/mlgate/templates/workflows/mlgate.yml").write_text("# Written for mlgate v@VERSION@\n")
    (repo / "CHANGELOG.md").write_text(CHANGELOG)
    run("git", "init", "-q", "-b", "main", cwd=repo)
    run("git", "add", "-A", cwd=repo)
    run("git", "commit", "-q", "-m", "start", cwd=repo)
    run("git", "init", "-q", "--bare", tmp_path / "origin.git", cwd=tmp_path)
    run("git", "remote", "add", "origin", tmp_path / "origin.git", cwd=repo)
    run("git", "push", "-q", "origin", "main", cwd=repo)
    return repo


def release(repo: Path, *args: str, check: bool = True) -> str:
    result = run(sys.executable, SCRIPT, "--repo", repo, "--date", "2026-11-26", *args, cwd=repo, check=check)
    return result.stdout + result.stderr


def tag_commit(repo: Path, tag: str, where: str = ".") -> str:
    return run("git", "rev-parse", f"{tag}^{{commit}}", cwd=repo / where).stdout.strip()


def add_change(repo: Path, line: str) -> None:
    changelog = repo / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace("## Unreleased\n", f"## Unreleased\n\n- {line}\n", 1))
    run("git", "commit", "-q", "-am", line, cwd=repo)


def test_release_bumps_updates_references_dates_the_changelog_and_tags(repo: Path) -> None:
    out = release(repo, "0.2.0", "--push")
    assert "released v0.2.0" in out and "pushed: git push --force origin v0" in out
    assert '__version__ = "0.2.0"' in (repo / "src/mlgate/__init__.py").read_text()
    assert (repo / ".mlgate/version").read_text() == "0.2.0\n"
    docs = (repo / "docs/getting-started.md").read_text()
    assert "pip install mlgate==0.2.0" in docs and ".../v0.2.0/src/mlgate" in docs
    assert "numpy v0.1.0 stays" in docs and "mlgate-pr.yml@v0 #" in docs
    changelog = (repo / "CHANGELOG.md").read_text()
    assert changelog.startswith(
        "# Changelog\n\n## Unreleased\n\n## [0.2.0] - 2026-11-26\n\n- Deploy on merge.\n"
    )
    assert "## [0.0.9] - 2026-01-01" in changelog
    assert run("git", "log", "-1", "--format=%s", cwd=repo).stdout.strip() == "Release v0.2.0"
    assert run("git", "status", "--porcelain", cwd=repo).stdout == ""
    head = run("git", "rev-parse", "HEAD", cwd=repo).stdout.strip()
    origin = repo.parent / "origin.git"
    assert tag_commit(repo, "v0.2.0") == tag_commit(origin, "v0.2.0") == head
    assert tag_commit(origin, "v0") == head


def test_major_tag_moves_with_each_release_and_a_new_major_starts_its_own(repo: Path) -> None:
    release(repo, "0.2.0", "--push")
    first = tag_commit(repo, "v0")
    add_change(repo, "Rollback.")
    release(repo, "0.3.0", "--push")
    origin = repo.parent / "origin.git"
    assert tag_commit(origin, "v0") == tag_commit(origin, "v0.3.0") != first
    add_change(repo, "Breaking: new registry format.")
    release(repo, "1.0.0", "--push")
    assert tag_commit(origin, "v1") == tag_commit(origin, "v1.0.0")
    assert tag_commit(origin, "v0") == tag_commit(origin, "v0.3.0")
    assert "mlgate-pr.yml@v1 #" in (repo / "docs/getting-started.md").read_text()


def test_without_push_it_prints_the_publish_commands(repo: Path) -> None:
    out = release(repo, "0.1.1")
    assert "publish with: git push origin main v0.1.1" in out
    assert run("git", "ls-remote", "--tags", repo.parent / "origin.git", cwd=repo).stdout == ""


@pytest.mark.parametrize(
    ("prepare", "version", "message"),
    [
        (lambda r: (r / "docs/getting-started.md").write_text("dirty"), "0.2.0", "uncommitted changes"),
        (lambda r: None, "0.0.1", "below the current version"),
        (lambda r: None, "2.0", "not a version"),
        (lambda r: run("git", "tag", "v0.2.0", cwd=r), "0.2.0", "exists already"),
    ],
)
def test_refuses_bad_releases_and_changes_nothing(repo: Path, prepare, version: str, message: str) -> None:
    prepare(repo)
    before = run("git", "rev-parse", "HEAD", cwd=repo).stdout
    result = run(sys.executable, SCRIPT, "--repo", repo, version, cwd=repo, check=False)
    assert result.returncode == 2 and message in result.stderr
    assert run("git", "rev-parse", "HEAD", cwd=repo).stdout == before


def test_refuses_an_empty_unreleased_section(repo: Path) -> None:
    release(repo, "0.2.0")
    result = run(sys.executable, SCRIPT, "--repo", repo, "0.3.0", cwd=repo, check=False)
    assert result.returncode == 2 and "nothing to release" in result.stderr
