"""`mlgate init`: adopt mlgate in an existing git repository, writing only what is missing."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from mlgate import __version__
from mlgate.config import default_section
from mlgate.errors import GitError
from mlgate.fsio import atomic_write_text
from mlgate.layout import LAYOUT
from mlgate.project import Project
from mlgate.registry.document import Registry, dumps, lock_path
from mlgate.registry.lineage import default_model_name
from mlgate.vcs import default_branch, dvc, origin_slug, remote_tag_commit, toplevel

# Where mlgate's reusable workflows live; `--mlgate-repository` points a fork or a mirror elsewhere.
MLGATE_REPOSITORY = "mlgate/mlgate"
WORKFLOWS = ("mlgate.yml", "mlgate-deploy.yml", "mlgate-promote.yml")
CODEOWNERS_PLACES = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")  # where GitHub looks, in order
GITIGNORE_HEADER = (
    "# mlgate: pipeline outputs live in DVC; the registry lock and the workflow's mlgate checkout are local"
)
# Pipeline outputs (DVC keeps them), the registry's write lock, and the workflows' mlgate checkout.
OUTPUT_FOLDERS = (LAYOUT.train.parent, LAYOUT.model.parent, LAYOUT.metrics.parent)
GITIGNORE_ENTRIES = (
    *(f"/{folder.as_posix()}/" for folder in OUTPUT_FOLDERS),
    lock_path(default_section("registry")["path"]).name,
    ".mlgate-src/",
    "/dvc_plots/",  # what `dvc plots show` writes
)


@dataclass
class InitResult:
    """What `init` did (or, with `check`, what is missing), as paths relative to the repository."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def release_tag(version: str = __version__) -> str:
    """The git tag of an mlgate release."""
    return f"v{version}"


def resolve_release(root: Path, repository: str, tag: str) -> str:
    """The commit a release tag of the mlgate repository points at, read with `git ls-remote`."""
    url = f"https://github.com/{repository}.git"
    try:
        return remote_tag_commit(root, url, tag)
    except GitError as exc:
        why = str(exc).strip().splitlines()[-1].removeprefix("fatal: ")
        raise GitError(
            f"cannot find the commit of mlgate {tag} at {url} ({why}); "
            "the workflows pin mlgate by commit, so pass it with --mlgate-ref <40-hex sha>"
        ) from None


def _template(name: str) -> str:
    return resources.files("mlgate").joinpath("templates", name).read_text(encoding="utf-8")


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def repository_root(project: Project) -> Project:
    """The project at the top of the git repository holding the root; mlgate adopts git repositories only."""
    try:
        return Project.at(toplevel(project.root))
    except GitError:
        raise GitError(
            f"{project.root} is not inside a git repository; run `git init` first, then `mlgate init`"
        ) from None


def _files(project: Project, repository: str, ref: str | None) -> dict[str, str | None]:
    """Every file init writes, with its content; workflows are None until the mlgate ref is known."""
    docs = f"https://github.com/{repository}/blob/{release_tag()}/docs"
    schema = f"https://raw.githubusercontent.com/{repository}/{release_tag()}/src/mlgate/schemas/params.schema.json"
    values = {
        "REPOSITORY": repository,
        "REF": ref or "",
        "VERSION": __version__,
        "DOCS_URL": docs,
        "SCHEMA_URL": schema,
        "BRANCH": default_branch(project.root),
    }
    registry = default_section("registry")["path"]
    files: dict[str, str | None] = {
        LAYOUT.params.as_posix(): _fill(_template("params.yaml"), values),
        LAYOUT.dvc_yaml.as_posix(): _template("dvc.yaml"),
        registry: dumps(Registry(model=default_model_name(project))),
        LAYOUT.version.as_posix(): __version__ + "\n",
    }
    for name in WORKFLOWS:
        files[f".github/workflows/{name}"] = _fill(_template(f"workflows/{name}"), values) if ref else None
    if not any((project.root / place).exists() for place in CODEOWNERS_PLACES):  # GitHub reads the first
        slug = origin_slug(project.root)
        owners = {"OWNER": f"@{slug.split('/')[0]}" if slug else "@OWNER", "REGISTRY": registry}
        files[CODEOWNERS_PLACES[0]] = _fill(_template("CODEOWNERS"), {**values, **owners})
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


def missing(project: Project) -> list[str]:
    """What `init` would still write in the repository holding the project."""
    top = repository_root(project)
    root = top.root
    gaps = [name for name in _files(top, MLGATE_REPOSITORY, None) if not (root / name).exists()]
    if _missing_ignores(root):
        gaps.append(".gitignore entries: " + " ".join(_missing_ignores(root)))
    if not (root / ".dvc").is_dir():
        gaps.append(".dvc (dvc init)")
    return gaps


def init_project(project: Project, repository: str = MLGATE_REPOSITORY, ref: str | None = None) -> InitResult:
    """Write every missing mlgate file into the repository holding the project; never overwrite one."""
    top = repository_root(project)
    root = top.root
    result = InitResult()
    workflows_missing = any(not (root / ".github/workflows" / name).exists() for name in WORKFLOWS)
    if workflows_missing and ref is None:
        ref = resolve_release(root, repository, release_tag())
    for name, content in _files(top, repository, ref).items():
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
        dvc(root, "init", "--quiet", what="set up DVC")
        result.written.append(".dvc (dvc init)")
    return result
