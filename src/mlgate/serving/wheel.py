"""Pack the running mlgate into a wheel, so a bento carries the very release that built it."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from importlib import metadata
from pathlib import Path

import mlgate

WHEEL_TAG = "py3-none-any"
# A fixed timestamp makes the wheel's bytes depend on its contents only.
ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _package_files() -> dict[str, bytes]:
    """The mlgate package's own files (sources and schemas), without bytecode caches."""
    root = Path(mlgate.__file__).parent
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files[f"mlgate/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    return files


def build_wheel(dest: Path) -> Path:
    """Write `mlgate-<version>-py3-none-any.whl` into `dest` and return its path."""
    dist = metadata.distribution("mlgate")
    version = mlgate.__version__
    info = f"mlgate-{version}.dist-info"
    files = _package_files()
    files[f"{info}/METADATA"] = (dist.read_text("METADATA") or "").encode()
    files[f"{info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: mlgate\nRoot-Is-Purelib: true\nTag: {WHEEL_TAG}\n".encode()
    )
    files[f"{info}/entry_points.txt"] = (dist.read_text("entry_points.txt") or "").encode()
    record = [_record_line(name, data) for name, data in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"mlgate-{version}-{WHEEL_TAG}.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(
                zipfile.ZipInfo(name, date_time=ZIP_TIME), data, compress_type=zipfile.ZIP_DEFLATED
            )
    return path


def base_requirements() -> list[str]:
    """mlgate's own install requirements (no extras), as written in its metadata."""
    requires = metadata.requires("mlgate") or []
    return [line for line in requires if ";" not in line]
