"""`mlgate init`: adopt mlgate in an existing git repository, writing only what is missing."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from mlgate import __version__
from mlgate.errors import GitError, MissingDependencyError
from mlgate.fsio import atomic_write_text

# Where mlgate's reusable workflows live; `--mlgate-repository` points a fork or a mirror elsewhere.
MLGATE_REPOSITORY = "mlgate/mlgate"
WORKFLOWS = ("mlgate.yml", "mlgate-deploy.yml", "mlgate-promote.yml")
GITIGNORE_HEADER = (
    "# mlgate: pipeline outputs live in DVC; the registry lock and the workflow's mlgate checkout are local"
)
GITIGNORE_ENTRIES = ("/data/prepared/", "/models/", "/reports/", ".registry.yaml.lock", ".mlgate-src/")
VERSION_FILE = ".mlgate/version"


@dataclass
class InitResult:
    """What `init` did (or, with `check`, what is missing), as paths relative to the repository."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def release_tag(version: str = __version__) -> str:
    """The git tag of an mlgate release."""
    return f"v{version}"


def resolve_release(repository: str, tag: str) -> str:
    """The commit a release tag of the mlgate repository points at, read with `git ls-remote`."""
    url = f"https://github.com/{repository}.git"
    result = subprocess.run(
        ["git", "ls-remote", url, f"refs/tags/{tag}", f"refs/tags/{tag}^{{}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    refs = {
        ref: sha for sha, ref in (line.split("\t", 1) for line in result.stdout.splitlines() if "\t" in line)
    }
    commit = refs.get(f"refs/tags/{tag}^{{}}") or refs.get(f"refs/tags/{tag}")
    if result.returncode != 0 or not commit:
        raise GitError(
            f"cannot find the commit of mlgate {tag} at {url} ({result.stderr.strip() or 'no such tag'}); "
            "the workflows pin mlgate by commit, so pass it with --mlgate-ref <40-hex sha>"
        )
    return commit


def _template(name: str) -> str:
    return resources.files("mlgate").joinpath("templates", name).read_text(encoding="utf-8")


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


def repository_root(path: Path) -> Path:
    """The top of the git repository holding `path`; mlgate adopts git repositories only."""
    top = _git(path, "rev-parse", "--show-toplevel")
    if not top:
        raise GitError(f"{path} is not inside a git repository; run `git init` first, then `mlgate init`")
    return Path(top)


def default_branch(root: Path) -> str:
    """The branch deploys run on: origin's default branch, else the current one, else main."""
    remote_head = _git(root, "symbolic-ref", "--short", "refs/remotes/origin/HEAD")
    if remote_head.startswith("origin/"):
        return remote_head.removeprefix("origin/")
    return _git(root, "symbolic-ref", "--short", "HEAD") or "main"


def _registry_text(root: Path) -> str:
    from mlgate.registry import Registry, dumps
    from mlgate.registry.lineage import default_model_name

    with contextlib.chdir(root):
        return dumps(Registry(model=default_model_name()))


def _files(root: Path, repository: str, ref: str | None) -> dict[str, str | None]:
    """Every file init writes, with its content; workflows are None until the mlgate ref is known."""
    docs = f"https://github.com/{repository}/blob/{release_tag()}/docs"
    schema = f"https://raw.githubusercontent.com/{repository}/{release_tag()}/src/mlgate/schemas/params.schema.json"
    values = {
        "REPOSITORY": repository,
        "REF": ref or "",
        "VERSION": __version__,
        "DOCS_URL": docs,
        "SCHEMA_URL": schema,
        "BRANCH": default_branch(root),
    }
    files: dict[str, str | None] = {
        "params.yaml": _fill(_template("params.yaml"), values),
        "dvc.yaml": _template("dvc.yaml"),
        "registry.yaml": _registry_text(root),
        VERSION_FILE: __version__ + "\n",
    }
    for name in WORKFLOWS:
        files[f".github/workflows/{name}"] = _fill(_template(f"workflows/{name}"), values) if ref else None
    return files


def _missing_ignores(root: Path) -> list[str]:
    path = root / ".gitignore"
    present = (
        {line.strip() for line in path.read_text(encoding="utf-8").splitlines()} if path.is_file() else set()
    )
    return [entry for entry in GITIGNORE_ENTRIES if entry not in present]


def _add_ignores(root: Path, entries: list[str]) -> None:
    path = root / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    block = "\n".join([GITIGNORE_HEADER, *entries]) + "\n"
    atomic_write_text(path, text + ("\n" if text and not text.endswith("\n") else "") + block)


def _dvc_init(root: Path) -> None:
    dvc = shutil.which("dvc")
    if not dvc:
        raise MissingDependencyError(
            "dvc is not installed; install mlgate with the pipeline extra: pip install 'mlgate[pipeline]'"
        )
    subprocess.run([dvc, "init", "--quiet"], cwd=root, check=True, capture_output=True, timeout=120)


def missing(root: Path) -> list[str]:
    """What `init` would still write in the repository at `root`."""
    root = repository_root(root)
    gaps = [name for name in _files(root, MLGATE_REPOSITORY, None) if not (root / name).exists()]
    if _missing_ignores(root):
        gaps.append(".gitignore entries: " + " ".join(_missing_ignores(root)))
    if not (root / ".dvc").is_dir():
        gaps.append(".dvc (dvc init)")
    return gaps


def init_project(root: Path, repository: str = MLGATE_REPOSITORY, ref: str | None = None) -> InitResult:
    """Write every missing mlgate file into the repository at `root`; never overwrite one."""
    root = repository_root(root)
    result = InitResult()
    workflows_missing = any(not (root / ".github/workflows" / name).exists() for name in WORKFLOWS)
    if workflows_missing and ref is None:
        ref = resolve_release(repository, release_tag())
    for name, content in _files(root, repository, ref).items():
        target = root / name
        if target.exists() or content is None:
            result.skipped.append(name)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, content)
        result.written.append(name)
    entries = _missing_ignores(root)
    if entries:
        _add_ignores(root, entries)
        result.written.append(".gitignore (" + " ".join(entries) + ")")
    else:
        result.skipped.append(".gitignore")
    if (root / ".dvc").is_dir():
        result.skipped.append(".dvc")
    else:
        _dvc_init(root)
        result.written.append(".dvc (dvc init)")
    return result
