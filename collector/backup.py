"""A full backup run: every file version the account may see, with its metadata, into the catalog,
and its bytes, verified, into the blob store.

Metadata is listed in batches (generator=allimages with imageinfo and the description page text,
then list=filearchive for deleted versions) and recorded batch by batch; each batch's versions
that still need bytes go to a pool of download workers at once, so listing and downloading overlap.
Only the main thread writes to the catalog. A killed run leaves committed rows and whole blobs
only: the next run records the same versions again (no duplicates, same ids) and downloads only
what is not stored yet.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3

from collector.blobstore import BlobStore, ChecksumMismatch, Stored
from collector.catalog import Catalog, Pending
from collector.config import WikiConfig
from collector.mediawiki import MediaWiki, user_agent
from collector.swift import MediaLayout, SwiftStore, archive_path, deleted_path, public_path
from swiftclient.exceptions import ClientException

IIPROP = "timestamp|user|comment|url|size|sha1|mime|mediatype|archivename"
FAPROP = "sha1|timestamp|user|size|mime|mediatype|description|archivename"
CHUNK = 1 << 20


class Missing(Exception):
    """The source has no bytes for this version (HTTP 404, no such object)."""


class _Transient(Exception):
    """Worth another try: 5xx, 429, a dropped connection."""


@dataclass
class Progress:
    """What a run reports as it goes; the defaults do nothing."""
    listed: Callable[[int, int], None] = lambda versions, size: None       # versions found, their bytes
    stored: Callable[[int, int], None] = lambda versions, size: None       # versions done, their bytes
    failed: Callable[[str, str], None] = lambda title, error: None


@dataclass(frozen=True)
class Options:
    workers: int = 4
    batch: int | None = None            # titles per metadata request; default 50, 500 with apihighlimits
    retries: int = 3                    # extra tries of one download on transient errors
    backoff: float = 1.0
    url_rewrite: tuple[str, str] | None = None  # (prefix, replacement) for file URLs, e.g. through a proxy
    progress: Progress = field(default_factory=Progress)


@dataclass
class Summary:
    run: dict[str, Any]
    errors: list[dict[str, Any]]
    unreachable: int
    collisions: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return not self.errors


def _name(title: str) -> str:
    return title.split(":", 1)[1]


class _Sources:
    """Where a version's bytes are read from: Swift when configured, else its URL. Per thread."""

    def __init__(self, wiki: WikiConfig, contact: str, options: Options):
        self.wiki, self.options = wiki, options
        self.layout = MediaLayout(wiki.swift.wiki_id, wiki.swift.sharded) if wiki.swift else None
        self._local = threading.local()
        self._contact = contact

    def locate(self, title: str, status: str, sha1: str, archive_name: str | None) -> tuple[str | None, str | None]:
        if not self.layout:
            return None, None
        if status == "deleted":
            return self.layout.locate("deleted", deleted_path(sha1, _name(title)))
        if status == "old":
            return self.layout.locate("public", archive_path(archive_name))
        return self.layout.locate("public", public_path(_name(title)))

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
            self._local.session.headers["User-Agent"] = user_agent(self._contact)
        return self._local.session

    def _swift(self) -> SwiftStore:
        if not hasattr(self._local, "swift"):
            s = self.wiki.swift
            self._local.swift = SwiftStore(s.auth_url, s.user, s.key, retries=self.options.retries,
                                           starting_backoff=self.options.backoff)
        return self._local.swift

    def chunks(self, job: Pending) -> Iterator[bytes]:
        if job.source_container:
            yield from self._swift_chunks(job.source_container, job.source_object)
        elif job.source_url:
            yield from self._http_chunks(job.source_url)
        else:
            raise Missing("no source: deleted versions are readable only from the wiki's Swift")

    def _http_chunks(self, url: str) -> Iterator[bytes]:
        if self.options.url_rewrite and url.startswith(self.options.url_rewrite[0]):
            url = self.options.url_rewrite[1] + url[len(self.options.url_rewrite[0]):]
        try:
            with self._session().get(url, stream=True, timeout=60) as response:
                if response.status_code == 404:
                    raise Missing(f"HTTP 404 from {url}")
                if response.status_code == 429 or response.status_code >= 500:
                    raise _Transient(f"HTTP {response.status_code} from {url}")
                response.raise_for_status()
                yield from response.iter_content(CHUNK)
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout) as error:
            raise _Transient(f"{type(error).__name__} reading {url}") from error

    def _swift_chunks(self, container: str, name: str) -> Iterator[bytes]:
        try:
            yield from self._swift().stream(container, name, CHUNK)
        except ClientException as error:
            if error.http_status == 404:
                raise Missing(f"no object {container}/{name} in Swift") from None
            raise _Transient(f"Swift {error.http_status} for {container}/{name}") from error
        except (urllib3.exceptions.HTTPError, requests.RequestException) as error:
            raise _Transient(f"{type(error).__name__} reading {container}/{name} from Swift") from error


def _fetch(sources: _Sources, blobs: BlobStore, job: Pending, options: Options) -> Stored:
    for attempt in range(options.retries + 1):
        try:
            return blobs.put(sources.chunks(job), expect_sha1=job.sha1)
        except _Transient:
            if attempt == options.retries:
                raise
            time.sleep(options.backoff * 2 ** attempt)
    raise AssertionError("unreachable")


