"""The dask engine on a real cluster (`dask scheduler` and two `dask worker` processes on loopback, 1 GB
each), against the local engine on the same data: the same splits and profiles, the same point metrics,
CIs within a stated tolerance, and clear errors for a cluster that cannot be used."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import reduce
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import mlgate
import tabular
from cluster import Cluster, cluster, make_certificates
from conftest import BIN, commit_all, repro, run
from conftest import mlgate as run_mlgate
from mlgate.cluster import data as cluster_data
from mlgate.cluster import slices as cluster_slices
from mlgate.compute import LocalEngine
from mlgate.errors import DataValidationError
from mlgate.project import Project
from mlgate.slicing import MAX_SLICE_GROUPS, group_labels
from mlgate.stages import run_stage

pytestmark = pytest.mark.slow
CI_TOLERANCE = 0.35  # a CI end may differ from the local engine's by this share of the local CI's width
SLICE_CI_TOLERANCE = 0.5  # the same for a slice group's CI and the gap's
RESAMPLES = 200


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(tmp_path_factory.mktemp("dask")) as running:
        yield running


def project_of(root: Path, dataset: tabular.Dataset, files: int = 3, kind: str = "parquet") -> dict[str, Any]:
    """The dataset as `files` Parquet (or CSV) files under data/raw/parts, with params for the hash split."""
    parts = root / "data" / "raw" / "parts"
    parts.mkdir(parents=True)
    rows = len(dataset.frame)
    for index in range(files):
        chunk = dataset.frame.iloc[index * rows // files : (index + 1) * rows // files]
        if kind == "csv":
            chunk.to_csv(parts / f"batch-{index}.csv", index=False)
        else:
            chunk.to_parquet(parts / f"batch-{index}.parquet", index=False)
    (root / ".mlgate").mkdir()
    (root / ".mlgate" / "version").write_text(mlgate.__version__ + "\n")
    params = json.loads(json.dumps(dataset.params))
    params["data"].update(source="data/raw/parts" if kind == "parquet" else "data/raw/parts/*.csv")
    params["data"]["split"]["method"] = "hash"
    params["evaluate"].pop("slices", None)
    params["evaluate"]["bootstrap"]["samples"] = RESAMPLES
    write(root, params)
    return params


def write(root: Path, params: dict[str, Any]) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def on_dask(params: dict[str, Any], running: Cluster) -> dict[str, Any]:
    return {**params, "compute": {"engine": "dask", "address": running.address}}


def by_row(path: Path) -> pd.DataFrame:
    """A Parquet file or folder, sorted by row id."""
    return pd.read_parquet(path).sort_values("row_id", ignore_index=True)


def outputs(root: Path) -> dict[str, Any]:
    read = lambda name: json.loads((root / name).read_text())  # noqa: E731
    return {
        "train": by_row(root / "data/prepared/train.parquet"),
        "test": by_row(root / "data/prepared/test.parquet"),
        "profile": read("reports/reference_profile.json"),
        "summary": read("reports/data.json"),
        "metrics": read("reports/metrics.json"),
    }


def assert_same_profile(local: dict[str, Any], dask: dict[str, Any], train: pd.DataFrame) -> None:
    """Equal but for where the quantile edges fall, each within the stated rank error."""
    error = dask["quantile_rank_error"]
    assert 0 < error < 0.01
    for name, expected in local["features"].items():
        found = dask["features"][name]
        assert found["kind"] == expected["kind"] and found["null_rate"] == pytest.approx(
            expected["null_rate"]
        )
        if expected["kind"] == "categorical":
            assert found["counts"] == expected["counts"]
            continue
        for stat in ("mean", "std", "min", "max"):
            assert found[stat] == pytest.approx(expected[stat], rel=1e-9)
        values = np.sort(train[name].dropna().to_numpy(float))
        targets = (
            np.linspace(0, 1, len(found["counts"]) + 1)[1:-1]
            if len(found["edges"]) == len(expected["edges"])
            else None
        )
        assert sum(found["counts"]) == sum(expected["counts"])
        if targets is not None:
            ranks = np.searchsorted(values, found["edges"], side="left") / len(values)
            assert np.all(np.abs(ranks - targets) <= error + 1.0 / len(values))


def assert_same_metrics(local: dict[str, Any], dask: dict[str, Any]) -> None:
    for name, expected in local.items():
        if not isinstance(expected, dict) or "value" not in expected:
            continue
        found = dask[name]
        bound = found.get("error_bound", 0.0)
        assert abs(found["value"] - expected["value"]) <= bound + 1e-9 * max(1.0, abs(expected["value"]))
        width = expected["ci_high"] - expected["ci_low"]
        for end in ("ci_low", "ci_high"):
            assert abs(found[end] - expected[end]) <= CI_TOLERANCE * width + 1e-12, (name, end)
    assert dask["n_test"] == local["n_test"]
    assert dask["bootstrap"] == {"method": "poisson", "samples": RESAMPLES}


@pytest.mark.parametrize(
    ("make", "kind"),
    [(make, "parquet") for make in tabular.DATASETS] + [(tabular.imbalanced, "csv")],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_the_dask_engine_gives_the_local_engines_answers(
    make: Any, kind: str, dask_cluster: Cluster, tmp_path: Path
) -> None:
    dataset = make()
    params = project_of(tmp_path, dataset, kind=kind)
    project = Project.at(tmp_path)
    for stage in ("data", "train", "evaluate"):
        run_stage(project, stage, LocalEngine())
    local = outputs(tmp_path)
    predicted = by_row(tmp_path / "reports/predictions.parquet")
    write(tmp_path, on_dask(params, dask_cluster))
    for stage in ("data", "train", "evaluate"):
        run_stage(Project.at(tmp_path), stage)
    dask = outputs(tmp_path)
    pd.testing.assert_frame_equal(dask["train"], local["train"])
    pd.testing.assert_frame_equal(dask["test"], local["test"])
    assert (
        sorted(p.name for p in (tmp_path / "data/prepared/train.parquet").iterdir())[0]
        == "part.00000.parquet"
    )
    assert_same_profile(local["profile"], dask["profile"], local["train"])
    assert_same_metrics(local["metrics"], dask["metrics"])
    card = json.loads((tmp_path / "models/model.json").read_text())
    assert card["fit"] == {"method": "all", "rows": len(local["train"]), "of": len(local["train"])}
    # every train row fits in one sample, so the fit is the local engine's: predictions equal, row by row
    pd.testing.assert_frame_equal(by_row(tmp_path / "reports/predictions.parquet"), predicted)


@pytest.mark.parametrize("in_first_pass", [True, False], ids=["counted-with-expectations", "own-pass"])
def test_repeated_rows_get_the_local_engines_ids(
    in_first_pass: bool, dask_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copies of rows, in the same file and across files, numbered in row order as the local engine does;
    whether the first pass finds the repeated rows or a pass of their own does."""
    if not in_first_pass:
        monkeypatch.setattr(cluster_data, "UNIQUE_SHARE", 0.0)
    dataset = tabular.multiclass()
    frame = dataset.frame
    repeated = pd.concat([frame, frame.iloc[:40], frame.iloc[:10], frame.iloc[-5:]], ignore_index=True)
    params = project_of(tmp_path, replace(dataset, frame=repeated))
    run_stage(Project.at(tmp_path), "data", LocalEngine())
    local = {split: by_row(tmp_path / f"data/prepared/{split}.parquet") for split in ("train", "test")}
    write(tmp_path, on_dask(params, dask_cluster))
    run_stage(Project.at(tmp_path), "data")
    dask = {split: by_row(tmp_path / f"data/prepared/{split}.parquet") for split in ("train", "test")}
    assert local["train"]["row_id"].is_unique and len(local["train"]) + len(local["test"]) == len(repeated)
    pd.testing.assert_frame_equal(dask["train"], local["train"])
    pd.testing.assert_frame_equal(dask["test"], local["test"])


