"""Metrics merged from per-partition sufficient statistics, with a Poisson bootstrap keyed by row id.

Row i's weight in resample b is Poisson(1), drawn from a generator keyed by (row id, b) (TFMA's method),
so the resamples, like the point values, do not depend on how the rows are partitioned. Every statistic
is a weighted sum, (1 + resamples) × …, added across partitions; row 0 holds the point value (weights 1).
roc_auc comes from score histograms over quantile bins: pairs in one bin whose scores differ are the
only ones whose order is unknown, so ½·Σ pos_b·neg_b / (P·N) over such bins bounds its error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlgate.cluster.sketch import Sketch, distinct_values, quantiles, sketch
from mlgate.metrics import (
    AVERAGED,
    RESAMPLE_CELLS,
    Predictions,
    divide,
    per_class_from_counts,
    percentile_interval,
)
from mlgate.rowhash import poisson_weights

AUC_BINS = 8192
MIN_AUC_BINS = 512
HISTOGRAM_CELLS = 1 << 22  # cells of one count (positives or negatives) over every channel: 32 MB
CELLS = RESAMPLE_CELLS // 4  # weights per chunk on a worker: a few arrays of 16 MB each
Stats = dict[str, Any]


def weights(row_ids: np.ndarray, samples: int, seed: int) -> Any:
    """(1 + samples) × rows weights in row chunks that bound memory: ones first, then the resamples."""
    step = max(1, CELLS // (samples + 1))
    for start in range(0, len(row_ids), step):
        ids = row_ids[start : start + step]
        yield (
            slice(start, start + len(ids)),
            np.vstack([np.ones((1, len(ids))), poisson_weights(ids, seed, range(samples))]),
        )


def _onehot(index: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(index), k))
    out[np.arange(len(index)), index] = 1.0
    return out


def channels(p: Predictions) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (score, is-positive) pairs roc_auc is computed on: class 1 when binary, every class one-vs-rest,
    or every (row, class) cell for the micro average."""
    assert p.proba is not None
    if not p.multiclass:
        return [(p.proba[:, 1], p.y_true == 1)]
    if p.average == "micro":
        return [(p.proba.ravel(), _onehot(p.y_true, p.labels).ravel() > 0)]
    return [(p.proba[:, c], p.y_true == c) for c in range(p.labels)]


def score_sketches(p: Predictions) -> list[Sketch]:
    """One partition's sketch of each channel's scores, for the bins the histograms use."""
    return [sketch(score.astype(float)) for score, _ in channels(p)] if p.proba is not None else []


def auc_bins(samples: int, channels: int) -> int:
    """How many bins the histograms of `channels` channels over (1 + samples) rows may have: AUC_BINS,
    fewer when that would pass HISTOGRAM_CELLS per count (a 3-class model's 1,000 resamples: 1,394; a
    histogram over b quantile bins has b + 2 cells, below the lowest edge and above the highest too)."""
    fitting = HISTOGRAM_CELLS // ((samples + 1) * max(channels, 1)) - 2
    return int(max(MIN_AUC_BINS, min(AUC_BINS, fitting)))


def auc_edges(sketches: list[list[Sketch]], bins: int = AUC_BINS) -> list[np.ndarray]:
    """Per channel: every distinct score when there are at most `bins` (exact), else `bins` quantile
    bins."""
    edges = []
    for channel in zip(*sketches, strict=True):
        exact = distinct_values(list(channel))
        edges.append(
            exact
            if exact is not None and len(exact) <= bins
            else np.unique(quantiles(list(channel), np.linspace(0, 1, bins + 1)))
        )
    return edges