def _file_versions(api: MediaWiki, wiki: WikiConfig, sources: _Sources, batch: int
                   ) -> Iterator[tuple[list[dict], list[dict]]]:
    """(versions, description pages) per batch of titles, from allimages."""
    for pages in api.pages(generator="allimages", gailimit=batch, gaisort="name", prop="imageinfo|revisions",
                           iilimit="max", iiprop=IIPROP, rvprop="ids|timestamp|content", rvslots="main"):
        versions, texts = [], []
        for page in pages:
            for info in page.get("imageinfo", []):
                if "sha1" not in info:
                    continue  # a version hidden from this account
                status = "old" if "archivename" in info else "current"
                container, obj = sources.locate(page["title"], status, info["sha1"], info.get("archivename"))
                versions.append({
                    "wiki": wiki.name, "title": page["title"], "title_at_upload": page["title"],
                    "timestamp": info["timestamp"], "user": info.get("user"), "comment": info.get("comment"),
                    "size": int(info["size"]), "mime": info.get("mime"), "media_type": info.get("mediatype"),
                    "sha1": info["sha1"], "status": status, "archive_name": info.get("archivename"),
                    "private": 0, "source_url": info.get("url"), "source_container": container, "source_object": obj})
            for revision in page.get("revisions", [])[:1]:
                texts.append({"wiki": wiki.name, "title": page["title"], "page_id": page.get("pageid"),
                              "rev_id": revision["revid"], "rev_timestamp": revision.get("timestamp"),
                              "text": revision["slots"]["main"].get("content", "")})
        yield versions, texts


def _deleted_versions(api: MediaWiki, wiki: WikiConfig, sources: _Sources, batch: int) -> Iterator[list[dict]]:
    for reply in api.query(list="filearchive", falimit=batch, faprop=FAPROP):
        versions = []
        for row in reply.get("filearchive", []):
            if "sha1" not in row:
                continue
            container, obj = sources.locate(row["title"], "deleted", row["sha1"], None)
            versions.append({
                "wiki": wiki.name, "title": row["title"], "title_at_upload": row["title"],
                "timestamp": row["timestamp"], "user": row.get("user"), "comment": row.get("description"),
                "size": int(row["size"]), "mime": row.get("mime"), "media_type": row.get("mediatype"), "sha1": row["sha1"],
                "status": "deleted", "archive_name": row.get("archivename"), "filearchive_id": row.get("id"),
                "private": 1, "source_url": None, "source_container": container, "source_object": obj})
        yield versions


def backup(wiki: WikiConfig, catalog: Catalog, blobs: BlobStore, contact: str, options: Options = Options()
           ) -> Summary:
    api = MediaWiki(wiki.api_url, contact, maxlag=wiki.maxlag)
    api.login(wiki.user, wiki.password)
    rights = set(api.get(action="query", meta="userinfo", uiprop="rights")["query"]["userinfo"]["rights"])
    batch = options.batch or (500 if "apihighlimits" in rights else 50)
    sources = _Sources(wiki, contact, options)
    progress = options.progress
    run = catalog.start_run(wiki.name, "full")
    in_flight: dict[Future, Pending] = {}

    def settle(futures: set[Future]) -> None:
        for future in futures:
            job = in_flight.pop(future)
            try:
                stored = future.result()
            except (Missing, _Transient, ChecksumMismatch, OSError) as error:
                status = "unreachable" if job.status == "deleted" and not job.source_container else "error"
                catalog.failed(job.id, status, str(error), run)
                if status == "error":
                    progress.failed(job.title, str(error))
                progress.stored(1, job.size)  # handled, if not stored: the bar must reach its end
                continue
            catalog.stored(job.id, stored.sha256, stored.sha1, stored.size, stored.new, run)
            progress.stored(1, job.size)

    def download(pool: ThreadPoolExecutor, jobs: list[Pending]) -> None:
        for job in jobs:
            if job.status == "deleted" and not job.source_container:
                catalog.failed(job.id, "unreachable", "deleted versions are readable only from the wiki's Swift "
                               f"(no [wiki.{wiki.name}.swift] in the config)", run)
                progress.stored(1, job.size)  # handled, if not stored: the bar must reach its end
                continue
            in_flight[pool.submit(_fetch, sources, blobs, job, options)] = job
            while len(in_flight) >= options.workers * 4:
                settle(wait(in_flight, return_when=FIRST_COMPLETED).done)

    status = "interrupted"
    pool = ThreadPoolExecutor(options.workers, thread_name_prefix="download")
    try:
        listings: list[Iterator[tuple[list[dict], list[dict]]]] = [_file_versions(api, wiki, sources, batch)]
        if "deletedhistory" in rights:
            listings.append(((versions, []) for versions in _deleted_versions(api, wiki, sources, batch)))
        for listing in listings:
            for versions, texts in listing:
                jobs = catalog.record_versions(run, versions)
                catalog.record_pages(run, texts)
                progress.listed(len(versions), sum(v["size"] for v in versions))
                download(pool, jobs)
        settle(set(in_flight))
        status = "done"
    except KeyboardInterrupt:
        raise
    except BaseException:
        status = "failed"
        raise
    finally:
        pool.shutdown(wait=status == "done", cancel_futures=True)
        record = catalog.finish_run(run, status)
    unreachable = catalog.conn.execute("SELECT COUNT(*) FROM versions WHERE wiki = ? AND last_run = ? AND "
                                       "backup_status = 'unreachable'", (wiki.name, run)).fetchone()[0]
    return Summary(run=record, errors=catalog.errors(wiki.name, run), unreachable=unreachable,
                   collisions=catalog.collisions())
