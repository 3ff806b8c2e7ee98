"""Where each file of a project lives, relative to its root: declared once, importing nothing.

These relative paths are also how git and dvc.lock name the files; `Project.files` puts them under a root.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """Where each file lives, relative to the project root."""

    params: Path = Path("params.yaml")
    dvc_yaml: Path = Path("dvc.yaml")
    dvc_lock: Path = Path("dvc.lock")
    version: Path = Path(".mlgate/version")
    raw: Path = Path("data/raw")
    train: Path = Path("data/prepared/train.parquet")
    test: Path = Path("data/prepared/test.parquet")
    schema: Path = Path("data/prepared/schema.json")
    data_report: Path = Path("reports/data.json")
    profile: Path = Path("reports/reference_profile.json")
    metrics: Path = Path("reports/metrics.json")
    sweep: Path = Path("reports/sweep.json")
    predictions: Path = Path("reports/predictions.parquet")
    plots: Path = Path("reports/plots")
    model: Path = Path("models/model.skops")
    card: Path = Path("models/model.json")
    monitor: Path = Path("reports/monitor")

    def under(self, root: Path) -> Layout:
        """The same layout with every path under `root`."""
        return Layout(**{item.name: root / getattr(self, item.name) for item in fields(self)})

    def plot(self, name: str) -> Path:
        """One plot file of the evaluate stage, e.g. `roc.json`."""
        return self.plots / name


LAYOUT = Layout()