def _sum_stats(p: Predictions, w: np.ndarray, rows: slice) -> Stats:
    part = p.take(np.arange(p.rows)[rows])
    stats: Stats = {"w": w.sum(axis=1), "seen": (w > 0).sum(axis=1).astype(float)}
    if p.task == "regression":
        error = part.y_true - part.y_pred
        stats.update(sy=w @ part.y_true, syy=w @ part.y_true**2, see=w @ error**2, sae=w @ np.abs(error))
        return stats
    actual, predicted = _onehot(part.y_true, p.labels), _onehot(part.y_pred, p.labels)
    stats.update(
        correct=w @ (part.y_true == part.y_pred),
        tp=w @ (actual * predicted),
        pred=w @ predicted,
        actual=w @ actual,
    )
    if part.proba is not None:
        eps = np.finfo(part.proba.dtype).eps
        stats["loss"] = w @ -np.log(np.clip(part.proba[np.arange(part.rows), part.y_true], eps, 1 - eps))
    return stats


def _histograms(p: Predictions, w: np.ndarray, rows: slice, edges: list[np.ndarray]) -> Stats:
    found: Stats = {}
    for index, ((score, positive), inner) in enumerate(zip(channels(p), edges, strict=True)):
        score, positive = _chunk(score, positive, rows, p)
        weight = np.repeat(w, p.labels, axis=1) if p.multiclass and p.average == "micro" else w
        bins = np.searchsorted(inner, score, side="left")
        size = len(inner) + 1
        flat = (np.arange(len(weight))[:, None] * size + bins[None, :]).ravel()
        for name, mask in (("pos", positive), ("neg", ~positive)):
            found[f"{name}{index}"] = np.bincount(flat, (weight * mask).ravel(), len(weight) * size).reshape(
                len(weight), size
            )
        low, high = np.full(size, np.inf), np.full(size, -np.inf)
        np.minimum.at(low, bins, score)
        np.maximum.at(high, bins, score)
        found[f"low{index}"], found[f"high{index}"] = low, high
    return found


def _chunk(
    score: np.ndarray, positive: np.ndarray, rows: slice, p: Predictions
) -> tuple[np.ndarray, np.ndarray]:
    if p.multiclass and p.average == "micro":  # row-major cells: a row's classes are adjacent
        rows = slice(rows.start * p.labels, rows.stop * p.labels)
    return score[rows].astype(float), positive[rows]


def partition_stats(
    p: Predictions, row_ids: np.ndarray, bootstrap: dict[str, Any], edges: list[np.ndarray] | None
) -> Stats:
    """One partition's sums, (1 + resamples) × …; with `edges`, its roc_auc histograms instead."""
    total: Stats = {}
    for rows, w in weights(row_ids, bootstrap["samples"], bootstrap["seed"]):
        stats = _histograms(p, w, rows, edges) if edges is not None else _sum_stats(p, w, rows)
        total = merge_stats(total, stats) if total else stats
    return total


def weighted_stats(p: Predictions, w: np.ndarray, edges: list[np.ndarray] | None = None) -> Stats:
    """The sums of all of `p`'s rows under weights `w` (… × rows); with `edges`, their roc_auc
    histograms' positive and negative counts instead (no low and high scores: the caller has them)."""
    rows = slice(0, p.rows)
    if edges is None:
        return _sum_stats(p, w, rows)
    return {k: v for k, v in _histograms(p, w, rows, edges).items() if k.startswith(("pos", "neg"))}


def merge_stats(a: Stats, b: Stats) -> Stats:
    """Two partitions' statistics together."""
    if not a:
        return b
    if not b:
        return a
    merged = {}
    for key, value in a.items():
        pick = np.fmin if key.startswith("low") else np.fmax if key.startswith("high") else np.add
        merged[key] = pick(value, b[key])
    return merged


def _auc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    below = np.cumsum(neg, axis=1) - neg
    area = (pos * (below + 0.5 * neg)).sum(axis=1)
    return divide(area, pos.sum(axis=1) * neg.sum(axis=1), empty=np.nan)


