"""The one place mlgate talks to git and DVC: a command runner, files at a revision, dvc.lock, the DVC cache.

Paths given here are relative to the folder a function is given (the project root), also at a revision:
`read_at(root, rev, "reports/metrics.json")` reads `<root>/reports/metrics.json` as it was at `rev`.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.errors import GitError, MissingDependencyError
from mlgate.yamldoc import dotted_get, parse_yaml

NETWORK_TIMEOUT = 60  # seconds for a command that asks a remote; local ones (a training) run unbounded
Reader = Callable[[str], bytes | None]


def _completed(args: list[str], cwd: Path, what: str, timeout: float | None, text: bool) -> Any:
    try:
        return subprocess.run(args, cwd=cwd, capture_output=True, text=text, timeout=timeout)
    except FileNotFoundError:
        raise MissingDependencyError(
            f"{Path(args[0]).name} is not installed; it is needed to {what}"
        ) from None
    except subprocess.TimeoutExpired:
        raise GitError(f"`{_shown(args)}` did not finish within {timeout:g}s ({what})") from None


def run(args: list[str], cwd: Path, what: str, timeout: float | None = None) -> str:
    """Run a git or DVC command to completion; a failure becomes a GitError with the tool's last lines."""
    result = _completed(args, cwd, what, timeout, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr.strip() or result.stdout.strip()).splitlines()[-15:])
        raise GitError(f"`{_shown(args)}` failed ({what}):\n{tail}".rstrip())
    return str(result.stdout)


def _shown(args: list[str]) -> str:
    return " ".join([Path(args[0]).name, *args[1:]])


def git(root: Path, *args: str, what: str = "read the git repository") -> str:
    """Run git in `root` and return its stdout; GitError with git's message when it fails."""
    return run(["git", *args], root, what)


def git_or_none(root: Path, *args: str) -> str | None:
    """git's stripped stdout, or None when git fails or is missing (a question, not an operation)."""
    try:
        return git(root, *args).strip()
    except (GitError, MissingDependencyError):
        return None


def toplevel(root: Path) -> Path:
    """The top folder of the git checkout holding `root`; GitError outside git."""
    top = git_or_none(root, "rev-parse", "--show-toplevel")
    if not top:
        raise GitError(f"{root} is not inside a git repository; run `git init` first")
    return Path(top)


def head(root: Path) -> str | None:
    """The commit checked out, or None outside git or before the first commit."""
    return git_or_none(root, "rev-parse", "HEAD")


