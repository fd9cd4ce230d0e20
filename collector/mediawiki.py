"""MediaWiki Action API access: the one place that speaks to a wiki's api.php.

Every request carries a descriptive User-Agent and `maxlag`; reads are retried with backoff on
lag, rate limits, 5xx and connection errors. A write is retried only when the wiki says it did
not happen (maxlag, ratelimited, HTTP 429/503), never after a lost connection, so no upload is
sent twice behind the caller's back. Large files go up in chunks read from disk, so no file is
ever held in memory whole.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

VERSION = "0.1.0"
CHUNK_SIZE = 4 * 1024 * 1024
_NOT_DONE = {"maxlag", "ratelimited", "readonly"}  # the wiki did nothing: safe to send again


class APIError(Exception):
    """The wiki answered with an error; `code` is MediaWiki's error code."""

    def __init__(self, code: str, info: str, response: dict | None = None):
        super().__init__(f"{code}: {info}")
        self.code = code
        self.info = info
        self.response = response or {}


def canonical_title(text: str) -> str:
    """`File:Name with spaces.png` from what a person types: prefix optional, underscores or spaces."""
    name = " ".join(text.replace("_", " ").split())
    if name.split(":", 1)[0].lower() in ("file", "image") and ":" in name:
        name = name.split(":", 1)[1].strip()
    return "File:" + name[:1].upper() + name[1:]


def user_agent(contact: str) -> str:
    return f"mediarescue/{VERSION} ({contact}) python-requests/{requests.__version__}"


class MediaWiki:
    def __init__(self, api_url: str, contact: str = "https://example.invalid/mediarescue", *,
                 maxlag: int = 5, retries: int = 5, backoff: float = 1.0, timeout: float = 120.0):
        self.api_url = api_url
        self.maxlag = maxlag
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent(contact)
        self._tokens: dict[str, str] = {}
        self.requests_sent = 0

    def _call(self, method: str, params: dict[str, Any], files: dict | None = None, write: bool = False) -> dict:
        params = {"format": "json", "formatversion": "2", "maxlag": self.maxlag, **params}
        params = {k: v for k, v in params.items() if v is not None and v is not False}
        for attempt in range(self.retries + 1):
            wait = self.backoff * 2 ** attempt
            try:
                self.requests_sent += 1
                if method == "GET":
                    response = self.session.get(self.api_url, params=params, timeout=self.timeout)
                else:
                    response = self.session.post(self.api_url, data=params, files=files, timeout=self.timeout)
            except requests.ConnectionError:
                if write or attempt == self.retries:
                    raise
                time.sleep(wait)
                continue
            if response.status_code in (429, 500, 502, 503, 504) and (not write or response.status_code in (429, 503)):
                if attempt == self.retries:
                    response.raise_for_status()
                time.sleep(float(response.headers.get("Retry-After", wait)))
                continue
            response.raise_for_status()
            body = response.json()
            error = body.get("error")
            if error and error.get("code") in _NOT_DONE and attempt < self.retries:
                time.sleep(float(response.headers.get("Retry-After", wait)))
                continue
            if error and error.get("code") == "badtoken" and "token" in params and attempt < self.retries:
                self._tokens.pop("csrf", None)  # the session was renewed: fetch a fresh token
                params["token"] = self.token()
                continue
            if error:
                raise APIError(error.get("code", "unknown"), error.get("info", ""), body)
            return body
        raise AssertionError("unreachable")

    def get(self, **params: Any) -> dict:
        return self._call("GET", params)

    def post(self, files: dict | None = None, **params: Any) -> dict:
        """A write: the csrf token is added unless `token` is given."""
        if "token" not in params:  # not setdefault: that would fetch a token even when one is given
            params["token"] = self.token()
        return self._call("POST", params, files=files, write=True)

    def token(self, kind: str = "csrf") -> str:
        if kind not in self._tokens:
            reply = self.get(action="query", meta="tokens", type=kind)
            self._tokens[kind] = reply["query"]["tokens"][f"{kind}token"]
        return self._tokens[kind]

    def login(self, user: str, password: str) -> None:
        """Log in with a bot password (User@app)."""
        reply = self.post(action="login", lgname=user, lgpassword=password, lgtoken=self.token("login"),
                          token=None)
        if reply["login"]["result"] != "Success":
            raise APIError("login-failed", reply["login"].get("reason", reply["login"]["result"]), reply)
        self._tokens.clear()

    def query(self, **params: Any) -> Iterator[dict]:
        """Each batch's `query` part, following continuation to the end."""
        request = {"action": "query", **params}
        while True:
            reply = self.get(**request)
            if "query" in reply:
                yield reply["query"]
            if "continue" not in reply:
                return
            request = {"action": "query", **params, **reply["continue"]}  # the original request + continue

    def pages(self, **params: Any) -> Iterator[list[dict]]:
        """The pages of each generator batch, whole: a page whose props (imageinfo, revisions...)
        continue over several replies is merged until the API says the batch is complete."""
        request = {"action": "query", **params}
        pages: dict[Any, dict] = {}
        while True:
            reply = self.get(**request)
            for page in reply.get("query", {}).get("pages", []):
                merged = pages.setdefault(page.get("pageid", page["title"]), {})
                for key, value in page.items():
                    if isinstance(value, list) and isinstance(merged.get(key), list):
                        merged[key].extend(value)
                    else:
                        merged[key] = value
            if reply.get("batchcomplete") or "continue" not in reply:
                if pages:
                    yield list(pages.values())
                pages = {}
            if "continue" not in reply:
                return
            request = {"action": "query", **params, **reply["continue"]}

    def upload(self, path: Path, filename: str, *, comment: str = "", text: str | None = None,
               ignore_warnings: bool = False, chunk_size: int = CHUNK_SIZE) -> dict:
        """Upload a file from disk; returns the API's `upload` result (Success or Warning).

        Files larger than one chunk go up through the stash in chunks, the way every large
        upload to Wikimedia does; the final step publishes them under `filename`.
        """
        size = os.path.getsize(path)
        final = {"action": "upload", "filename": filename, "comment": comment, "text": text,
                 "ignorewarnings": ignore_warnings}
        if size <= chunk_size:
            with open(path, "rb") as data:
                return self.post(files={"file": (filename, data)}, **final)["upload"]
        return self.post(filekey=self._stash_in_chunks(path, filename, size, chunk_size), **final)["upload"]

    def _stash_in_chunks(self, path: Path, filename: str, size: int, chunk_size: int) -> str:
        filekey = None
        with open(path, "rb") as data:
            for offset in range(0, size, chunk_size):
                chunk = data.read(chunk_size)
                result = self.post(files={"chunk": (filename, chunk)}, action="upload", stash=1,
                                   filename=filename, filesize=size, offset=offset, filekey=filekey,
                                   ignorewarnings=True)["upload"]
                filekey = result["filekey"]
                if result["result"] not in ("Continue", "Success"):
                    raise APIError("chunk-failed", f"chunk at {offset}: {result}", {"upload": result})
        return filekey
