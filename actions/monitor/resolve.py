"""Resolve what the monitor checks and whether it retrains, from the action's inputs and params.yaml.

Writes `current`, `retrain` and `retrain-data` to $GITHUB_OUTPUT and prints `current`. A python: loader
is run once and its DataFrame written to a Parquet file, so the monitor and the retraining read the same rows.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path


def main() -> int:
    from mlgate.config import load_params

    monitor = load_params("params.yaml")["monitor"]
    current = os.environ.get("MLGATE_CURRENT") or monitor["current"] or ""
    if not current:
        print("::error title=mlgate monitor::no data to check: set the `current` input or monitor.current",
              file=sys.stderr)
        return 2
    if current.startswith("python:"):
        from mlgate.datasets.sources import load_source

        path = Path(os.environ["RUNNER_TEMP"]) / "mlgate-current.parquet"
        load_source(current).to_parquet(path, index=False)
        current = str(path)
    elif not glob.glob(current):  # a DVC-tracked file that is not in the checkout yet
        subprocess.run(["dvc", "pull", "-q", current], check=False, capture_output=True)
    retrain = os.environ.get("MLGATE_RETRAIN") or str(monitor["retrain"])
    retrain = "auto" if retrain == "auto" else "off"
    data = os.environ.get("MLGATE_RETRAIN_DATA") or current
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(f"current={current}\nretrain={retrain}\nretrain-data={data}\n")
    print(current)
    return 0


if __name__ == "__main__":
    sys.exit(main())