def imbalanced_with_missing_segments() -> tabular.Dataset:
    """The imbalanced table with 5% of its `segment` values missing, and more distinct scores than the
    roc_auc histograms hold exactly, so that its bins (and the coarser bins of the slices' resamples)
    are quantile bins."""
    dataset = tabular.imbalanced(20_000)
    frame = dataset.frame.copy()
    frame.loc[np.random.default_rng(2).random(len(frame)) < 0.05, "segment"] = None
    return replace(dataset, frame=frame)


def assert_same_slice(local: dict[str, Any], dask: dict[str, Any]) -> None:
    """The same groups, rows and judged flags; sums' values to 1e-9, roc_auc's within its bound; CI ends
    within SLICE_CI_TOLERANCE of the local CI's width (a group's CI rests on fewer rows than the whole
    set's: its ends move more between two bootstraps of 200 resamples); the same p-value."""
    assert list(dask["groups"]) == list(local["groups"])
    assert (dask["min_rows"], dask["groups_total"]) == (local["min_rows"], local["groups_total"])
    for group, expected in local["groups"].items():
        found = dask["groups"][group]
        assert (found["rows"], found["judged"], "ci" in found) == (
            expected["rows"],
            expected["judged"],
            "ci" in expected,
        ), group
        bound = (found.get("error_bound") or {}).get("roc_auc", 0.0)
        for name in set(expected) - {"rows", "judged", "ci"}:
            assert_close(found[name], expected[name], bound if name == "roc_auc" else 0.0)
        for name, ci in (expected.get("ci") or {}).items():
            assert_within(found["ci"][name], ci, bound)
    gap_bound = 2 * max(g.get("error_bound", {}).get("roc_auc", 0.0) for g in dask["groups"].values())
    for name, gap in local["max_gap"].items():
        assert_close(dask["max_gap"][name], gap, gap_bound if name == "roc_auc" else 0.0)
        assert_within(dask["gap_ci"][name], local["gap_ci"][name], gap_bound)
    assert dask["gap_p"] == local["gap_p"] and all(0 < p <= 1 for p in dask["gap_p"].values())


