"""An image registry's HTTP API (OCI distribution): read an image's digest, re-tag an image by digest.

Re-tagging PUTs the manifest's exact bytes under the new tag, so the tag names the very digest the
registry record holds; a re-serialised manifest would get a new digest. Credentials come from
MLGATE_REGISTRY_USERNAME and MLGATE_REGISTRY_PASSWORD, else from the docker CLI's config (what `docker
login` and docker/login-action write, a credential helper included); never from the command line.
Loopback registries are spoken to over HTTP, as Docker does; every other one over HTTPS.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from mlgate.errors import ConfigError, ContainerError

REQUEST_SECONDS = 60
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
DOCKER_HUB = "registry-1.docker.io"
NAME = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*\Z")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class Reference:
    """An image reference: registry host, repository, and a tag or a digest."""

    host: str
    repository: str
    reference: str

    @classmethod
    def parse(cls, text: str) -> Reference:
        """`host[:port]/name[:tag]` or `...@sha256:<hex>`; Docker Hub names get its host and library/."""
        name, at, digest = text.partition("@")
        first, _, rest = name.partition("/")
        if not rest or not ("." in first or ":" in first or first == "localhost"):
            first, rest = DOCKER_HUB, name if "/" in name else f"library/{name}"
        repository, colon, tag = rest.rpartition(":") if ":" in rest else (rest, "", "")
        reference = digest if at else (tag if colon else "latest")
        valid = DIGEST.match(reference) if at else TAG.match(reference)
        if not NAME.match(repository) or not valid:
            raise ConfigError(f"{text!r} is not an image reference (host/name:tag or host/name@sha256:<hex>)")
        return cls(first, repository, reference)

    @property
    def image(self) -> str:
        return f"{self.host}/{self.repository}"

    def url(self, reference: str | None = None) -> str:
        scheme = "http" if self.host.rsplit(":", 1)[0] in LOOPBACK else "https"
        return f"{scheme}://{self.host}/v2/{self.repository}/manifests/{reference or self.reference}"


@dataclass(frozen=True)
class Manifest:
    """A manifest as the registry stores it: its bytes, their media type, and their digest."""

    body: bytes
    media_type: str
    digest: str


def credentials(host: str) -> tuple[str, str] | None:
    """User and password for `host`: the environment's, else the docker CLI's config or helper."""
    user, password = os.environ.get("MLGATE_REGISTRY_USERNAME"), os.environ.get("MLGATE_REGISTRY_PASSWORD")
    if user and password:
        return user, password
    folder = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    helper = (config.get("credHelpers") or {}).get(host) or config.get("credsStore")
    if helper:
        return _from_helper(helper, host)
    auth = ((config.get("auths") or {}).get(host) or {}).get("auth")
    if not auth:
        return None
    user, _, password = base64.b64decode(auth).decode("utf-8", "replace").partition(":")
    return user, password


def _from_helper(helper: str, host: str) -> tuple[str, str] | None:
    """Ask docker-credential-<helper> for `host` (the host on stdin, the secret on stdout)."""
    try:
        answer = subprocess.run(
            [f"docker-credential-{helper}", "get"], input=host, capture_output=True, text=True, timeout=30
        )
        found = json.loads(answer.stdout) if answer.returncode == 0 else None
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    return (found["Username"], found["Secret"]) if found else None


class Session:
    """Requests to one repository of a registry, with the token its 401 asks for (Bearer or Basic)."""

    def __init__(self, ref: Reference) -> None:
        self.ref = ref
        self.authorization: str | None = None

    def send(
        self, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> http.client.HTTPResponse:
        """The response, after one retry with credentials when the registry asks for them."""
        for attempt in (1, 2):
            request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
            if self.authorization:
                request.add_header("Authorization", self.authorization)
            try:
                answer: http.client.HTTPResponse = urllib.request.urlopen(request, timeout=REQUEST_SECONDS)
                return answer
            except urllib.error.HTTPError as exc:
                if exc.code != 401 or attempt == 2:
                    detail = exc.read().decode("utf-8", "replace")[:300]
                    raise ContainerError(
                        f"{method} {url}: the registry answered {exc.code}: {detail}"
                    ) from None
                self.authorization = self._authorize(exc.headers.get("WWW-Authenticate", ""))
            except (urllib.error.URLError, OSError) as exc:
                raise ContainerError(f"{method} {url}: {exc}") from None
        raise AssertionError("unreachable")

    def _authorize(self, challenge: str) -> str:
        """The Authorization header for a 401's challenge; ContainerError when there is nothing to send."""
        login = credentials(self.ref.host)
        basic = "Basic " + base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode() if login else None
        if challenge.lower().startswith("basic") and basic:
            return basic
        fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        if not challenge.lower().startswith("bearer") or "realm" not in fields:
            raise ContainerError(
                f"{self.ref.host} asks for credentials; sign in with `docker login {self.ref.host}`"
            )
        query = {"service": fields.get("service", ""), "scope": f"repository:{self.ref.repository}:pull,push"}
        request = urllib.request.Request(f"{fields['realm']}?{urllib.parse.urlencode(query)}")
        if basic:
            request.add_header("Authorization", basic)
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_SECONDS) as answer:
                token = json.loads(answer.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ContainerError(f"{self.ref.host}: no token from {fields['realm']}: {exc}") from None
        return f"Bearer {token.get('token') or token.get('access_token')}"


def fetch(ref: Reference, session: Session | None = None) -> Manifest:
    """The manifest `ref` names, checked against its digest (the one asked for, or the registry's)."""
    session = session or Session(ref)
    with session.send("GET", ref.url(), headers={"Accept": ", ".join(MANIFEST_TYPES)}) as answer:
        body, media_type = answer.read(), answer.headers.get("Content-Type", "").split(";")[0]
        stated = answer.headers.get("Docker-Content-Digest")
    digest = f"sha256:{hashlib.sha256(body).hexdigest()}"
    expected = ref.reference if DIGEST.match(ref.reference) else stated
    if expected and expected != digest:
        raise ContainerError(
            f"{ref.image}: the registry served a manifest of digest {digest}, not {expected}"
        )
    return Manifest(body, media_type, digest)


def digest(text: str) -> str:
    """The digest the registry serves for an image reference."""
    return fetch(Reference.parse(text)).digest


def retag(source: str, tag: str) -> str:
    """Point `tag` of the source's repository at the source's digest, by PUTting its manifest's exact
    bytes; return the digest, checked against the registry's answer."""
    ref = Reference.parse(source)
    if not DIGEST.match(ref.reference):
        raise ConfigError(f"{source!r}: re-tag by digest: give the image as name@sha256:<hex>")
    if not TAG.match(tag):
        raise ConfigError(f"{tag!r} is not a valid image tag")
    session = Session(ref)
    manifest = fetch(ref, session)
    headers = {"Content-Type": manifest.media_type}
    with session.send("PUT", ref.url(tag), manifest.body, headers) as answer:
        stored = answer.headers.get("Docker-Content-Digest")
    if stored and stored != manifest.digest:
        raise ContainerError(f"{ref.image}:{tag}: the registry stored digest {stored}, not {manifest.digest}")
    return manifest.digest