def resolve_rev(root: Path, rev: str) -> str:
    """The commit a revision names; GitError saying how to fetch it when it names none."""
    sha = git_or_none(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if not sha:
        raise GitError(
            f"--base {rev!r} is not a revision of this repository "
            f"(fetch it first, e.g. `git fetch origin {rev}`)"
        )
    return sha


def read_at(root: Path, rev: str, path: str) -> bytes | None:
    """A git-tracked file's bytes at a revision; None when it is not there (or is a folder)."""
    args = ["git", "cat-file", "blob", f"{rev}:./{path}"]
    result = _completed(args, root, "read a file at a revision", None, text=False)
    return bytes(result.stdout) if result.returncode == 0 else None


def origin_slug(root: Path) -> str | None:
    """`owner/name` of the `origin` remote when it is on GitHub."""
    url = git_or_none(root, "remote", "get-url", "origin") or ""
    match = re.search(r"github\.com[:/]([^/\s]+/[^/\s]+?)(?:\.git)?/?\Z", url)
    return match.group(1) if match else None


def default_branch(root: Path) -> str:
    """The branch deploys run on: origin's default branch, else the current one, else main."""
    remote_head = git_or_none(root, "symbolic-ref", "--short", "refs/remotes/origin/HEAD") or ""
    if remote_head.startswith("origin/"):
        return remote_head.removeprefix("origin/")
    return git_or_none(root, "symbolic-ref", "--short", "HEAD") or "main"


def remote_tag_commit(root: Path, url: str, tag: str) -> str:
    """The commit a tag of a remote repository points at (peeled), read with `git ls-remote`."""
    refs = [f"refs/tags/{tag}", f"refs/tags/{tag}^{{}}"]
    listing = run(["git", "ls-remote", url, *refs], root, f"find mlgate {tag} at {url}", NETWORK_TIMEOUT)
    found = {ref: sha for sha, ref in (line.split("\t", 1) for line in listing.splitlines() if "\t" in line)}
    commit = found.get(refs[1]) or found.get(refs[0])
    if not commit:
        raise GitError(f"{url} has no tag {tag}")
    return commit


def tool(name: str) -> str:
    """A console script beside the running Python (the same install), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def dvc(root: Path, *args: str, what: str) -> str:
    """Run the DVC command line in `root`."""
    return run([tool("dvc"), *args], root, what)


@dataclass(frozen=True)
class DvcLock:
    """A parsed dvc.lock: what each stage last ran with and produced."""

    stages: dict[str, Any]

    @classmethod
    def parse(cls, text: str | bytes, source: str) -> DvcLock:
        data = parse_yaml(text, source).data
        stages = data.get("stages") if isinstance(data, dict) else None
        return cls(stages if isinstance(stages, dict) else {})

    def outs(self) -> dict[str, str]:
        """The md5 of every output, by path."""
        found = {
            str(out["path"]): str(out.get("md5", ""))
            for stage in self.stages.values()
            if isinstance(stage, dict)
            for out in stage.get("outs") or []
            if isinstance(out, dict) and "path" in out
        }
        return dict(sorted(found.items()))

    def staleness(self, params: dict[str, Any], params_file: str, read: Reader) -> str | None:
        """Why this lock does not match `params` and the git-tracked deps `read` gives; None when it does."""
        for name, stage in self.stages.items():
            for key, value in ((stage.get("params") or {}).get(params_file) or {}).items():
                if dotted_get(params, key, None) != value:
                    return f"stage {name}: param {key} changed since dvc.lock was written"
            for dep in stage.get("deps") or []:
                content = read(dep["path"]) if "md5" in dep else None
                if content is not None and hashlib.md5(content).hexdigest() != dep["md5"]:
                    return f"stage {name}: {dep['path']} changed since dvc.lock was written"
        return None


def dvc_root(root: Path) -> Path:
    """The DVC repository holding `root` (its folder with `.dvc/`); `root` itself when there is none."""
    try:
        from dvc.exceptions import NotDvcRepoError
        from dvc.repo import Repo
    except ImportError:
        return root
    try:
        return Path(Repo.find_root(str(root)))
    except NotDvcRepoError:
        return root


def dvc_reader(root: Path, rev: str) -> Reader:
    """Read a DVC-tracked output of the project at `root` at a revision (DVC cache, else remote); None when
    it cannot be read. Paths are relative to `root`, which may lie below the DVC repository's top."""
    try:
        import dvc.api
    except ImportError:
        raise MissingDependencyError(
            "reading pipeline outputs at a revision needs DVC: pip install 'mlgate[pipeline]'"
        ) from None
    top = dvc_root(root)
    prefix = root.resolve().relative_to(top.resolve())

    def read(path: str) -> bytes | None:
        # DVC signals a missing object in many ways (PathMissingError, DataIndexDirError, OSError, and
        # its own IsADirectoryError for a tracked folder, which dvc_folder reads)
        target = (prefix / path).as_posix()
        try:
            data: bytes = dvc.api.read(target, repo=str(top), rev=rev, mode="rb")
        except Exception:
            return None
        return data

    return read


def dvc_folder(root: Path, rev: str, path: str, target: Path) -> bool:
    """Copy a DVC-tracked folder of the project at `root`, at a revision, into `target` (DVC cache, else
    remote); False when it cannot be read."""
    from dvc.api import DVCFileSystem

    top = dvc_root(root)
    source = (root.resolve().relative_to(top.resolve()) / path).as_posix()
    try:
        fs = DVCFileSystem(str(top), rev=rev)
        if not fs.isdir(source):
            return False
        fs.get(source, str(target), recursive=True)
    except Exception:  # the same many ways as a file
        return False
    return True


def dvc_cache_dir(root: Path) -> Path:
    """The DVC cache folder as DVC reports it (`cache.dir` in any config level), or DVC's default."""
    top = dvc_root(root)
    try:
        from dvc.repo import Repo
    except ImportError:  # the serve extra alone: DVC's default place
        return top / ".dvc" / "cache"
    if not (top / ".dvc").is_dir():
        return top / ".dvc" / "cache"
    try:
        with Repo(str(top)) as repo:
            return Path(repo.cache.local_cache_dir)
    except Exception as exc:  # DVC raises its own types for a configuration it cannot read
        raise GitError(f"{top}: cannot read the DVC configuration: {exc}") from None


def cache_object(cache_dir: Path, md5: str) -> Path | None:
    """The file holding an output with this md5 in a DVC cache (3.x layout, else 2.x), when present."""
    if not md5 or md5.endswith(".dir"):
        return None
    for folder in (cache_dir / "files" / "md5", cache_dir):
        candidate = folder / md5[:2] / md5[2:]
        if candidate.is_file():
            return candidate
    return None


@contextlib.contextmanager
def worktree(root: Path, sha: str) -> Iterator[Path]:
    """A temporary git worktree of `sha`, sharing the checkout's DVC cache; yields `root`'s folder in it."""
    top, dvc_top = toplevel(root).resolve(), dvc_root(root).resolve()
    cache = dvc_cache_dir(root)
    with tempfile.TemporaryDirectory(prefix="mlgate-base-") as temp:
        tree = Path(temp) / "base"
        git(root, "worktree", "add", "--detach", "--quiet", str(tree), sha, what="check the base out")
        try:
            config = tree / dvc_top.relative_to(top) / ".dvc"
            if config.is_dir():
                (config / "config.local").write_text(f"[cache]\n    dir = {cache}\n", encoding="utf-8")
            yield tree / root.resolve().relative_to(top)
        finally:
            git_or_none(root, "worktree", "remove", "--force", str(tree))
            git_or_none(root, "worktree", "prune")


def checkout_cached(root: Path) -> None:
    """`dvc checkout` in `root` (a worktree holds only git's files): link in what the DVC cache holds, such
    as `dvc add`ed inputs; what the cache lacks is left for `dvc repro` to rebuild or name."""
    _completed([tool("dvc"), "checkout"], root, "check the base's DVC-tracked files out", None, text=True)


def pull_missing(root: Path, paths: list[str]) -> str | None:
    """`dvc pull` the DVC-tracked files among `paths` that the workspace lacks; a note when that failed."""
    lock = root / "dvc.lock"
    if not lock.is_file():
        return None
    tracked = DvcLock.parse(lock.read_bytes(), "dvc.lock").outs()
    wanted = [path for path in paths if path in tracked and not (root / path).exists()]
    if not wanted:
        return None
    try:
        dvc(root, "pull", "-q", *wanted, what="fetch the reference outputs")
    except (GitError, MissingDependencyError) as exc:
        return f"could not pull {', '.join(wanted)}: {str(exc).splitlines()[0]}"
    return None
