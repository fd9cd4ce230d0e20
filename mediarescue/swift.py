"""OpenStack Swift access: the one place that speaks to Swift (a v1 auth that follows no redirect,
and a small client over python-swiftclient). Where MediaWiki keeps files in it is
mediarescue.mediawiki.layout."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import urlsplit

import requests
import urllib3
from swiftclient import client as swiftclient
from swiftclient.exceptions import ClientException

from mediarescue.transport import guard, origin


def auth_v1(auth_url: str, user: str, key: str, timeout: float | None) -> tuple[str, str]:
    """Swift's v1.0 auth (tempauth, swauth): the storage URL and a token. The key goes in a header
    that requests would carry along a redirect to any host, so redirects to another host are
    refused (RedirectRefused) before it is contacted."""
    with guard(requests.Session()) as session:
        response = session.get(auth_url, headers={"X-Auth-User": user, "X-Auth-Key": key}, timeout=timeout)
    url = response.headers.get("x-storage-url")
    token = response.headers.get("x-storage-token") or response.headers.get("x-auth-token")
    if not 200 <= response.status_code < 300 or not url or not token:
        scheme, host, port = origin(auth_url)
        raise ClientException("Auth GET failed", http_scheme=scheme, http_host=host, http_port=port or "",
                              http_path=urlsplit(auth_url).path, http_status=response.status_code,
                              http_reason=response.reason)
    return url, token


class _Connection(swiftclient.Connection):
    """swiftclient's Connection with the auth of auth_v1, and every later request refusing a redirect
    to another host too (it carries the token)."""

    def get_auth(self) -> tuple[str, str]:
        self.url, self.token = auth_v1(self.authurl, self.user, self.key, self.timeout)
        return self.url, self.token

    def http_connection(self, url: str | None = None) -> tuple[object, swiftclient.HTTPConnection]:
        parsed, conn = super().http_connection(url)
        guard(conn.request_session)
        return parsed, conn


_LOCATION = re.compile(r"\S*/\S*")  # container/object, a path or a URL: anything with a slash


def hide_location(error: str) -> str:
    """An error message about a private (deleted) version without where its bytes were read from:
    the deleted zone names objects by their sha1, and the README promises never to show it."""
    return _LOCATION.sub("[private location]", error)


def unreachable(error: BaseException) -> bool:
    """Whether `error` says no connection could be made at all (refused, timed out, no such host),
    as opposed to a failure of one request on a working connection."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(error, requests.ConnectionError) and isinstance(
        reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))


class SwiftStore:
    """A Swift account, through python-swiftclient. One per thread: connections are not shared."""

    def __init__(self, auth_url: str, user: str, key: str, *, retries: int = 5,
                 starting_backoff: float = 1, max_backoff: float = 16, timeout: float = 60):
        self._credentials = (auth_url, user, key)
        self._options = dict(retries=retries, starting_backoff=starting_backoff, max_backoff=max_backoff,
                             timeout=timeout)  # without one, a Swift that never answers hangs the caller
        self.auth_url = auth_url
        self.connection = _Connection(authurl=auth_url, user=user, key=key, **self._options)

    def clone(self) -> SwiftStore:
        return SwiftStore(*self._credentials, **self._options)

    def head(self, container: str, name: str) -> dict[str, str] | None:
        """The object's headers, or None when it does not exist."""
        try:
            return self.connection.head_object(container, name)
        except ClientException as error:
            if error.http_status == 404:
                return None
            raise

    def head_container(self, container: str) -> dict[str, str] | None:
        """The container's headers, or None when it does not exist: either way Swift answered."""
        try:
            return self.connection.head_container(container)
        except ClientException as error:
            if error.http_status == 404:
                return None
            raise

    def stream(self, container: str, name: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        _headers, body = self.connection.get_object(container, name, resp_chunk_size=chunk_size)
        yield from body

    def put(self, container: str, name: str, data: BinaryIO | bytes, headers: dict[str, str] | None = None) -> None:
        self.connection.put_object(container, name, data, headers=headers)

    def create_container(self, container: str) -> None:
        self.connection.put_container(container)

    def delete(self, container: str, name: str) -> None:
        self.connection.delete_object(container, name)

    # --- writing whole, verified objects (the Swift blob store) ---
    def get(self, container: str, name: str, chunk_size: int = 1 << 20) -> tuple[dict[str, str], Iterator[bytes]]:
        """The headers and a closable body iterator; ClientException(http_status=404) when missing."""
        return self.connection.get_object(container, name, resp_chunk_size=chunk_size)

    def upload(self, container: str, name: str, data: BinaryIO, size: int, md5: str,
               headers: dict[str, str] | None = None) -> None:
        """PUT `size` bytes of `data` from its current position with their md5 as ETag: Swift stores
        the object only when the bytes it received hash to it (422 otherwise), and a PUT cut short
        leaves no object at all. The container is created on first use."""
        start = data.tell()
        for attempt in (1, 2):
            try:
                self.connection.put_object(container, name, data, content_length=size, etag=md5,
                                           chunk_size=1 << 20, headers=headers)
                return
            except ClientException as error:
                if error.http_status != 404 or attempt == 2:
                    raise
                self.connection.put_container(container)
                data.seek(start)

    def put_manifest(self, container: str, name: str, segments: list[dict[str, object]],
                     headers: dict[str, str] | None = None) -> None:
        """A static large object: Swift checks each segment's etag and size before the manifest
        appears, and checks them again on every read."""
        try:
            self.connection.put_object(container, name, json.dumps(segments), headers=headers,
                                       query_string="multipart-manifest=put")
        except ClientException as error:
            if error.http_status != 404:
                raise
            self.connection.put_container(container)
            self.connection.put_object(container, name, json.dumps(segments), headers=headers,
                                       query_string="multipart-manifest=put")

    def manifest(self, container: str, name: str) -> list[dict[str, object]]:
        """A static large object's segment list, as `put_manifest` takes it."""
        _headers, body = self.connection.get_object(container, name, query_string="multipart-manifest=get")
        return [{"path": f"/{s['name'].lstrip('/')}", "etag": s["hash"], "size_bytes": s["bytes"]}
                for s in json.loads(body)]

    def delete_large(self, container: str, name: str) -> None:
        """A static large object with its segments (a plain DELETE would leave the segments)."""
        self.connection.delete_object(container, name, query_string="multipart-manifest=delete")

    def copy(self, container: str, name: str, to_container: str, to_name: str) -> None:
        try:
            self.connection.copy_object(container, name, destination=f"/{to_container}/{to_name}")
        except ClientException as error:
            if error.http_status != 404 or self.head(container, name) is None:
                raise
            self.connection.put_container(to_container)
            self.connection.copy_object(container, name, destination=f"/{to_container}/{to_name}")

    def entries(self, container: str, marker: str = "", prefix: str | None = None) -> Iterator[dict[str, object]]:
        """The listing of a container (name, bytes, hash, slo_etag...), paged; none if it does not exist."""
        while True:
            try:
                _headers, page = self.connection.get_container(container, marker=marker, prefix=prefix,
                                                               limit=10000)
            except ClientException as error:
                if error.http_status == 404:
                    return
                raise
            if not page:
                return
            yield from page
            marker = page[-1]["name"]

    def names(self, container: str, prefix: str | None = None) -> Iterator[str]:
        marker = ""
        while True:
            _headers, page = self.connection.get_container(container, marker=marker, prefix=prefix, limit=10000)
            if not page:
                return
            yield from (entry["name"] for entry in page)
            marker = page[-1]["name"]