def assert_within(found: list[float], expected: list[float], bound: float) -> None:
    """Both ends of a CI within SLICE_CI_TOLERANCE of the local width, plus roc_auc's bound; or both
    undefined (roc_auc where the rows hold one class)."""
    if None in expected:
        assert found == expected
        return
    width = expected[1] - expected[0]
    for value, end in zip(found, expected, strict=True):
        assert abs(value - end) <= SLICE_CI_TOLERANCE * width + bound + 1e-12, (found, expected)


def assert_close(found: float | None, expected: float | None, bound: float) -> None:
    """Equal within `bound` plus rounding; both None when the metric is undefined there."""
    if expected is None or found is None:
        assert found is expected is None
        return
    assert abs(found - expected) <= bound + 1e-9 * max(1.0, abs(expected))


@pytest.mark.parametrize(
    ("make", "columns", "coarsest"),
    [
        (tabular.multiclass, ["habitat", "island"], False),
        (imbalanced_with_missing_segments, ["segment"], True),
    ],
    ids=["multiclass", "imbalanced-16-bins"],
)
def test_slices_on_the_cluster_give_the_local_engines_answers(
    make: Any,
    columns: list[str],
    coarsest: bool,
    dask_cluster: Cluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sliced by string columns with missing values, on the same test partitions and the same model;
    `coarsest`: the groups' resamples' roc_auc on the fewest bins the budget allows."""
    if coarsest:
        monkeypatch.setattr(cluster_slices, "SLICE_AUC_CELLS", 1)  # the runner plans the bins
    params = project_of(tmp_path, make())
    params["evaluate"].update(slices=columns)
    write(tmp_path, on_dask(params, dask_cluster))
    project = Project.at(tmp_path)
    run_stage(project, "data")  # on the cluster: the test split is a folder of 3 partitions
    run_stage(project, "train", LocalEngine())
    run_stage(project, "evaluate", LocalEngine())
    local = json.loads((tmp_path / "reports/metrics.json").read_text())["slices"]
    run_stage(project, "evaluate")
    dask = json.loads((tmp_path / "reports/metrics.json").read_text())["slices"]
    assert list(dask) == list(local) == columns
    assert "(missing)" in local[columns[0]]["groups"]
    for column in columns:
        assert_same_slice(local[column], dask[column])


def test_slice_groups_are_the_local_engines_however_the_rows_are_cut() -> None:
    """The MAX_SLICE_GROUPS largest groups in value_counts' order (ties in first appearance), from
    partitions' counts merged in pairs."""
    rng = np.random.default_rng(4)
    for _ in range(50):
        labels = pd.Series(rng.integers(0, 40, int(rng.integers(50, 400))).astype(str), dtype=object)
        labels[rng.random(len(labels)) < 0.1] = None
        cuts = [0, *np.sort(rng.choice(np.arange(1, len(labels)), 4, replace=False)), len(labels)]
        parts = [
            cluster_slices.group_counts(pd.DataFrame({"c": labels.iloc[a:b]}), ["c"])
            for a, b in pairwise(cuts)
        ]
        counts = reduce(cluster_slices.merge_counts, parts)["c"]
        expected = group_labels(labels).value_counts()
        assert cluster_slices.plan_column(counts, 5, [], 0).groups == list(expected.index[:MAX_SLICE_GROUPS])
        assert len(counts) == len(expected) and sum(counts.values()) == len(labels)


def test_a_slice_column_with_too_many_values_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster_slices, "MAX_COUNTED_GROUPS", 3)
    with pytest.raises(DataValidationError, match=r"evaluate\.slices: 'c' has more than 3 values"):
        cluster_slices.merge_counts({"c": {"a": 1, "b": 2}}, {"c": {"b": 1, "d": 1, "e": 1}})


