"""`mlgate report` and `mlgate gate` end to end: real git repos, real `dvc repro`, real Mermaid parsing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from rich.console import Console
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, roc_auc_score

from conftest import BIN, ROOT, commit_all, init_repo, mlgate, read_params, repro, run, write_params
from mlgate import __version__, api, cli
from mlgate.project import Project
from mlgate.report.markdown import render_markdown
from mlgate.report.terminal import print_report

pytestmark = pytest.mark.slow
GOLDEN = ROOT / "tests" / "golden"
MERMAID_CHECK = ROOT / "tests" / "mermaid" / "check.mjs"
FLOAT_NOISE = re.compile(r"\d\.\d{7,}")
SECTIONS = [
    "<!-- mlgate-report -->",
    "### Metrics",
    "### Params changes",
    "### Data changes",
    "### Plots",
    "<details>",
]


def check_mermaid(markdown: Path) -> None:
    """Parse every mermaid block with mermaid.parse under jsdom; skip only when node is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (MERMAID_CHECK.parent / "node_modules" / "mermaid").is_dir():
        pytest.fail("the mermaid checker is not installed: npm ci --prefix tests/mermaid")
    result = subprocess.run([node, MERMAID_CHECK, markdown], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 invalid" in result.stdout


def structure(markdown: str) -> str:
    """The markdown with every number, sha and version replaced, for golden comparison."""
    text = re.sub(r"`[0-9a-f]{8}`", "`SHA`", markdown)
    text = text.replace(f"mlgate {__version__}", "mlgate VERSION")
    return re.sub(r"(?<![\w#.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", "N", text)


def assert_golden(markdown: str, name: str) -> None:
    path = GOLDEN / name
    if os.environ.get("MLGATE_UPDATE_GOLDEN") or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(structure(markdown))
    assert structure(markdown) == path.read_text(), f"{name} differs; MLGATE_UPDATE_GOLDEN=1 rewrites it"


def report_json(repo: Path, base: str, reproduce: bool = True) -> dict[str, Any]:
    """The report as `--format json` gives it, computed in-process (a CLI start costs seconds)."""
    return json.loads(api.render_report(api.report(Project.at(repo), base, reproduce), "json"))


def report_md(repo: Path, base: str, out: Path, through_cli: bool = False) -> str:
    """Write the markdown report to `out` as `mlgate report --out` does; return it."""
    if through_cli:
        result = mlgate("report", "--base", base, "--out", out, cwd=repo)
        assert result.returncode == 0, result.stderr
    else:
        api.write_report(api.report(Project.at(repo), base), out)
    return out.read_text()


def branch_with(repo: Path, name: str, change: dict[str, Any]) -> None:
    """Create a branch whose params.yaml merges `change`, reproduce it and commit."""
    run("git", "checkout", "-q", "-b", name, cwd=repo)
    params = read_params(repo)
    for section, values in change.items():
        params.setdefault(section, {})
        params[section] = {**params[section], **values} if isinstance(values, dict) else values
    write_params(repo, params)
    repro(repo)
    commit_all(repo, f"{name}: change params")


def gated(repo: Path, gates: dict[str, Any], base: str = "main") -> None:
    """The same gates on `base`, whose policy judges the PR, and in the PR's workspace."""
    params = read_params(repo)
    params["gates"] = gates
    write_params(repo, params)
    on_base(repo, {"gates": gates}, base)


def on_base(repo: Path, sections: dict[str, Any], base: str = "main") -> None:
    """Commit params.yaml sections on `base`, through a temporary worktree."""
    tree = repo.parent / f"{repo.name}-{base}"
    run("git", "worktree", "add", "-q", str(tree), base, cwd=repo)
    try:
        params = read_params(tree)
        params.update(sections)
        write_params(tree, params)
        commit_all(tree, "policy")
    finally:
        run("git", "worktree", "remove", "--force", str(tree), cwd=repo)


def sk_predictions(repo: Path) -> pd.DataFrame:
    return pd.read_parquet(repo / "reports" / "predictions.parquet")


def by_metric(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["metric"]: row for row in report["metrics"]}


@pytest.fixture(scope="module")
def showcase(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main with a trained model; the workspace is branch `pr`, which weakens the model (max_depth 8 → 2)."""
    repo = tmp_path_factory.mktemp("report") / "repo"
    shutil.copytree(trained_template, repo, symlinks=True)
    model = read_params(repo)["model"]
    branch_with(repo, "pr", {"model": {**model, "params": {**model["params"], "max_depth": 2}}})
    return repo


@pytest.fixture
def scratch(showcase: Path, tmp_path: Path) -> Path:
    """A private copy of the showcase, to change."""
    target = tmp_path / "scratch"
    shutil.copytree(showcase, target, symlinks=True)
    return target


def test_numbers_match_metrics_computed_independently(showcase: Path, trained_template: Path) -> None:
    report = report_json(showcase, "main")
    base, pr = sk_predictions(trained_template), sk_predictions(showcase)
    rows = by_metric(report)
    for side, frame in (("base", base), ("pr", pr)):
        assert rows["roc_auc"][side] == pytest.approx(
            roc_auc_score(frame["target"], frame["proba_1"]), abs=1e-6
        )
        assert rows["accuracy"][side] == pytest.approx(
            accuracy_score(frame["target"], frame["prediction"]), abs=1e-6
        )
        assert rows["log_loss"][side] == pytest.approx(
            log_loss(frame["target"], frame[["proba_0", "proba_1"]]), abs=1e-6
        )
    assert rows["accuracy"]["delta"] == pytest.approx(
        rows["accuracy"]["pr"] - rows["accuracy"]["base"], abs=2e-6
    )
    assert report["statistics"]["method"] == "paired"
    low, high = rows["accuracy"]["delta_ci"]
    reference = _paired_accuracy_interval(base, pr, samples=2000)
    assert low == pytest.approx(reference[0], abs=0.012) and high == pytest.approx(reference[1], abs=0.012)
    assert report["base"]["source"] == "dvc-cache" and report["base"]["mlgate_version"] == __version__


def _paired_accuracy_interval(base: pd.DataFrame, pr: pd.DataFrame, samples: int) -> tuple[float, float]:
    """A textbook paired bootstrap: resample row ids, score both models on the same rows."""
    aligned = base.set_index("row_id").loc[pr["row_id"]]
    base_hit = (aligned["target"].to_numpy() == aligned["prediction"].to_numpy()).astype(float)
    pr_hit = (pr["target"].to_numpy() == pr["prediction"].to_numpy()).astype(float)
    rng = np.random.default_rng(123)
    picks = rng.integers(0, len(pr), size=(samples, len(pr)))
    deltas = pr_hit[picks].mean(axis=1) - base_hit[picks].mean(axis=1)
    low, high = np.percentile(deltas, [2.5, 97.5])
    return float(low), float(high)


def test_markdown_structure_order_and_validity(showcase: Path, tmp_path: Path) -> None:
    markdown = report_md(showcase, "main", tmp_path / "report.md", through_cli=True)
    assert markdown.startswith("<!-- mlgate-report -->\n")
    positions = [markdown.index(marker) for marker in SECTIONS]
    assert positions == sorted(positions)
    assert "| `model.params.max_depth` | `8` | `2` |" in markdown
    assert "paired percentile bootstrap" in markdown
    assert "read from the DVC cache" in markdown
    assert not FLOAT_NOISE.search(markdown)
    assert (tmp_path / "report.full.md").read_text() == markdown  # under the budget, nothing is cut
    assert_golden(markdown, "report_classification.md")
    check_mermaid(tmp_path / "report.md")


def test_json_and_gate_give_the_same_verdict(showcase: Path) -> None:
    report = report_json(showcase, "main")
    gate = mlgate("gate", "--base", "main", cwd=showcase)
    assert gate.returncode == (0 if report["gate"]["passed"] else 1)
    assert report["headline"]["reason"] in gate.stdout.replace("\n", " ")
    assert not FLOAT_NOISE.search(json.dumps(report))


def test_gate_reads_a_json_report(showcase: Path, tmp_path: Path) -> None:
    data = api.report(Project.at(showcase), "main")
    data["gate"] = {
        "passed": False,
        "reason": "roc_auc fell",
        "checks": [],
    }  # the file's verdict is what counts
    (tmp_path / "report.json").write_text(api.render_report(data, "json"))
    assert cli.main(["gate", "--report", str(tmp_path / "report.json")]) == 1
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    assert cli.main(["gate", "--report", str(tmp_path / "other.json")]) == 2


@pytest.mark.parametrize(
    ("gates", "code", "fragment"),
    [
        ({}, 0, "all 1 gate check(s) passed"),
        ({"metrics": {"roc_auc": {"min": 0.999}}}, 1, "is below the minimum 0.9990"),
        ({"metrics": {"log_loss": {"max": 0.05}}}, 1, "is above the maximum 0.0500"),
        ({"metrics": {"log_loss": {"max_drop": 0.01}}}, 1, "log_loss dropped"),
        ({"metrics": {"log_loss": {"max_drop": "1000%"}}}, 0, "passed"),
        ({"metrics": {"log_loss": {"max_drop": "10%", "require_significant": True}}}, 1, "over max_drop 10%"),
        ({"metrics": {"accuracy": {"max_drop": 0.001, "require_significant": True}}}, 0, "passed"),
        ({"metrics": {"accuracy": {"max_drop": 0.001}}}, 1, "accuracy dropped"),
        ({"metrics": {"rmse": {"max": 1}}}, 2, "rmse is not a classification metric"),
    ],
)
def test_gate_exit_codes(
    scratch: Path, capsys: pytest.CaptureFixture[str], gates: dict, code: int, fragment: str
) -> None:
    report = report_json(scratch, "main") if not gates else None
    if report is not None:  # the premises the cases rely on: log_loss significantly worse, accuracy not
        assert by_metric(report)["log_loss"]["verdict"] == "worse"
        assert by_metric(report)["accuracy"]["verdict"] == "no significant change"
    gated(scratch, gates)
    assert cli.main(["-C", str(scratch), "gate", "--base", "main"]) == code
    captured = capsys.readouterr()
    assert fragment in " ".join((captured.out + captured.err).split())


LOG_LOSS_GATE = {"metrics": {"log_loss": {"max_drop": 0.01}}}  # the showcase's PR breaks it


@pytest.mark.parametrize(
    ("pr_gates", "base_gates"),
    [
        ({}, LOG_LOSS_GATE),  # the PR drops the gate it fails
        ({"metrics": {"log_loss": {"max_drop": 10.0}}}, LOG_LOSS_GATE),  # ...or loosens it
        ({"policy_from": "head"}, LOG_LOSS_GATE),  # ...or asks for its own rules
    ],
    ids=["drops", "loosens", "policy-from-head"],
)
def test_a_pr_is_judged_by_the_base_s_rules(
    scratch: Path, tmp_path: Path, pr_gates: dict[str, Any], base_gates: dict[str, Any]
) -> None:
    on_base(scratch, {"gates": base_gates})
    params = read_params(scratch)
    params["gates"] = pr_gates
    write_params(scratch, params)
    report = report_json(scratch, "main")
    assert not report["gate"]["passed"] and "log_loss dropped" in report["gate"]["reason"]
    assert report["policy"]["source"] == "base" and report["policy"]["pending"]
    assert all(change["key"].startswith("gates") for change in report["policy"]["pending"])
    markdown = report_md(scratch, "main", tmp_path / "policy.md")
    assert "### Policy changes (apply after merge)" in markdown and "This verdict uses `main`'s" in markdown
    assert mlgate("gate", "--base", "main", cwd=scratch).returncode == 1


def test_a_base_that_sets_policy_from_head_lets_the_pr_judge_itself(scratch: Path, tmp_path: Path) -> None:
    on_base(scratch, {"gates": {**LOG_LOSS_GATE, "policy_from": "head"}})
    params = read_params(scratch)
    params["gates"] = {"policy_from": "head"}
    write_params(scratch, params)
    report = report_json(scratch, "main")
    assert report["gate"]["passed"] and report["policy"]["source"] == "head"
    markdown = report_md(scratch, "main", tmp_path / "head.md")
    assert "⚠️ main sets gates.policy_from: head, so pull requests are judged by their own policy" in markdown


def test_a_pr_that_shrinks_its_test_set_fails(scratch: Path) -> None:
    params = read_params(scratch)
    params["data"]["split"] = {**params["data"]["split"], "test_size": 0.02}
    write_params(scratch, params)
    repro(scratch)
    report = report_json(scratch, "main")
    check = report["gate"]["checks"][0]
    assert check["gate"] == "min_test_rows" and check["status"] == "fail", check
    assert "fewer than the 72 it needs (half the 143 test rows of main, and at least 30)" in check["message"]
    assert [c["key"] for c in report["policy"]["pending"]] == ["data.split.test_size"]
    assert mlgate("gate", "--base", "main", cwd=scratch).returncode == 1


def test_a_base_whose_model_was_never_recorded_is_also_compared_with_the_last_recorded_version(
    scratch: Path, tmp_path: Path
) -> None:
    """main's registry records a model that is not main's (main's deploy was refused): the report adds the
    PR against that version, and says why; once main's own model is in the registry, it does not."""
    from mlgate.report.recorded import unrecorded_base
    from mlgate.report.sides import Outputs

    assert mlgate("registry", "record", "--no-tag", cwd=scratch).returncode == 0  # the PR's model, as v1
    tree = scratch.parent / "registry-on-main"
    run("git", "worktree", "add", "-q", str(tree), "main", cwd=scratch)
    shutil.copy(scratch / "registry.yaml", tree / "registry.yaml")
    commit_all(tree, "registry")
    run("git", "worktree", "remove", "--force", str(tree), cwd=scratch)
    (scratch / "registry.yaml").unlink()
    report = report_json(scratch, "main")
    recorded = report["recorded"]
    assert recorded["version"] == 1 and {row["metric"] for row in recorded["rows"]} >= {"roc_auc", "log_loss"}
    assert all(row["delta"] == 0 for row in recorded["rows"])  # v1 is the PR's own model
    markdown = report_md(scratch, "main", tmp_path / "recorded.md")
    assert "### Against version 1, the last recorded" in markdown and "was never recorded" in markdown
    entry = yaml.safe_load(run("git", "show", "main:registry.yaml", cwd=scratch).stdout)["versions"][0]
    base = Outputs("dvc-cache", card={"sha256": entry["model"]["sha256"]})
    base.revision = run("git", "rev-parse", "main", cwd=scratch).stdout.strip()
    assert unrecorded_base(Project.at(scratch), base, "main") is None  # main's model is recorded


def test_bad_base_is_bad_input(showcase: Path) -> None:
    result = mlgate("report", "--base", "no-such-branch", cwd=showcase)
    assert result.returncode == 2
    assert "'no-such-branch' is not a revision of this repository" in result.stderr


def test_first_pr_reports_absolute_values(scratch: Path, tmp_path: Path) -> None:
    """A base without the pipeline: 'no baseline', absolute values with CIs, only absolute gates."""
    blob = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        input="# before mlgate\n",
        text=True,
        capture_output=True,
        cwd=scratch,
        check=True,
    ).stdout.strip()
    tree = subprocess.run(
        ["git", "mktree"],
        input=f"100644 blob {blob}\tREADME.md\n",
        text=True,
        capture_output=True,
        cwd=scratch,
        check=True,
    ).stdout.strip()
    commit = run("git", "commit-tree", tree, "-m", "before mlgate", cwd=scratch).stdout.strip()
    run("git", "branch", "empty", commit, cwd=scratch)
    gated(scratch, {"metrics": {"roc_auc": {"min": 0.5, "max_drop": 0.0}}})
    markdown = report_md(scratch, "empty", tmp_path / "first.md")
    assert "**✅ Gates passed**: all 2 gate check(s) passed, 1 skipped" in markdown
    assert "⚠️ empty has no params.yaml, so this first pull request is judged by its own policy." in markdown
    assert "No baseline on empty: absolute values only; only min/max gates apply." in markdown
    assert "### Metrics (no baseline on `empty`)" in markdown
    assert "| Metric | PR | 95% CI |" in markdown
    assert "➖ `roc_auc.max_drop`: roc_auc: no baseline on empty, max_drop not checked" in markdown
    assert not FLOAT_NOISE.search(markdown)
    assert_golden(markdown, "report_first_pr.md")
    check_mermaid(tmp_path / "first.md")


def test_added_and_removed_metrics(scratch: Path) -> None:
    branch_with(
        scratch,
        "fewer",
        {"evaluate": {**read_params(scratch)["evaluate"], "metrics": ["accuracy", "roc_auc"]}},
    )
    removed = by_metric(report_json(scratch, "pr"))
    assert removed["f1"]["status"] == "removed" and removed["f1"]["pr"] is None
    assert removed["roc_auc"]["status"] == "both"
    run("git", "checkout", "-q", "pr", cwd=scratch)
    run(BIN / "dvc", "checkout", "-q", cwd=scratch)
    added = report_json(scratch, "fewer")
    assert by_metric(added)["log_loss"]["status"] == "added"
    assert "| f1 ↑ | — | " in render_markdown(added) and "added in this PR" in render_markdown(added)


def test_uncommitted_lock_is_noted(scratch: Path) -> None:
    (scratch / "dvc.lock").write_text(run("git", "show", "main:dvc.lock", cwd=scratch).stdout)
    commit_all(scratch, "stale lock")
    (scratch / "dvc.lock").write_text(run("git", "show", "HEAD~1:dvc.lock", cwd=scratch).stdout)
    note = report_json(scratch, "main")["lock_note"]
    assert note.startswith(
        "The committed dvc.lock differs from the one just reproduced (stages: evaluate, train)"
    )


def test_base_missing_from_cache_is_reproduced_in_a_worktree(scratch: Path, showcase: Path) -> None:
    cached = report_json(showcase, "main")
    shutil.rmtree(scratch / ".dvc" / "cache")
    rebuilt = report_json(scratch, "main")
    assert rebuilt["base"]["source"] == "worktree"
    assert rebuilt["base"]["how"].startswith(
        f"reproduced in a temporary git worktree with mlgate {__version__}"
    )
    assert "neither the DVC cache nor a remote" in rebuilt["base"]["how"]
    assert rebuilt["metrics"] == cached["metrics"]  # training is seeded: the rebuilt base is the same base
    assert run("git", "worktree", "list", cwd=scratch).stdout.count("\n") == 1
    shutil.rmtree(scratch / ".dvc" / "cache")  # the worktree filled the shared cache; empty it again
    no_rebuild = report_json(scratch, "main", reproduce=False)
    assert no_rebuild["base"]["source"] == "none" and no_rebuild["headline"]["verdict"].startswith(
        "No baseline"
    )


def test_budget_cuts_slices_and_json_first(showcase: Path, tmp_path: Path) -> None:
    report = report_json(showcase, "main")
    group = {"rows": [40, 40], "value": [0.9, 0.8], "ci": [0.7, 0.9], "judged": [True, True]}
    groups = {f"group-{g}": group for g in range(20)}
    gap = {"max_gap": [0.1, 0.2], "gap_ci": [0.05, 0.3], "gap_p": 0.2, "min_rows": 30}
    report["slices"] = {f"column_{c}": {"metric": "roc_auc", "groups": groups, **gap} for c in range(60)}
    report["metrics_json"]["pr"]["padding"] = ["x" * 100] * 700
    markdown = render_markdown(report, budget=60_000)
    assert len(markdown) <= 60_000
    assert "Left out to fit a GitHub comment" in markdown
    assert "metrics JSON was left out" in markdown
    assert "### Plots" in markdown and markdown.rstrip().endswith("as an artifact.</sub>")
    assert len(render_markdown(report, budget=0)) > 60_000
    (tmp_path / "cut.md").write_text(markdown)
    check_mermaid(tmp_path / "cut.md")


def test_terminal_rendering(showcase: Path) -> None:
    console = Console(record=True, width=140)
    print_report(console, report_json(showcase, "main"))
    text = console.export_text()
    assert "mlgate report: main → workspace" in text
    assert "model.params.max_depth (changed)" in text
    assert re.search(r"roc_auc ↑ .*0\.99", text)


TASKS = {
    "multiclass": {
        "data": {"source": "sklearn:wine", "target": "target", "split": {"test_size": 0.3, "seed": 1}},
        "model": {
            "task": "classification",
            "estimator": "sklearn.ensemble.RandomForestClassifier",
            "params": {"n_estimators": 30, "max_depth": 4, "n_jobs": 1},
        },
        "evaluate": {"primary": "roc_auc"},
        "serve": {"trusted_types": []},
    },
    "regression": {
        "data": {"source": "sklearn:diabetes", "target": "target", "split": {"stratify": False}},
        "model": {
            "task": "regression",
            "estimator": "sklearn.ensemble.RandomForestRegressor",
            "params": {"n_estimators": 30, "max_depth": 6, "n_jobs": 1},
        },
        "evaluate": {"primary": "rmse", "slices": ["sex"]},
        "serve": {"trusted_types": []},
    },
}


def task_repo(root: Path, task: str, change: dict[str, Any]) -> Path:
    params = yaml.safe_load(yaml.safe_dump(TASKS[task]))
    params["evaluate"].update(
        {"bootstrap": {"samples": 200, "seed": 0}, "permutation_importance": {"max_rows": 100, "repeats": 2}}
    )
    repo = init_repo(root / task, params)
    repro(repo)
    commit_all(repo, "train")
    branch_with(repo, "pr", change)
    return repo


def test_multiclass_with_a_new_split_is_compared_on_shared_rows_and_fails_for_too_few(tmp_path: Path) -> None:
    """A new seed reshuffles the test set: only the rows both share are compared, and too few fail."""
    repo = task_repo(
        tmp_path,
        "multiclass",
        {"data": {**TASKS["multiclass"]["data"], "split": {"test_size": 0.3, "seed": 2}}},
    )
    report = report_json(repo, "main")
    stats = report["statistics"]
    assert stats["method"] == "paired" and report["data"]["test_hash_changed"]
    assert 0 < stats["shared_rows"] < 30 and not report["gate"]["passed"]
    assert report["gate"]["checks"][0]["gate"] == "min_test_rows" and report["policy"]["source"] == "base"
    assert [c["key"] for c in report["policy"]["pending"]] == ["data.split.seed"]
    frame = sk_predictions(repo)
    proba = frame[["proba_0", "proba_1", "proba_2"]].to_numpy()
    rows = by_metric(report)
    assert rows["roc_auc"]["pr"] == pytest.approx(
        roc_auc_score(frame["target"], proba, multi_class="ovr"), abs=1e-6
    )
    assert rows["accuracy"]["pr"] == pytest.approx(
        accuracy_score(frame["target"], frame["prediction"]), abs=1e-6
    )
    assert len(report["charts"]["confusion"]["labels"]) == 3
    markdown = report_md(repo, "main", tmp_path / "multiclass.md")
    assert "paired percentile bootstrap" in markdown and "| `data.split.seed` | `1` | `2` |" in markdown
    assert "### Policy changes (apply after merge)" in markdown and "**❌ Gates failed**" in markdown
    assert not FLOAT_NOISE.search(markdown)
    check_mermaid(tmp_path / "multiclass.md")


def test_regression_with_slices_and_a_slice_gap_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = TASKS["regression"]["model"]
    repo = task_repo(
        tmp_path, "regression", {"model": {**model, "params": {**model["params"], "max_depth": 2}}}
    )
    report = report_json(repo, "main")
    frame = sk_predictions(repo)
    rmse = float(np.sqrt(mean_squared_error(frame["target"], frame["prediction"])))
    assert by_metric(report)["rmse"]["pr"] == pytest.approx(rmse, abs=1e-6)
    assert report["statistics"]["method"] == "paired"
    assert set(report["charts"]) >= {"predicted_vs_actual", "importance"} and "roc" not in report["charts"]
    markdown = report_md(repo, "main", tmp_path / "regression.md")
    assert "### Sliced metrics" in markdown and "**sex** (rmse)" in markdown
    assert "rmse ↓" in markdown and not FLOAT_NOISE.search(markdown)
    assert_golden(markdown, "report_regression.md")
    check_mermaid(tmp_path / "regression.md")
    gap = report["metrics_json"]["pr"]["slices"]["sex"]["max_gap"]["rmse"]
    gated(repo, {"slice_gap": {"max": round(gap / 2, 4)}})
    assert cli.main(["-C", str(repo), "gate", "--base", "main"]) == 1
    assert "largest rmse gap across sex" in capsys.readouterr().out
    gated(repo, {"slice_gap": {"max": round(gap + 1, 4)}})
    assert cli.main(["-C", str(repo), "gate", "--base", "main"]) == 0


def test_the_documented_example_is_valid_mermaid() -> None:
    check_mermaid(ROOT / "docs" / "report.md")


def test_training_data_that_moved_is_listed(scratch: Path) -> None:
    """A PR whose data scales one feature: the report names it among the moved features, binned with the
    base's reference profile; the features it left alone are not listed."""
    raw = scratch / "data/raw/breast_cancer.csv"
    frame = pd.read_csv(raw)
    frame["mean radius"] = frame["mean radius"] * 1.5
    frame.to_csv(raw, index=False)
    repro(scratch)
    commit_all(scratch, "rescale mean radius")
    moved = {m["feature"]: m for m in report_json(scratch, "main")["data"]["moved_features"]}
    assert "mean radius" in moved and moved["mean radius"]["psi"] > 0.2
    assert "distribution" in moved["mean radius"]["why"]
    assert "mean texture" not in moved


def test_a_stale_base_with_dvc_added_data_is_reproduced(tmp_path: Path) -> None:
    """The raw CSV is `dvc add`ed, not in git, so a worktree of the base lacks it until it is checked out
    from the shared cache; the base's dvc.lock is stale, so the base is reproduced there."""
    repo = init_repo(tmp_path / "repo")
    raw = "data/raw/breast_cancer.csv"
    run("git", "rm", "-q", "--cached", raw, cwd=repo)
    run(BIN / "dvc", "add", "-q", raw, cwd=repo)
    repro(repo)
    commit_all(repo, "train on dvc-added data")
    params = read_params(repo)
    params["evaluate"]["bootstrap"]["seed"] = 1  # the base's lock no longer matches its params
    write_params(repo, params)
    commit_all(repo, "change the seed, not reproduced")
    run("git", "checkout", "-q", "-b", "pr", cwd=repo)
    repro(repo)
    report = report_json(repo, "main")
    assert report["base"]["source"] == "worktree" and report["base"]["available"]
