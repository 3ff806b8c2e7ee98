"""A real Dask cluster on loopback for the tests: `dask scheduler` and two `dask worker` processes, each
worker with one thread and a memory limit, started once per test module and stopped by PID.

With `tls`, it listens on tls:// with a throwaway CA and certificates (`make_certificates`, made with
`cryptography`), to check that mlgate's client speaks TLS with the certificates in its environment.
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
from typing import Any

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
    # --no-dashboard still serves /health on 0.0.0.0: the address keeps it on loopback too
    common = ["--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(scheduler_file)]
    processes = [
        _spawn(["scheduler", "--host", "127.0.0.1", "--port", "0", *protocol, *common, *tls_args], log, env)
    ]
    running = Cluster("", processes)
    try:
        running.address = _address(scheduler_file, processes[0], log)
        worker_tls = _tls_args(tls, "worker") if tls else []
        for _ in range(workers):
            args = ["worker", "--host", "127.0.0.1", "--nthreads", "1", "--memory-limit", memory_limit]
            args += ["--preload", "mlgate.cluster.preload"]  # as docs/scaling.md starts them
            processes.append(_spawn([*args, *common, *worker_tls], log, env))
        security = _client_security(tls) if tls else None
        if workers:
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


def _certificate(name: str, key: Any, issuer: tuple[Any, Any] | None, ca: bool) -> Any:
    """A certificate for `name` (CN and 127.0.0.1/localhost), signed by `issuer` or by itself."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer_name, signer_key = issuer or (subject, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(signer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer_key, hashes.SHA256())


def make_certificates(folder: Path) -> dict[str, str]:
    """A throwaway CA and certificates for the scheduler, a worker and a client, as PEM files."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    folder.mkdir(parents=True, exist_ok=True)

    def write(name: str, key: Any, certificate: Any) -> tuple[str, str]:
        key_path, cert_path = folder / f"{name}.key", folder / f"{name}.pem"
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return str(cert_path), str(key_path)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("mlgate-test-ca", ca_key, None, ca=True)
    paths = {"ca": write("ca", ca_key, ca)[0]}
    for role in ("scheduler", "worker", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert, key_path = write(role, key, _certificate(role, key, (ca.subject, ca_key), ca=False))
        paths.update({f"{role}_cert": cert, f"{role}_key": key_path})
    return paths
