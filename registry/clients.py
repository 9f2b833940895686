"""A client for the Docker Registry HTTP API v2 (the original's RegistryService calls).

Connection test, repositories, tags, manifest size and date, tag deletion.
Basic auth and the bearer-token flow that most registries use. Redirects are
never followed; every call has a timeout; failures become domain errors
(unreachable → `UpstreamUnavailable`, refused credentials → `PermissionDenied`,
unknown repository or tag → `NotFound`, deletes disabled → `Conflict`).
Credentials are kept in the session only and never logged.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from mgmt.exceptions import Conflict, NotFound, PermissionDenied, UpstreamUnavailable, ValidationFailed

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)
# From the distribution spec: path components and tags.
# Always fullmatch, ASCII only (`$` would let a trailing newline through).
REPOSITORY_RE = re.compile(
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*", re.ASCII
)
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)
# A registry's host: a DNS name (urlsplit lowers it) or an IP address.
_REGISTRY_HOST_RE = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?", re.ASCII)
_BEARER_RE = re.compile(r'(\w+)="([^"]*)"')
_TIMEOUT = (3.05, 15)


def validate_repository(name: str) -> str:
    if not isinstance(name, str) or len(name) > 255 or not REPOSITORY_RE.fullmatch(name):
        raise ValidationFailed(f"Invalid repository name {name!r}.")
    return name


def validate_tag(tag: str) -> str:
    if not isinstance(tag, str) or not TAG_RE.fullmatch(tag):
        raise ValidationFailed(f"Invalid tag {tag!r}.")
    return tag


def validate_registry_url(url: str, *, allow_local: bool | None = None) -> str:
    """http(s) URL without credentials, path or query; local targets only when allowed.

    Loopback, link-local, unspecified and multicast addresses are refused unless
    `REGISTRY_ALLOW_LOCAL_TARGETS` is on, so a registry URL cannot be used to make
    the platform call itself or a cloud metadata service.
    """
    allow_local = settings.REGISTRY_ALLOW_LOCAL_TARGETS if allow_local is None else allow_local
    # urlsplit silently drops tabs and newlines, and a non-ASCII host is IDNA-folded on the way
    # to DNS (the long s U+017F becomes "s"): refuse both rather than store one host, reach another.
    if not isinstance(url, str) or not url.isascii() or not url.isprintable() or " " in url:
        raise ValidationFailed("Registry URL must be plain ASCII, without spaces or control characters.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed("Registry URL must be http:// or https:// with a host.")
    if not _REGISTRY_HOST_RE.fullmatch(parts.hostname) and not _is_ip_address(parts.hostname):
        raise ValidationFailed(f"Registry URL has an invalid host name {parts.hostname[:80]!r}.")
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ValidationFailed(
            "Registry URL must be scheme://host[:port] only; credentials go in their own fields."
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise ValidationFailed("Registry URL has an invalid port.") from exc
    if not allow_local:
        try:
            infos = socket.getaddrinfo(parts.hostname, port or 443, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            raise ValidationFailed(f"Registry host {parts.hostname} does not resolve.") from exc
        for info in infos:
            if reason := local_address(info[4][0]):
                raise ValidationFailed(
                    f"Registry host {parts.hostname} resolves to a local address ({reason})."
                )
    return f"{parts.scheme}://{parts.netloc}"


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")


def local_address(text: str) -> str | None:
    """Why `text` is an address of this machine or its local network segment, or None.

    IPv4 inside IPv6 (`::ffff:127.0.0.1`, 6to4) is judged by the IPv4 address it carries;
    decimal or octal spellings (2130706433, 0177.0.0.1) arrive here already resolved.
    """
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address):
        address = address.ipv4_mapped or address.sixtofour or address
    kinds = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("unspecified", address.is_unspecified),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("unique local", address.version == 6 and address in _UNIQUE_LOCAL),
    )
    return next((f"{kind} {address}" for kind, hit in kinds if hit), None)


class _GuardedConnectionMixin:
    """Resolve, check every address, then connect to a checked one: what was checked is what
    is reached, so a DNS answer that changes after the save (rebinding) cannot bypass the guard."""

    def _new_conn(self) -> socket.socket:
        host, port = self._dns_host, self.port  # type: ignore[attr-defined]
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NewConnectionError(self, f"{host} does not resolve: {exc}") from exc  # type: ignore[arg-type]
        for info in infos:
            if reason := local_address(info[4][0]):
                raise NewConnectionError(self, f"{host} resolves to a local address ({reason})")  # type: ignore[arg-type]
        error: OSError | None = None
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self.timeout)  # type: ignore[attr-defined]
                sock.connect(address)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise NewConnectionError(self, f"{host}: {error}")  # type: ignore[arg-type]


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


@dataclass(frozen=True)
class ManifestInfo:
    repository: str
    tag: str
    digest: str
    size: int
    created: str | None
    media_type: str


class RegistryClient:
    def __init__(
        self,
        *,
        url: str,
        username: str = "",
        password: str = "",
        verify_tls: bool = True,
        name: str = "",
        allow_local: bool | None = None,
    ) -> None:
        self.base = url.rstrip("/")
        self.name = name or urlsplit(url).netloc
        self._session = requests.Session()
        self._session.verify = verify_tls
        if not (settings.REGISTRY_ALLOW_LOCAL_TARGETS if allow_local is None else allow_local):
            # Checked again at every connection, the token realm's too (it may name any host).
            for scheme in ("http://", "https://"):
                self._session.mount(scheme, _GuardedAdapter())
        self._credentials = (username, password) if username else None
        self._token: str | None = None

    def __repr__(self) -> str:  # never show credentials
        return f"<RegistryClient {self.base}>"

    # --- transport ------------------------------------------------------------
    def _request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        url = urljoin(self.base + "/", path.lstrip("/"))
        response = self._send(method, url, headers or {}, **kwargs)
        if response.status_code == 401 and self._authenticate(response):
            response = self._send(method, url, headers or {}, **kwargs)
        if response.status_code == 401:
            raise PermissionDenied(f"Registry {self.name} refused the credentials.")
        if response.is_redirect:
            raise UpstreamUnavailable(
                f"Registry {self.name} answered with a redirect, which is not followed."
            )
        return response

    def _send(self, method: str, url: str, headers: dict[str, str], **kwargs: Any) -> requests.Response:
        headers = dict(headers)
        auth = None
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        elif self._credentials:
            auth = self._credentials
        try:
            return self._session.request(
                method, url, headers=headers, auth=auth, timeout=_TIMEOUT, allow_redirects=False, **kwargs
            )
        except requests.RequestException as exc:
            raise UpstreamUnavailable(f"Registry {self.name} is unreachable ({type(exc).__name__}).") from exc

    def _authenticate(self, challenge: requests.Response) -> bool:
        """Answer a Bearer challenge with a token from the realm; Basic is sent up front."""
        header = challenge.headers.get("WWW-Authenticate", "")
        if not header.lower().startswith("bearer ") or self._token:
            return False
        params = dict(_BEARER_RE.findall(header))
        realm = params.pop("realm", "")
        if urlsplit(realm).scheme not in ("http", "https"):
            return False
        try:
            response = self._session.get(
                realm, params=params, auth=self._credentials, timeout=_TIMEOUT, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise UpstreamUnavailable(f"Token service of registry {self.name} is unreachable.") from exc
        if response.status_code != 200:
            return False
        body = response.json()
        self._token = body.get("token") or body.get("access_token")
        return bool(self._token)

    def _json(self, response: requests.Response, what: str) -> Any:
        if response.status_code == 404:
            raise NotFound(f"{what} not found on registry {self.name}.")
        if response.status_code >= 400:
            raise UpstreamUnavailable(f"Registry {self.name} answered {response.status_code} for {what}.")
        try:
            return response.json()
        except ValueError as exc:
            raise UpstreamUnavailable(f"Registry {self.name} sent a malformed answer for {what}.") from exc

    # --- operations -------------------------------------------------------------
    def ping(self) -> dict[str, Any]:
        """Test the connection and the credentials."""
        response = self._request("GET", "/v2/")
        if response.status_code != 200:
            raise UpstreamUnavailable(f"Registry {self.name} answered {response.status_code} to /v2/.")
        return {"api_version": response.headers.get("Docker-Distribution-API-Version", "registry/2.0")}

    def list_repositories(self, *, limit: int = 1000) -> list[str]:
        repositories: list[str] = []
        path = f"/v2/_catalog?n={min(limit, 100)}"
        while path and len(repositories) < limit:
            response = self._request("GET", path)
            repositories.extend(self._json(response, "catalog").get("repositories") or [])
            path = _next_link(response)
        return repositories[:limit]

    def list_tags(self, repository: str) -> list[str]:
        validate_repository(repository)
        body = self._json(self._request("GET", f"/v2/{repository}/tags/list"), f"Repository {repository}")
        return sorted(body.get("tags") or [])

    def manifest(self, repository: str, tag: str) -> ManifestInfo:
        validate_repository(repository)
        validate_tag(tag)
        response = self._request(
            "GET", f"/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES}
        )
        body = self._json(response, f"Tag {repository}:{tag}")
        config = body.get("config") or {}
        layers = body.get("layers") or []
        size = int(config.get("size", 0)) + sum(int(layer.get("size", 0)) for layer in layers)
        return ManifestInfo(
            repository=repository,
            tag=tag,
            digest=response.headers.get("Docker-Content-Digest", ""),
            size=size,
            created=self._created(repository, config.get("digest")),
            media_type=body.get("mediaType", response.headers.get("Content-Type", "")),
        )

    def _created(self, repository: str, config_digest: str | None) -> str | None:
        if not config_digest:
            return None  # an index (multi-platform) has no single creation date
        response = self._request("GET", f"/v2/{repository}/blobs/{config_digest}")
        if response.status_code != 200:
            return None  # e.g. storage that answers with a redirect
        try:
            return response.json().get("created")
        except ValueError:
            return None

    def delete_tag(self, repository: str, tag: str) -> str:
        """Delete the manifest the tag points at; returns its digest."""
        validate_repository(repository)
        validate_tag(tag)
        head = self._request("HEAD", f"/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES})
        if head.status_code == 404:
            raise NotFound(f"Tag {repository}:{tag} not found on registry {self.name}.")
        digest = head.headers.get("Docker-Content-Digest", "")
        if not digest:
            raise UpstreamUnavailable(f"Registry {self.name} did not tell the digest of {repository}:{tag}.")
        response = self._request("DELETE", f"/v2/{repository}/manifests/{digest}")
        if response.status_code == 405:
            raise Conflict(f"Registry {self.name} does not allow deleting tags.")
        if response.status_code not in (200, 202):
            raise UpstreamUnavailable(f"Registry {self.name} answered {response.status_code} to the delete.")
        return digest


def _next_link(response: requests.Response) -> str | None:
    """The path of the next page from a `Link: </v2/_catalog?last=x&n=100>; rel="next"` header."""
    link = response.links.get("next", {}).get("url")
    if not link:
        return None
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
