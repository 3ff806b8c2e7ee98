"""The service's settings: made from params.yaml `serve:` when building, read from serving.json at start."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlgate.errors import ConfigError
from mlgate.layout import LAYOUT

SETTINGS_FILE = "serving.json"
SETTINGS_ENV = "MLGATE_SERVING_SETTINGS"
PREDICTION_LOG_ENV = "MLGATE_PREDICTION_LOG"  # where a container writes serve.log_predictions (under /tmp)
# The registry version a deployment serves; set by `mlgate k8s render`'s Deployment. It wins over the
# version the image was built as, which differs when a racing deploy renumbered the image.
MODEL_VERSION_ENV = "MLGATE_MODEL_VERSION"
VERSION_PATTERN = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,63}\Z")


@dataclass(frozen=True)
class ServingSettings:
    """What the service needs to know besides the model files; paths are relative to its working directory."""

    name: str
    model_path: str = LAYOUT.model.as_posix()
    card_path: str = LAYOUT.card.as_posix()
    metrics_path: str = LAYOUT.metrics.as_posix()
    trusted_types: tuple[str, ...] = ()
    registry_sha256: str | None = None
    max_batch_size: int = 1000
    batching: bool = True
    batch_max_rows: int = 4096
    batch_window_ms: int = 0
    workers: int = 1
    timeout: int = 60
    max_body_mb: int = 10
    log_predictions: str | None = None
    log_inputs: bool = False
    trace_predictions: bool = False
    git_commit: str = "unknown"
    model_version: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: dict[str, Any], **extra: Any) -> ServingSettings:
        """Settings from a loaded params.yaml (defaults filled) plus build facts such as the git commit."""
        serve = params["serve"]
        batching = serve["batching"]
        return cls(
            trusted_types=tuple(serve["trusted_types"]),
            max_batch_size=serve["max_batch_size"],
            batching=batching["enabled"],
            batch_max_rows=max(batching["max_rows"], serve["max_batch_size"]),
            batch_window_ms=batching["window_ms"],
            workers=serve["workers"],
            timeout=serve["timeout"],
            max_body_mb=serve["max_body_mb"],
            log_predictions=serve["log_predictions"],
            log_inputs=serve["log_inputs"],
            trace_predictions=serve["trace_predictions"],
            **extra,
        )

    def prediction_log(self, base: Path) -> Path | None:
        """The prediction log's path: $MLGATE_PREDICTION_LOG when set, else serve.log_predictions from
        `base`; None when serve.log_predictions is off (the variable moves the log, never turns it on)."""
        if not self.log_predictions:
            return None
        return Path(os.environ.get(PREDICTION_LOG_ENV) or base / self.log_predictions)

    def served_version(self, model_sha256: str) -> str:
        """$MLGATE_MODEL_VERSION, else the version built in, else the model's short sha256."""
        value = os.environ.get(MODEL_VERSION_ENV)
        if value is not None and not VERSION_PATTERN.match(value):
            raise ConfigError(f"{MODEL_VERSION_ENV}={value[:80]!r}: expected a version such as 3")
        return value or self.model_version or f"sha256:{model_sha256[:12]}"

    def to_json(self) -> dict[str, Any]:
        """The settings as written to serving.json."""
        data = asdict(self)
        data["trusted_types"] = list(self.trusted_types)
        return data


def load_settings(path: str | Path | None = None) -> ServingSettings:
    """Read serving.json (or the file named by MLGATE_SERVING_SETTINGS) from the working directory."""
    path = Path(path or os.environ.get(SETTINGS_ENV) or SETTINGS_FILE)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: serving settings not found; build the service with `mlgate build`"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable serving settings: {exc}") from None
    data["trusted_types"] = tuple(data.get("trusted_types", ()))
    try:
        return ServingSettings(**data)
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}; rebuild it with this mlgate release") from None
