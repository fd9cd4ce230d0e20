"""The MediaWiki Action API client: every read of a wiki's api.php, and the test bed's writes. The
restore bot writes through pywikibot instead (restorer/bot.py), for its throttle and assert=user.

A hand-written client rather than mwclient: it batches titles by URL length, sends `maxlag` on
every request (mwclient sends it only to index.php), merges continuations per batch, and never
resends a write after a lost connection; mwclient would need all of that layered on top.

Every request carries a descriptive User-Agent and `maxlag`; reads are retried with backoff on
lag, rate limits, 5xx and connection errors. A write is retried only when the wiki says it did
not happen (maxlag, ratelimited, HTTP 429/503), never after a lost connection, so no upload is
sent twice behind the caller's back. Large files go up in chunks read from disk, so no file is
ever held in memory whole.
"""
from __future__ import annotations

import os
import time
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from mediarescue.transport import guard

VERSION = "0.1.0"
CHUNK_SIZE = 4 * 1024 * 1024
_NOT_DONE = {"maxlag", "ratelimited", "readonly"}  # the wiki did nothing: safe to send again
MAX_TITLES_LENGTH = 7000  # of `titles=` in a GET, URL-encoded: front ends refuse URLs much over 8 KB


def title_batches(titles: Sequence[str], size: int, max_length: int | None = MAX_TITLES_LENGTH
                  ) -> Iterator[list[str]]:
    """`size` titles at most, and with max_length, no more than that many URL-encoded characters."""
    chunk: list[str] = []
    length = 0
    for title in titles:
        title_length = len(quote(title)) + 3 if max_length else 0  # "|" encodes as %7C
        if chunk and (len(chunk) == size or (max_length and length + title_length > max_length)):
            yield chunk
            chunk, length = [], 0
        chunk.append(title)
        length += title_length
    if chunk:
        yield chunk


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
        self.session = guard(requests.Session())  # the login POST carries the password: no redirect takes it
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

    def rights(self) -> set[str]:
        """What the logged-in account may do."""
        return self.account()[1]

    def account(self) -> tuple[str, set[str]]:
        """The logged-in account's user name and rights, in one request."""
        info = self.get(action="query", meta="userinfo", uiprop="rights")["query"]["userinfo"]
        return info["name"], set(info["rights"])

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
        """The pages of each batch, whole: a page whose props (imageinfo, revisions...) continue over
        several replies is merged until the API says the batch is complete. Each page carries
        `asked`: its title as requested, before the wiki normalized it or (redirects=1) followed a
        redirect."""
        request = {"action": "query", **params}
        pages: dict[Any, dict] = {}
        asked: dict[str, str] = {}
        while True:
            reply = self.get(**request)
            query = reply.get("query", {})
            asked |= {n["to"]: n["from"] for n in query.get("normalized", [])}
            asked |= {r["to"]: asked.get(r["from"], r["from"]) for r in query.get("redirects", [])}
            for page in query.get("pages", []):
                merged = pages.setdefault(page.get("pageid", page["title"]), {})
                for key, value in page.items():
                    if isinstance(value, list) and isinstance(merged.get(key), list):
                        merged[key].extend(value)
                    else:
                        merged[key] = value
            if reply.get("batchcomplete") or "continue" not in reply:
                if pages:
                    yield [{**page, "asked": asked.get(page["title"], page["title"])} for page in pages.values()]
                pages, asked = {}, {}
            if "continue" not in reply:
                return
            request = {"action": "query", **params, **reply["continue"]}

    def pages_of(self, titles: Sequence[str], batch: int, **params: Any) -> Iterator[dict]:
        """The pages of `titles` (see `pages`), asked `batch` titles to a request or fewer, so that
        no URL grows too long."""
        for chunk in title_batches(titles, batch):
            for pages in self.pages(titles="|".join(chunk), **params):
                yield from pages

    def filearchive(self, names: Collection[str], faprop: str, whole_above: int) -> Iterator[dict]:
        """The filearchive rows (deleted file versions) of the files named as stored (no namespace,
        underscores): one range request per name, or for more than `whole_above` names one listing
        of the whole archive, since the API takes no list of names."""
        wanted = set(names)
        ranges = [{"fafrom": name, "fato": name} for name in sorted(wanted)] if len(wanted) <= whole_above else [{}]
        for bounds in ranges:
            for reply in self.query(list="filearchive", falimit="max", faprop=faprop, **bounds):
                yield from (row for row in reply.get("filearchive", []) if row["name"] in wanted)

    def log_events(self, start: str, end: str | None = None, user: str | None = None,
                   title: str | None = None) -> Iterator[dict]:
        """The file namespace's log entries from `start` to `end` (ISO 8601 UTC, both included), oldest
        first: uploads, overwrites, reverts, deletions, undeletions, moves; by `user` or of `title` if
        given. An entry whose target or user is hidden from the account comes without it."""
        for batch in self.query(list="logevents", lestart=start, leend=end, ledir="newer", leuser=user,
                                letitle=title, lenamespace=None if title else 6, lelimit="max",
                                leprop="ids|title|type|user|timestamp|details|comment"):
            yield from batch.get("logevents", [])

    def deleted_revisions(self, title: str) -> list[str]:
        """The timestamps of a page's deleted revisions (needs deletedhistory): what `undelete`
        takes to bring its text back with its file versions."""
        found: list[str] = []
        for pages in self.pages(titles=title, prop="deletedrevisions", drvprop="timestamp", drvlimit="max"):
            found += [r["timestamp"] for page in pages for r in page.get("deletedrevisions", [])]
        return found

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