def _auc_bound(pos: np.ndarray, neg: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """½·Σ pos_b·neg_b / (P·N) over the bins holding more than one distinct score (point values)."""
    mixed = high > low
    total = pos.sum() * neg.sum()
    return float(0.5 * (pos * neg)[mixed].sum() / total) if total else 0.0


def _class_shares(stats: Stats, p: Predictions) -> tuple[np.ndarray, np.ndarray]:
    """Each channel's roc_auc (channels × draws) and its share of the average (0 where undefined)."""
    count = 1 if not p.multiclass or p.average == "micro" else p.labels
    aucs = np.vstack([_auc(stats[f"pos{c}"], stats[f"neg{c}"]) for c in range(count)])
    defined = ~np.isnan(aucs)
    support = stats["actual"].T if count > 1 and p.average == "weighted" else np.ones_like(aucs)
    return aucs, np.where(defined, support, 0.0)


def auc_values(stats: Stats, p: Predictions) -> np.ndarray:
    """roc_auc of every row of the histograms, averaged over the channels as `p.average` says."""
    aucs, share = _class_shares(stats, p)
    if len(aucs) == 1:
        return aucs[0]
    return divide((np.where(share > 0, aucs, 0.0) * share).sum(axis=0), share.sum(axis=0), np.nan)


def roc_auc(stats: Stats, p: Predictions) -> tuple[np.ndarray, float]:
    """roc_auc for the point (row 0) and every resample, averaged as `p.average` says, and its error bound."""
    aucs, share = _class_shares(stats, p)
    bounds = np.array(
        [
            _auc_bound(stats[f"pos{c}"][0], stats[f"neg{c}"][0], stats[f"low{c}"], stats[f"high{c}"])
            for c in range(len(aucs))
        ]
    )
    if len(aucs) == 1:
        return aucs[0], float(bounds[0])
    point_share = share[:, 0] / share[:, 0].sum() if share[:, 0].sum() else share[:, 0]
    return auc_values(stats, p), float((bounds * point_share).sum())


def _r2(stats: Stats) -> np.ndarray:
    mean = stats["sy"] / stats["w"]
    total = stats["syy"] - stats["w"] * mean**2
    residual = stats["see"]
    value = np.where(total > 0, 1.0 - divide(residual, total), np.where(residual > 0, 0.0, 1.0))
    return np.where(stats["seen"] >= 2, value, np.nan)


def values(name: str, stats: Stats, p: Predictions) -> np.ndarray:
    """One metric for the point and every resample, from merged sums (not roc_auc)."""
    w = stats["w"]
    if name == "accuracy":
        return stats["correct"] / w
    if name in ("precision", "recall", "f1"):
        return per_class_from_counts(name, (stats["tp"], stats["pred"], stats["actual"]), p.class_average)
    formulas = {
        "log_loss": lambda: stats["loss"] / w,
        "rmse": lambda: np.sqrt(stats["see"] / w),
        "mae": lambda: stats["sae"] / w,
        "r2": lambda: _r2(stats),
    }
    return formulas[name]()


def metric_block(names: list[str], stats: Stats, p: Predictions, bootstrap: dict[str, Any]) -> dict[str, Any]:
    """metrics.json's entries: point values, Poisson-bootstrap percentile intervals, roc_auc's bound."""
    block: dict[str, Any] = {}
    for name in names:
        bound = None
        if name == "roc_auc":
            series, bound = roc_auc(stats, p)
        else:
            series = values(name, stats, p)
        block[name] = {"value": float(series[0])}
        if bootstrap["samples"]:
            low, high = percentile_interval(series[1:], bootstrap["confidence"])
            block[name].update(ci_low=low, ci_high=high)
        if bound is not None:
            block[name]["error_bound"] = bound
        if (used := _averaged_over(name, stats, p)) is not None:
            block[name].update(classes=used, of=p.labels)
    return block


def _averaged_over(name: str, stats: Stats, p: Predictions) -> int | None:
    """How many classes a class-averaged metric averaged over, as mlgate.metrics.averaged_over says."""
    if not p.multiclass or name not in AVERAGED or p.average == "micro":
        return None
    if name == "roc_auc":
        return sum(bool(stats[f"pos{c}"][0].sum() and stats[f"neg{c}"][0].sum()) for c in range(p.labels))
    present = stats["pred"][0] + stats["actual"][0] if p.average == "macro" else stats["actual"][0]
    return int((present > 0).sum())
