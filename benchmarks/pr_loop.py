"""Time the pull-request workflow under act, with installs warm, for three kinds of change.

An adopter repository (the trained example with a DVC remote) calls mlgate-pr.yml, exactly as in
tests/test_act_pr.py, whose harness this reuses. Each pull request is run once after a warm-up run:
- docs only: a README edit; every stage's outputs come from the remote, nothing is trained;
- params only: a shallower model; data is pulled, train and evaluate run;
- data: the source table changes (a CSV with 5% of the rows dropped); all three stages run.
The step-by-step breakdown (act's own step timings) goes to the "PR loop" section of docs/benchmarks.md.

Run: .venv/bin/python benchmarks/pr_loop.py
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1] / "tests")]

import yaml  # noqa: E402
from _common import write_section  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402

from conftest import BIN, commit_all, init_repo, read_params, repro  # noqa: E402
from test_act_pr import ActRun, World, assert_succeeded, build_world, open_pr, shallower_model  # noqa: E402

STEPS = {
    "Check out the pull request": "checkout",
    "Check out mlgate": "checkout mlgate",
    "Set up mlgate": "setup",
    "Reproduce the pipeline": "pipeline",
    "Report": "report",
    "Gate": "gate",
}
DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:([\d.]+)s)?(?:([\d.]+)ms)?(?:([\d.]+)µs)?$")
CALLER = ".github/workflows/mlgate.yml"


def seconds(text: str) -> float:
    """A Go duration as act prints it (1m2.5s, 21.4s, 196ms) in seconds."""
    h, m, s, ms, us = (float(x) if x else 0.0 for x in DURATION.match(text).groups())  # type: ignore[union-attr]
    return h * 3600 + m * 60 + s + ms / 1e3 + us / 1e6


def step_times(result: ActRun) -> dict[str, float]:
    """The wall time of each top-level workflow step, from act's `Success - Main <step> [time]` lines."""
    times: dict[str, float] = {}
    for name, label in STEPS.items():
        found = re.findall(rf"(?:Success|Failure) - Main {re.escape(name)} \[([^\]]+)\]", result.log)
        times[label] = seconds(found[-1]) if found else 0.0
    return times


def docs_change(repo: Path) -> None:
    (repo / "README.md").write_text("# shop\n\nA model of tumour diagnoses.\n")


def data_change(repo: Path) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    raw = repo / "data" / "raw" / "breast_cancer.csv"
    raw.parent.mkdir(parents=True, exist_ok=True)
    frame.sample(frac=0.95, random_state=1).to_csv(raw, index=False)
    # A file source must be a dependency of the data stage (mlgate validate checks it).
    pipeline = yaml.safe_load((repo / "dvc.yaml").read_text())
    pipeline["stages"]["data"]["deps"].append("data/raw/breast_cancer.csv")
    (repo / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))


def run_pr(world: World, branch: str, number: int, params: dict, change=None) -> ActRun:
    """Open a pull request on the adopter repository (params plus an optional file change) and run it."""
    event = open_pr(world, world.adopter_repo, "acme/shop", branch, params, number=number, change=change)
    result = world.act(world.adopter_repo, CALLER, event)
    assert_succeeded(result)
    return result


def table(results: dict[str, ActRun]) -> str:
    header = "| change | " + " | ".join(STEPS.values()) + " | act total |\n|---|" + "---:|" * (len(STEPS) + 1)
    rows = []
    for change, result in results.items():
        times = step_times(result)
        cells = " | ".join(f"{times[label]:.1f}" for label in STEPS.values())
        rows.append(f"| {change} | {cells} | **{result.seconds:.1f}** |")
    return header + "\n" + "\n".join(rows)


def isolate(home: Path) -> None:
    """The template repository is built with this process's environment: keep it off the real home."""
    home.mkdir(parents=True)
    (home / ".gitconfig").write_text("[user]\n\tname = mlgate bench\n\temail = bench@mlgate.invalid\n")
    os.environ.update(
        HOME=str(home),
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        GIT_CONFIG_NOSYSTEM="1",
        XDG_CACHE_HOME=str(home / ".cache"),
        DVC_NO_ANALYTICS="1",
        ITERATIVE_DO_NOT_TRACK="1",
        BENTOML_DO_NOT_TRACK="true",
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mlgate-pr-loop-") as tmp:
        root = Path(tmp)
        isolate(root / "home")
        template = init_repo(root / "template" / "repo")
        repro(template)
        commit_all(template, "train")
        world = build_world(root / "world", template)
        base = read_params(template)
        run_pr(world, "warm-up", 1, base, docs_change)
        data_params = {**base, "data": {**base["data"], "source": "data/raw/breast_cancer.csv"}}
        results = {
            "docs only (README)": run_pr(world, "docs", 2, base, docs_change),
            "params only (max_depth, n_estimators)": run_pr(world, "params", 3, shallower_model(base)),
            "data (source table, 5% rows dropped)": run_pr(world, "data", 4, data_params, data_change),
        }
    body = (
        "The PR workflow (`mlgate-pr.yml` called by an adopter repository) under act in host mode, "
        "warm installs (`MLGATE_PYTHON`, no uv install), the example pipeline with the tests' fast "
        "evaluate settings, the base's outputs and run-cache in a local DVC remote. Seconds per "
        "workflow step, from act's step timings; `report` includes reading the base and the "
        "stand-in CML comment. One run per change after a warm-up run, on the shared 2-core machine. "
        "Regenerate with `python benchmarks/pr_loop.py`.\n\n" + table(results)
    )
    write_section("PR loop", body)
    print(body)


if __name__ == "__main__":
    main()
