"""mlgate's Dockerfile for a bento: no compilers, a numeric non-root user, a health check, OCI labels.

BentoML's default template installs build-essential and curl and runs as a named user. mlgate writes its
own `env/docker/Dockerfile` into the bento instead: a first stage makes the virtual environment (every
dependency from a wheel, bytecode compiled, no package cache), the second copies it onto the same base
with the bento, read-only to the service's user. Everything the service writes goes under /tmp, so the
container runs with a read-only root filesystem and a writable /tmp.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

BENTO_PATH = "/home/bentoml/bento"  # where BentoML's own images keep the bento
VENV = "/app/.venv"
PORT = 3000
UID = 1034  # BentoML's own user id
WRITABLE = "/tmp"  # the one writable path: a tmpfs, or an emptyDir in Kubernetes
BENTOML_HOME = f"{WRITABLE}/bentoml"  # BentoML's home and its Prometheus folder
PREDICTION_LOG = f"{WRITABLE}/mlgate/predictions.jsonl"
UV = "uv==0.13.9"
# The test suites these packages ship (about 120 MB); nothing imports them at run time.
TESTED_PACKAGES = ("numpy", "scipy", "pandas", "sklearn", "pyarrow")
MODEL_SHA256_LABEL = "dev.mlgate.model.sha256"
HEALTH_PROBE = (
    "import os, urllib.request; port = os.environ.get('BENTOML_PORT', '3000'); "
    "urllib.request.urlopen(f'http://127.0.0.1:{port}/readyz', timeout=4)"
)


@dataclass(frozen=True)
class ImageFacts:
    """What the Dockerfile states about its image."""

    base_image: str
    requirements: str  # the requirements file in env/python/, the lock file when there is one
    locked: bool
    wheel: str  # mlgate's wheel in env/python/wheels/
    labels: dict[str, str]
    log_predictions: bool


def base_image(configured: str | None, python_version: str) -> str:
    """serve.base_image, else BentoML's default base for the model's Python version."""
    return configured or f"python:{python_version}-slim"


def _quoted(value: str) -> str:
    """A Dockerfile string: double-quoted, with JSON's escapes, so no value can end the line."""
    return json.dumps(value, ensure_ascii=True)


def _install(facts: ImageFacts) -> str:
    """The second install step: mlgate's wheel alone (its dependencies are in the lock), or with them."""
    wheel = f"/build/wheels/{facts.wheel}"
    no_deps = " --no-deps" if facts.locked else ""
    return f"uv pip install --python {VENV}/bin/python{no_deps} {wheel}"


def _package_paths() -> str:
    return " -o ".join(f"-path '*/site-packages/{name}/*'" for name in TESTED_PACKAGES)


def render(facts: ImageFacts) -> str:
    """The Dockerfile's text; build it with the bento folder as context."""
    labels = " \\\n      ".join(f"{name}={_quoted(value)}" for name, value in sorted(facts.labels.items()))
    log_env = f" \\\n    MLGATE_PREDICTION_LOG={PREDICTION_LOG}" if facts.log_predictions else ""
    probe = json.dumps(["python3", "-c", HEALTH_PROBE])
    return f"""# Written by `mlgate build`; build it with the bento folder as context:
#   docker build -f env/docker/Dockerfile <bento folder>
ARG BASE_IMAGE={facts.base_image}

FROM ${{BASE_IMAGE}} AS venv
SHELL ["/bin/sh", "-eu", "-c"]
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 UV_NO_CACHE=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
COPY env/python/{facts.requirements} /build/{facts.requirements}
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir {UV} && \\
    ln -s /opt/uv/bin/uv /usr/local/bin/uv && python3 -m venv --without-pip {VENV} && \\
    uv pip install --python {VENV}/bin/python --requirement /build/{facts.requirements} && \\
    find {VENV}/lib -type d -name tests \\( {_package_paths()} \\) -prune -exec rm -rf {{}} +
COPY env/python/wheels/{facts.wheel} /build/wheels/{facts.wheel}
RUN {_install(facts)}

FROM ${{BASE_IMAGE}}
SHELL ["/bin/sh", "-eu", "-c"]
RUN useradd --no-log-init --uid {UID} --user-group --no-create-home --home-dir {BENTOML_HOME} bentoml
ENV LANG=C.UTF-8 LC_ALL=C.UTF-8 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \\
    VIRTUAL_ENV={VENV} PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    BENTO_PATH={BENTO_PATH} BENTOML_HOME={BENTOML_HOME} BENTOML_CONTAINERIZED=true \\
    BENTOML_DO_NOT_TRACK=true HOME={BENTOML_HOME}{log_env}
COPY --from=venv {VENV} {VENV}
WORKDIR {BENTO_PATH}
COPY . {BENTO_PATH}
LABEL {labels}
EXPOSE {PORT}
USER {UID}:{UID}
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 CMD {probe}
ENTRYPOINT ["/bin/bash", "{BENTO_PATH}/env/docker/entrypoint.sh"]
"""


def write(bento: Path, facts: ImageFacts) -> Path:
    """Replace BentoML's Dockerfile in the bento with mlgate's; return its path."""
    from mlgate.fsio import atomic_write_text

    path = bento / "env" / "docker" / "Dockerfile"
    atomic_write_text(path, render(facts))
    return path
