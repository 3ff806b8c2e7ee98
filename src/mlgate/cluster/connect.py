"""Connect to the Dask scheduler that `compute.address` or `MLGATE_DASK_ADDRESS` names."""

from __future__ import annotations

import os
import re
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from mlgate.errors import ClusterError, ConfigError, MissingDependencyError

ADDRESS_ENV = "MLGATE_DASK_ADDRESS"
TLS_ENV = {"tls_ca_file": "MLGATE_DASK_TLS_CA", "tls_client_cert": "MLGATE_DASK_TLS_CERT"}
TLS_KEY_ENV = "MLGATE_DASK_TLS_KEY"
ADDRESS = re.compile(r"(tcp|tls)://(\[[0-9a-fA-F:]+\]|[^\s/:\[\]]+):([0-9]{1,5})\Z")
LOOPBACK = {"127.0.0.1", "localhost", "[::1]"}


def scheduler_address(compute: dict[str, Any]) -> str:
    """The scheduler's address: the environment's override, else params.yaml's, checked."""
    address, field = os.environ.get(ADDRESS_ENV), ADDRESS_ENV
    if not address:
        address, field = compute["address"], "params.yaml: compute.address"
    if not address:
        raise ConfigError(f"compute.engine: dask needs compute.address or {ADDRESS_ENV} (tls://host:port)")
    match = ADDRESS.match(address.strip())
    if match is None:
        raise ConfigError(f"{field}: {address!r} is not a scheduler address (tls://host:port)")
    if match.group(1) == "tcp" and match.group(2) not in LOOPBACK:
        raise ConfigError(
            f"{field}: {address}: a Dask scheduler runs any function sent to it, so mlgate talks to one "
            f"off this machine only over tls://, with {TLS_ENV['tls_ca_file']}, "
            f"{TLS_ENV['tls_client_cert']} and {TLS_KEY_ENV} set (docs/scaling.md)"
        )
    return address.strip()


def security(address: str) -> Any:
    """distributed's Security for a tls:// address, from PEM text or file paths in the environment."""
    if not address.startswith("tls://"):
        return None
    from distributed.security import Security

    given = {field: os.environ.get(name) for field, name in TLS_ENV.items()}
    missing = [TLS_ENV[field] for field, value in given.items() if not value]
    if missing:
        raise ConfigError(
            f"{address}: a tls:// scheduler needs {', '.join(missing)} (PEM text or a path), and "
            f"{TLS_KEY_ENV} unless the key is in the certificate"
        )
    key = os.environ.get(TLS_KEY_ENV) or None
    for name, value in [*((TLS_ENV[f], v) for f, v in given.items()), (TLS_KEY_ENV, key)]:
        if value and "-----BEGIN" not in value and not Path(value).is_file():
            raise ConfigError(f"{name}: {value}: no such file, and not PEM text")
    return Security(require_encryption=True, tls_client_key=key, **given)


def connect(compute: dict[str, Any]) -> AbstractContextManager[Any]:
    """A distributed Client on the configured scheduler; exit 2 naming it when it cannot be reached."""
    try:
        from distributed import Client
    except ImportError:
        raise MissingDependencyError("compute.engine: dask needs `pip install 'mlgate[dask]'`") from None
    address = scheduler_address(compute)
    timeout = compute["timeout"]
    try:
        client: AbstractContextManager[Any] = Client(
            address, security=security(address), timeout=f"{timeout}s", set_as_default=True
        )
    except (OSError, TimeoutError) as exc:
        message = f"cannot reach the Dask scheduler at {address} within {timeout:g} s: {exc}"
        raise ClusterError(message) from None
    except ValueError as exc:  # a bad certificate or key
        raise ConfigError(f"{address}: {exc}") from None
    _wait_for_a_worker(client, address, timeout)
    return client


def _wait_for_a_worker(client: Any, address: str, timeout: float) -> None:
    """Return once the scheduler has a worker; else close the client and exit 2, rather than wait on
    tasks that nothing runs (workers that crashed, or never started)."""
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        client.close()
        raise ClusterError(
            f"the Dask scheduler at {address} has no workers (waited {timeout:g} s, compute.timeout): "
            "start them, or see their logs for why they exit"
        ) from None
