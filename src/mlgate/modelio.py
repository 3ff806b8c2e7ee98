"""Persist and load models with skops: sha256-checked, with an explicit list of trusted types.

This module is on the serving path, so it imports neither DVC nor anything from the pipeline.
"""

from __future__ import annotations

import io
import json
import platform
import re
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

from mlgate.errors import ModelIntegrityError
from mlgate.fsio import sha256_file, shown

# Types beyond skops' defaults that scikit-learn's own estimators need. This list is mlgate's
# decision, made in code: it is never read from a model file. `serve.trusted_types` adds to it.
TRUSTED_TYPES: tuple[str, ...] = (
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    "sklearn.metrics._dist_metrics.ChebyshevDistance64",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
)
PINNED_LIBRARIES = ("scikit-learn", "skops", "numpy", "scipy", "pandas")


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model depends on, to be pinned wherever it is loaded."""
    versions = {name: metadata.version(name) for name in PINNED_LIBRARIES}
    versions["python"] = platform.python_version()
    return versions


def save_model(model: Any, path: Path) -> None:
    """Write a model with skops (never pickle), byte-identical for an identical model."""
    import skops.io as sio

    Path(path).write_bytes(canonical_skops(sio.dumps(model)))


def canonical_skops(archive: bytes) -> bytes:
    """Rewrite a skops archive without its run-specific parts: object ids and zip timestamps.

    skops names array members and cross-references by `id()` of the object when it was saved, so
    two saves of the same model differ. Renumbering ids in order of appearance makes the sha256 of
    a model a function of the model alone, which keeps lineage hashes and the DVC cache meaningful.
    """
    source = zipfile.ZipFile(io.BytesIO(archive))
    schema = source.read("schema.json").decode("utf-8")
    order = dict.fromkeys(re.findall(r'"__id__": (\d+)', schema))
    numbering = {old: str(new) for new, old in enumerate(order, start=1)}

    def renumber(match: re.Match[str]) -> str:
        return match.group(0).replace(match.group(1), numbering.get(match.group(1), match.group(1)))

    schema = re.sub(r'"__id__": (\d+)', renumber, schema)
    schema = re.sub(r'"(\d+)\.npy"', renumber, schema)
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as target:
        for info in source.infolist():
            name = info.filename
            if name == "schema.json":
                data = schema.encode("utf-8")
            else:
                data = source.read(name)
                stem = name.removesuffix(".npy")
                name = f"{numbering.get(stem, stem)}.npy" if name.endswith(".npy") else name
            target.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, info.compress_type)
    return output.getvalue()


def read_card(card_path: Path) -> dict[str, Any]:
    """Read the model card (models/model.json) written next to the model by the train stage."""
    try:
        card: dict[str, Any] = json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelIntegrityError(
            f"{shown(card_path)}: model card not found; run the train stage first"
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelIntegrityError(f"{shown(card_path)}: unreadable model card: {exc}") from None
    return card


def verify_sha256(model_path: Path, expected: str, source: str) -> None:
    """Refuse a model file whose sha256 differs from the one recorded in `source`."""
    if not model_path.is_file():
        raise ModelIntegrityError(f"{shown(model_path)}: model file not found")
    actual = sha256_file(model_path)
    if actual != expected:
        raise ModelIntegrityError(
            f"{shown(model_path)}: sha256 {actual[:12]}… does not match {expected[:12]}… recorded in "
            f"{source}; the file was changed or corrupted, refusing to load it"
        )


def load_model(
    model_path: Path,
    card_path: Path,
    extra_trusted: list[str] | tuple[str, ...] = (),
    registry_sha256: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Check the model file's sha256, then load it with skops trusting only the listed types."""
    import skops.io as sio

    card = read_card(card_path)
    verify_sha256(model_path, card["sha256"], shown(card_path))
    if registry_sha256 is not None:
        verify_sha256(model_path, registry_sha256, "the registry")
    name = shown(model_path)
    trusted = set(TRUSTED_TYPES) | set(extra_trusted)
    try:
        untrusted = [t for t in sio.get_untrusted_types(file=model_path) if t not in trusted]
    except Exception as exc:  # skops raises many types on a malformed archive
        raise ModelIntegrityError(f"{name}: not a valid skops file: {exc}") from None
    if untrusted:
        raise ModelIntegrityError(
            f"{name}: contains untrusted type(s) {', '.join(untrusted)}; "
            "if you trust them, list them in params.yaml serve.trusted_types"
        )
    try:
        model = sio.load(model_path, trusted=sorted(trusted))
    except Exception as exc:
        raise ModelIntegrityError(f"{name}: cannot load: {exc}") from None
    return model, card