BIG_FILES, BIG_ROWS, BIG_COLUMNS = 20, 100_000, 120  # 2,000,000 × 121 float64: 1.9 GB in memory
WORKER_LIMIT = 1_000_000_000


def write_big_source(folder: Path) -> None:
    """BIG_FILES Parquet files of a logistic label on BIG_COLUMNS features, written one at a time."""
    folder.mkdir(parents=True)
    weights = np.random.default_rng(0).normal(size=BIG_COLUMNS) / np.sqrt(BIG_COLUMNS)
    for index in range(BIG_FILES):
        rng = np.random.default_rng(index + 1)
        features = rng.normal(size=(BIG_ROWS, BIG_COLUMNS))
        label = (features @ weights + rng.logistic(size=BIG_ROWS) * 0.5 > 0).astype(np.int64)
        frame = pd.DataFrame(features, columns=[f"x{i}" for i in range(BIG_COLUMNS)]).assign(label=label)
        frame.to_parquet(folder / f"batch-{index:02d}.parquet", index=False, row_group_size=BIG_ROWS // 4)


def worker_peaks(client: Any) -> dict[str, float]:
    """Each worker's peak memory as its own monitor recorded it, and its peak RSS as the OS counts it."""

    def peak(dask_worker: Any) -> tuple[float, float]:
        import resource

        return max(dask_worker.monitor.quantities["memory"]), resource.getrusage(
            resource.RUSAGE_SELF
        ).ru_maxrss * 1024

    return client.run(peak)


def keep_as_base(root: Path) -> Path:
    """A copy of the project's outputs as they are, to compare the next model with."""
    base = root / "base"
    for name in ("reports", "models"):
        shutil.copytree(root / name, base / name)
    shutil.copy(root / "params.yaml", base / "params.yaml")
    return base


def assert_reported_out_of_core(base: Path, root: Path, rows: int) -> None:
    """The report pairs the two prediction folders on every row, through bucket files of at most about
    BUCKET_ROWS rows each (forced below the test set here, so the join takes several buckets)."""
    from mlgate.report import join, sides
    from mlgate.report.build import assemble_report

    project = Project.at(root)
    recorded = replace(sides.workspace_outputs(Project.at(base)), source="dvc-cache")  # as read at a revision
    old, sides_of = join.BUCKET_ROWS, [recorded, sides.workspace_outputs(project)]
    join.BUCKET_ROWS = rows // 4
    try:
        report = assemble_report("main", *sides_of, project.params, [])
    finally:
        join.BUCKET_ROWS = old
    statistics = report["statistics"]
    assert (statistics["method"], statistics["resampling"]) == ("paired", "poisson")
    assert statistics["shared_rows"] == statistics["pr_rows"] == statistics["base_rows"] == rows
    roc_auc = next(row for row in report["metrics"] if row["metric"] == "roc_auc")
    assert roc_auc["delta_ci"][0] <= roc_auc["delta"] <= roc_auc["delta_ci"][1]


def test_data_larger_than_a_worker_goes_through_the_pipeline_on_the_cluster(
    dask_cluster: Cluster, tmp_path: Path
) -> None:
    from distributed import Client

    write_big_source(tmp_path / "data" / "raw" / "big")
    (tmp_path / ".mlgate").mkdir()
    (tmp_path / ".mlgate" / "version").write_text(mlgate.__version__ + "\n")
    params = {
        "data": {"source": "data/raw/big", "target": "label", "split": {"method": "hash", "test_size": 0.2}},
        "model": {
            "task": "classification",
            "estimator": "sklearn.linear_model.SGDClassifier",
            "params": {"loss": "log_loss"},
            "train_rows": 50_000,
        },
        "evaluate": {
            "bootstrap": {"samples": 100},
            "permutation_importance": {"max_rows": 2000, "repeats": 1},
        },
        "compute": {"engine": "dask", "address": dask_cluster.address, "partition_mb": 32},
    }
    write(tmp_path, params)
    with Client(dask_cluster.address, set_as_default=False) as client:
        workers = set(client.scheduler_info()["workers"])
        for stage in ("data", "train", "evaluate"):
            run_stage(Project.at(tmp_path), stage)
        card = json.loads((tmp_path / "models/model.json").read_text())
        assert card["fit"] == {
            "method": "incremental",
            "rows": card["fit"]["of"],
            "of": card["fit"]["of"],
            "preprocessing_rows": 50_000,
        }
        metrics = json.loads((tmp_path / "reports/metrics.json").read_text())
        assert metrics["n_test"] > 350_000 and 0.8 < metrics["roc_auc"]["value"] < 1
        assert metrics["roc_auc"]["error_bound"] < 1e-3
        base = keep_as_base(tmp_path)
        params["model"].update(estimator="sklearn.linear_model.LogisticRegression", params={"max_iter": 200})
        write(tmp_path, params)
        for stage in ("train", "evaluate"):
            run_stage(Project.at(tmp_path), stage)
        card = json.loads((tmp_path / "models/model.json").read_text())
        assert card["fit"]["method"] == "sample" and card["fit"]["rows"] == 50_000
        assert_reported_out_of_core(base, tmp_path, metrics["n_test"])
        monitored = run_mlgate("monitor", "--current", "data/raw/big", "--out", "monitor", cwd=tmp_path)
        assert monitored.returncode in (0, 1), monitored.stderr
        assert (
            json.loads((tmp_path / "monitor/monitor.json").read_text())["current"]["rows"]
            == BIG_FILES * BIG_ROWS
        )
        peaks = worker_peaks(client)
        assert set(client.scheduler_info()["workers"]) == workers  # no worker was restarted for memory
    for address, (monitored, rss) in peaks.items():
        assert monitored < WORKER_LIMIT and rss < WORKER_LIMIT, (address, monitored, rss)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_scheduler_that_cannot_be_reached_exits_2_naming_it(tmp_path: Path) -> None:
    params = project_of(tmp_path, tabular.imbalanced(300))
    address = f"tcp://127.0.0.1:{free_port()}"
    write(tmp_path, {**params, "compute": {"engine": "dask", "address": address, "timeout": 2}})
    started = time.monotonic()
    result = run_mlgate("stage", "data", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"cannot reach the Dask scheduler at {address} within 2 s" in result.stderr
    assert time.monotonic() - started < 60


def test_a_scheduler_without_workers_exits_2_instead_of_waiting(tmp_path: Path) -> None:
    params = project_of(tmp_path / "project", tabular.imbalanced(300))
    with cluster(tmp_path / "lonely", workers=0) as lonely:
        compute = {"engine": "dask", "address": lonely.address, "timeout": 2}
        write(tmp_path / "project", {**params, "compute": compute})
        result = run_mlgate("stage", "data", cwd=tmp_path / "project")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"the Dask scheduler at {lonely.address} has no workers (waited 2 s" in result.stderr


@pytest.mark.parametrize(
    ("compute", "env", "message"),
    [
        ({"address": "tcp://10.1.2.3:8786"}, {}, "only over tls://"),
        ({"address": "tls://10.1.2.3:8786"}, {}, "needs MLGATE_DASK_TLS_CA, MLGATE_DASK_TLS_CERT"),
        ({"address": None}, {}, "needs compute.address or MLGATE_DASK_ADDRESS"),
        (
            {"address": None},
            {"MLGATE_DASK_ADDRESS": "scheduler:8786"},
            "MLGATE_DASK_ADDRESS: 'scheduler:8786'",
        ),
        ({"address": "tcp://127.0.0.1:1\n"}, {}, "compute.address"),
        (
            {"address": "tls://127.0.0.1:1"},
            {"MLGATE_DASK_TLS_CA": "/no/ca.pem", "MLGATE_DASK_TLS_CERT": "/no/cert.pem"},
            "MLGATE_DASK_TLS_CA: /no/ca.pem: no such file, and not PEM text",
        ),
    ],
)
def test_an_unsafe_or_unusable_address_is_refused(
    compute: dict[str, Any], env: dict[str, str], message: str, tmp_path: Path
) -> None:
    params = project_of(tmp_path, tabular.imbalanced(300))
    write(tmp_path, {**params, "compute": {"engine": "dask", **compute}})
    result = run_mlgate_env(tmp_path, env, "stage", "data")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in result.stderr


def run_mlgate_env(cwd: Path, env: dict[str, str], *args: str) -> Any:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MLGATE_DASK_")}
    return run(BIN / "mlgate", *args, cwd=cwd, check=False, env={**clean, **env})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"data": {"split": {"method": "random"}}}, "data.split.method: compute.engine: dask needs"),
        ({"data": {"source": "sklearn:iris"}}, "data.source: compute.engine: dask reads"),
    ],
)
def test_the_dask_engine_refuses_what_it_cannot_run(
    change: dict[str, Any], field: str, tmp_path: Path
) -> None:
    params = project_of(tmp_path, tabular.imbalanced(300))
    params["compute"] = {"engine": "dask", "address": "tcp://127.0.0.1:1"}
    for section, values in change.items():
        for key, value in values.items():
            target = params[section].setdefault(key, {}) if isinstance(value, dict) else params[section]
            target.update(value) if isinstance(value, dict) else target.__setitem__(key, value)
    write(tmp_path, params)
    result = run_mlgate("validate", cwd=tmp_path)
    assert result.returncode == 2 and field in result.stderr, result.stderr


