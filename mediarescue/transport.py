"""Where secrets may travel: never along a redirect to another host, and never over plain HTTP to
a host that is not this machine unless the config says so (mediarescue.config).

A bot password goes in the body of the login POST, a Swift key in the X-Auth-Key header of the
auth GET, and requests follows redirects with both: a 307 keeps the method and the body, and
requests strips only the Authorization header when the host changes. So every session that
carries a secret gets `guard`: a redirect of a write (POST, PUT...) is never followed, nor a
redirect of any request to another scheme, host or port; the request stops with RedirectRefused,
naming the redirect, before the new address is contacted.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

_SAFE = ("GET", "HEAD")  # methods whose redirect to the same origin may be followed
_DEFAULT_PORTS = {"http": 80, "https": 443}


class RedirectRefused(Exception):
    """A server answered a request that carries credentials with a redirect that is not followed."""


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def _shown(url: str) -> str:
    """A URL for a message: scheme, host, port and path only (a query may hold anything)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}"


def refusal(response: requests.Response) -> str | None:
    """Why this response's redirect must not be followed, or None when it is no such redirect."""
    if not response.is_redirect:
        return None
    method = (response.request.method or "GET").upper()
    target = urljoin(response.url, response.headers["location"])
    if method in _SAFE and origin(target) == origin(response.url):
        return None
    where = "to another host" if origin(target) != origin(response.url) else "of a write"
    return (f"refused to follow a redirect {where} (HTTP {response.status_code} on a {method} of "
            f"{_shown(response.url)} to {_shown(target)}): credentials are never sent along a redirect; "
            "if the new address is the right one, put it in the config")


def redirect_guard(error: type[RedirectRefused] = RedirectRefused) -> Callable[..., Any]:
    """A requests response hook that raises `error` on a redirect `refusal` refuses. Hooks run on
    every response before requests decides to follow it, so nothing reaches the new address."""
    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        message = refusal(response)
        if message:
            response.close()
            raise error(message)
        return response
    return hook


def guard(session: requests.Session, error: type[RedirectRefused] = RedirectRefused) -> requests.Session:
    """`session`, refusing the redirects a secret must not follow (see the module docstring)."""
    session.hooks["response"].append(redirect_guard(error))
    return session


def plain_to_remote(url: str) -> bool:
    """True for plain http to a host that is not this machine (loopback addresses, localhost)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return False
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it may resolve anywhere
        return True
