"""A real Dask cluster on loopback for the tests: `dask scheduler` and two `dask worker` processes, each
worker with one thread and a memory limit, started once per session and stopped by PID.

`tls_cluster` starts one on tls:// with a throwaway CA, scheduler and client certificates made with
`openssl`, to check that mlgate's client speaks TLS with the certificates in its environment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

DASK = Path(sys.executable).with_name("dask")
START_SECONDS = 90


@dataclass
class Cluster:
    """A running scheduler's address, its processes, and the environment a client needs."""

    address: str
    processes: list[subprocess.Popen[bytes]]
    env: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [str(DASK), *args], stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _address(scheduler_file: Path, process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if scheduler_file.is_file() and scheduler_file.stat().st_size:
            return str(json.loads(scheduler_file.read_text())["address"])
        if process.poll() is not None:
            raise RuntimeError(f"dask scheduler exited: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    raise RuntimeError(f"dask scheduler did not start in {START_SECONDS} s")


def _wait_for_workers(address: str, count: int, security: object = None) -> None:
    from distributed import Client

    with Client(address, timeout="30s", security=security, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=START_SECONDS)


@contextmanager
def cluster(
    folder: Path, workers: int = 2, memory_limit: str = "1GB", tls: dict[str, str] | None = None
) -> Iterator[Cluster]:
    """A scheduler on 127.0.0.1 and `workers` single-threaded workers, stopped by PID on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    # pyarrow's system pool hands freed memory back (docs/scaling.md), so a worker's memory follows its task
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "ARROW_DEFAULT_MEMORY_POOL": "system"}
    scheduler_file, log = folder / "scheduler.json", folder / "cluster.log"
    tls_args = _tls_args(tls, "scheduler") if tls else []
    protocol = ["--protocol", "tls"] if tls else []
    common = ["--no-dashboard", "--scheduler-file", str(scheduler_file)]
    processes = [
        _spawn(["scheduler", "--host", "127.0.0.1", "--port", "0", *protocol, *common, *tls_args], log, env)
    ]
    running = Cluster("", processes)
    try:
        running.address = _address(scheduler_file, processes[0], log)
        worker_tls = _tls_args(tls, "worker") if tls else []
        for _ in range(workers):
            args = ["worker", "--host", "127.0.0.1", "--nthreads", "1", "--memory-limit", memory_limit]
            processes.append(_spawn([*args, *common, *worker_tls], log, env))
        security = _client_security(tls) if tls else None
        _wait_for_workers(running.address, workers, security)
        yield running
    finally:
        running.stop()


def _tls_args(tls: dict[str, str], role: str) -> list[str]:
    return ["--tls-ca-file", tls["ca"], "--tls-cert", tls[f"{role}_cert"], "--tls-key", tls[f"{role}_key"]]


def _client_security(tls: dict[str, str]) -> object:
    from distributed.security import Security

    return Security(
        tls_ca_file=tls["ca"],
        tls_client_cert=tls["client_cert"],
        tls_client_key=tls["client_key"],
        require_encryption=True,
    )


def make_certificates(folder: Path) -> dict[str, str]:
    """A throwaway CA and certificates for the scheduler, a worker and a client (CN 127.0.0.1)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca = folder / "ca.key", folder / "ca.pem"
    openssl = ["openssl"]
    subprocess.run(
        [
            *openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=mlgate-test-ca",
            "-keyout",
            str(ca_key),
            "-out",
            str(ca),
        ],
        check=True,
        capture_output=True,
    )
    paths = {"ca": str(ca)}
    extensions = folder / "san.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for role in ("scheduler", "worker", "client"):
        key, csr, cert = folder / f"{role}.key", folder / f"{role}.csr", folder / f"{role}.pem"
        subprocess.run(
            [
                *openssl,
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                f"/CN={role}",
                "-keyout",
                str(key),
                "-out",
                str(csr),
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *openssl,
                "x509",
                "-req",
                "-in",
                str(csr),
                "-CA",
                str(ca),
                "-CAkey",
                str(ca_key),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                str(extensions),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
        paths.update({f"{role}_cert": str(cert), f"{role}_key": str(key)})
    return paths