def test_validate_accepts_slices_on_the_dask_engine(tmp_path: Path) -> None:
    params = project_of(tmp_path, tabular.imbalanced(300))
    params["evaluate"]["slices"] = ["segment"]
    write(tmp_path, {**params, "compute": {"engine": "dask", "address": "tcp://127.0.0.1:1"}})
    result = run_mlgate("validate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_the_client_speaks_tls_with_certificates_from_the_environment(tmp_path: Path) -> None:
    tls = make_certificates(tmp_path / "certs")
    params = project_of(tmp_path / "project", tabular.imbalanced(300))
    with cluster(tmp_path / "tls", workers=1, tls=tls) as running:
        assert running.address.startswith("tls://127.0.0.1:")
        write(tmp_path / "project", {**params, "compute": {"engine": "dask", "address": running.address}})
        pem = {
            "MLGATE_DASK_TLS_CA": Path(tls["ca"]).read_text(),  # PEM text, as a secret holds it
            "MLGATE_DASK_TLS_CERT": tls["client_cert"],  # or a path
            "MLGATE_DASK_TLS_KEY": Path(tls["client_key"]).read_text(),
        }
        refused = run_mlgate_env(tmp_path / "project", {}, "stage", "data")
        assert refused.returncode == 2 and "needs MLGATE_DASK_TLS_CA" in refused.stderr
        done = run_mlgate_env(tmp_path / "project", pem, "stage", "data")
        assert done.returncode == 0, done.stderr
        assert "(on the cluster)" in done.stdout


def test_the_monitor_on_the_cluster_answers_as_the_local_engine(
    dask_cluster: Cluster, tmp_path: Path
) -> None:
    dataset = tabular.multiclass()
    params = project_of(tmp_path, dataset)
    for stage in ("data", "train", "evaluate"):
        run_stage(Project.at(tmp_path), stage, LocalEngine())
    batches = tmp_path / "batches"
    batches.mkdir()
    shifted = dataset.frame.assign(bill_mm=dataset.frame["bill_mm"] + 1.5)
    for index in range(4):
        shifted.iloc[index::4].to_parquet(batches / f"day-{index}.parquet", index=False)
    local = run_mlgate("monitor", "--current", "batches/*.parquet", "--out", "local", cwd=tmp_path)
    write(tmp_path, on_dask(params, dask_cluster))
    remote = run_mlgate("monitor", "--current", "batches", "--out", "dask", cwd=tmp_path)  # a folder
    assert local.returncode == remote.returncode == 1, remote.stderr  # the shifted feature alarms
    assert "read 4 file(s) on the cluster" in remote.stderr
    answers = [json.loads((tmp_path / side / "monitor.json").read_text()) for side in ("local", "dask")]
    for answer in answers:
        for feature in answer["features"].values():
            feature.pop("current_stats", None)  # sums added in another order: equal to 1e-12, not bit for bit
    assert answers[0] == answers[1]


def test_a_sweep_of_8_runs_on_the_workers_and_never_sees_the_test_split(
    dask_cluster: Cluster, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    dataset = tabular.imbalanced()
    params = on_dask(project_of(tmp_path, dataset), dask_cluster)
    params["model"]["sweep"] = {"params": {"C": [0.01, 0.1, 1.0, 10.0], "class_weight": [None, "balanced"]}}
    write(tmp_path, params)
    run_stage(Project.at(tmp_path), "data")
    run_stage(Project.at(tmp_path), "train")
    assert "fit 8 candidates" in capfd.readouterr().err
    sweep = json.loads((tmp_path / "reports/sweep.json").read_text())
    assert len(sweep["candidates"]) == 8 and sweep["sweep"] is True
    test_ids = set(pd.read_parquet(tmp_path / "data/prepared/test.parquet")["row_id"])
    poisoned = pd.read_parquet(tmp_path / "data/prepared/test.parquet").assign(churned=0)
    for part in (tmp_path / "data/prepared/test.parquet").iterdir():
        part.unlink()
    poisoned.to_parquet(tmp_path / "data/prepared/test.parquet" / "part.00000.parquet", index=False)
    run_stage(Project.at(tmp_path), "train")
    assert json.loads((tmp_path / "reports/sweep.json").read_text()) == sweep
    assert test_ids.isdisjoint(pd.read_parquet(tmp_path / "data/prepared/train.parquet")["row_id"])


def test_dvc_repro_on_the_cluster_and_a_report_against_its_base(
    dask_cluster: Cluster, tmp_path: Path
) -> None:
    """dvc tracks the partitioned folders; the report reads the base's from DVC's cache, Poisson-paired."""
    repo = tmp_path / "repo"
    params = on_dask(project_of(repo, tabular.regression()), dask_cluster)
    write(repo, params)
    dvc = yaml.safe_load((Path(__file__).parents[1] / "dvc.yaml").read_text())
    dvc["stages"]["data"]["deps"] = [".mlgate/version", "data/raw/parts"]
    (repo / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))
    run("git", "init", "-q", "-b", "main", cwd=repo)
    run(BIN / "dvc", "init", "-q", cwd=repo)
    assert run_mlgate("validate", cwd=repo).returncode == 0
    repro(repo)
    commit_all(repo, "train on the cluster")
    run("git", "checkout", "-q", "-b", "pr", cwd=repo)
    params["model"]["params"] = {"max_iter": 20}
    write(repo, params)
    repro(repo)
    report = run_mlgate("report", "--base", "main", "--format", "json", "--no-reproduce", cwd=repo)
    assert report.returncode in (0, 1), report.stderr
    data = json.loads(report.stdout)
    assert data["base"]["source"] in ("dvc-cache", "dvc-remote"), json.dumps(data["base"])
    assert data["statistics"]["method"] == "paired" and data["statistics"]["resampling"] == "poisson"
    assert data["statistics"]["shared_rows"] == data["statistics"]["pr_rows"] > 0


@contextmanager
def moto_server(folder: Path) -> Iterator[str]:
    """A moto S3 server on loopback; stopped by its PID."""
    import subprocess

    port = free_port()
    with open(folder / "moto.log", "w") as log:
        server = subprocess.Popen(
            [BIN / "moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + 30
            while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
                assert time.monotonic() < deadline and server.poll() is None, "moto_server did not start"
                time.sleep(0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=20)


def test_an_s3_source_and_batch_are_read_by_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    dataset = tabular.imbalanced()
    params = project_of(tmp_path / "project", dataset)
    with moto_server(tmp_path) as endpoint:
        keys = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        for name, value in {**keys, "AWS_ENDPOINT_URL": endpoint}.items():
            monkeypatch.setenv(name, value)  # the workers started below inherit these
        bucket = boto3.client("s3", endpoint_url=endpoint)
        bucket.create_bucket(Bucket="lake")
        for part in sorted((tmp_path / "project/data/raw/parts").iterdir()):
            bucket.upload_file(str(part), "lake", f"churn/{part.name}")
        run_stage(Project.at(tmp_path / "project"), "data", LocalEngine())
        local = by_row(tmp_path / "project/data/prepared/train.parquet")
        with cluster(tmp_path / "dask", workers=1) as running:
            params["data"]["source"] = "s3://lake/churn/"
            write(tmp_path / "project", on_dask(params, running))
            run_stage(Project.at(tmp_path / "project"), "data")
            pd.testing.assert_frame_equal(by_row(tmp_path / "project/data/prepared/train.parquet"), local)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("data/raw/nothere/", "data/raw/nothere/: no such file or folder"),
        ("data/raw/parts/*.json", "no .csv or .parquet file there"),
        ("data/raw/mixed", "mixes formats (extra.csv is CSV, batch-0.parquet Parquet)"),
    ],
)
def test_a_source_that_is_not_one_table_is_named(source: str, message: str, tmp_path: Path) -> None:
    params = project_of(tmp_path, tabular.imbalanced(300))
    (tmp_path / "data/raw/mixed").mkdir()
    (tmp_path / "data/raw/mixed/extra.csv").write_text("a\n1\n")
    (tmp_path / "data/raw/mixed/batch-0.parquet").write_bytes(
        (tmp_path / "data/raw/parts/batch-0.parquet").read_bytes()
    )
    params["data"]["source"] = source
    write(tmp_path, params)
    result = run_mlgate("stage", "data", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in result.stderr, result.stderr


def test_the_roc_auc_histograms_fit_their_budget_with_many_classes_and_resamples() -> None:
    """A 3-class model with 1,000 resamples gets fewer bins, so a task's histograms stay at 32 MB per
    count; roc_auc still lies within its reported bound of scikit-learn's."""
    from sklearn.metrics import roc_auc_score

    from mlgate.cluster import metrics as merged
    from mlgate.metrics import Predictions

    rng = np.random.default_rng(5)
    truth = rng.integers(0, 3, 20_000)
    logits = np.eye(3)[truth] + rng.normal(0, 1, (20_000, 3))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    p = Predictions("classification", truth, proba.argmax(axis=1), proba, labels=3)
    bins = merged.auc_bins(1000, 3)
    assert bins == 1394
    edges = merged.auc_edges([merged.score_sketches(p)], bins)
    ids = rng.choice(1 << 62, 20_000, replace=False)
    stats = merged.partition_stats(p, ids, {"samples": 1000, "seed": 0}, edges)
    assert sum(stats[f"pos{c}"].size for c in range(3)) <= merged.HISTOGRAM_CELLS
    value, bound = merged.roc_auc(stats, p)
    assert 0 < bound < 1e-3
    assert abs(value[0] - roc_auc_score(truth, proba, multi_class="ovr")) <= bound
