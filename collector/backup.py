"""A backup run: every file version the account may see (a full run) or those of the titles that
changed since the last run (an incremental run, collector.incremental), with its metadata, into
the catalog, and its bytes, verified, into the blob store.

A full run lists metadata in batches (generator=allimages with imageinfo and the description page
text, then list=filearchive for deleted versions) and records it batch by batch; each batch's
versions that still need bytes go to a pool of download workers at once, so listing and
downloading overlap. Only the main thread writes to the catalog. A killed run leaves committed rows
and whole blobs only: the next run records the same versions again (no duplicates, same ids) and
downloads only what is not stored yet.

A full run first applies the log since the last run, as an incremental run does, so that moves
and deletions are recorded as what they are; what it then does not see anywhere, and the log did
not explain, is marked 'vanished' (never erased). Each run is a snapshot: the catalog keeps every
state a version had before a run changed it (catalog.version_states).
"""
from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3
from swiftclient.exceptions import ClientException

from collector import incremental, ranges
from collector import metadata as kept_metadata
from collector.incremental import NoLogPosition
from collector.ranges import IIPROP
from mediarescue.blobstore.base import BlobStore, ChecksumMismatch, Stored
from mediarescue.blobstore.crypto import CorruptBlob, KeyRequired, WrongKey
from mediarescue.catalog import Catalog, Pending, Version, snapshots
from mediarescue.config import WikiConfig
from mediarescue.mediawiki import (
    MediaLayout,
    MediaWiki,
    archive_path,
    deleted_path,
    public_path,
    upload_dir_path,
    user_agent,
)
from mediarescue.swift import SwiftStore, hide_location, unreachable

CHUNK = 1 << 20


class Missing(Exception):
    """The source has no bytes for this version (HTTP 404, no such object)."""


class _Transient(Exception):
    """Worth another try: 5xx, 429, a dropped connection."""


class StorageUnreachable(_Transient):
    """No connection to the wiki's Swift could be made, through every retry of a version: every
    other version would fail the same way, so the run stops (hardening, issue 16)."""


@dataclass
class Progress:
    """What a run reports as it goes; the defaults do nothing."""
    listed: Callable[[int, int], None] = lambda versions, size: None       # versions found, their bytes
    stored: Callable[[int, int], None] = lambda versions, size: None       # versions done, their bytes
    failed: Callable[[str, str], None] = lambda title, error: None


class Stopped(Exception):
    """The run was asked to stop (Options.stop): it ends at a batch's edge, its downloads settled."""


@dataclass(frozen=True)
class Options:
    workers: int = 4
    batch: int | None = None            # titles per metadata request; default 50, 500 with apihighlimits
    retries: int = 3                    # extra tries of one download on transient errors
    backoff: float = 1.0
    url_rewrite: tuple[str, str] | None = None  # (prefix, replacement) for file URLs, e.g. through a proxy
    progress: Progress = field(default_factory=Progress)
    # asked before each batch is recorded: True ends the run there, once its downloads in flight are
    # stored and recorded (a follower's SIGTERM); the next run resumes without fetching anything twice
    stop: Callable[[], bool] = lambda: False
    metadata: kept_metadata.Settings = field(default_factory=kept_metadata.Settings)  # the catalog's store copies
    lease: float = 120.0                # shared work (PostgreSQL): how long a claim holds without renewal
    join_wait: float = 60.0             # --join: how long to wait for a run to join
    list_split: int = 0                 # a full run on PostgreSQL: list the wiki as this many title ranges (0: one)
    split_at: tuple[str, ...] = ()      # ... cut at these titles rather than where the catalog's titles say


@dataclass
class Summary:
    run: dict[str, Any]
    errors: list[dict[str, Any]]
    unreachable: int
    collisions: list[dict[str, Any]]
    snapshot: dict[str, Any] = field(default_factory=dict)  # new and changed versions, log entries read
    changes: incremental.Changes = field(default_factory=incremental.Changes)  # the log entries applied
    stored_at: dict[tuple[str, str], float] = field(default_factory=dict)  # incremental runs: (upload
    # timestamp, sha1) -> when its bytes were stored (time.time()), for the follower's lag
    metadata: dict[str, Any] = field(default_factory=dict)  # the object written to the store, or why none was

    @property
    def ok(self) -> bool:
        return not self.errors and "error" not in self.metadata


class _Sources:
    """Where a version's bytes are read from: Swift when configured, else its URL. Per thread."""

    def __init__(self, wiki: WikiConfig, contact: str, options: Options):
        self.wiki, self.options = wiki, options
        self.layout = MediaLayout(wiki.swift.wiki_id, wiki.swift.sharded) if wiki.swift else None
        self._local = threading.local()
        self._contact = contact

    def locate(self, title: str, status: str, sha1: str, archive_name: str | None
               ) -> tuple[str | None, str | None, str | None]:
        """(Swift container, object) or (None, None, a path in the upload directory), or all None:
        then only a live version's URL has its bytes."""
        if status == "deleted":
            zone, rel_path = "deleted", deleted_path(sha1, title)
        else:
            zone, rel_path = "public", archive_path(archive_name) if status == "old" else public_path(title)
        if self.layout:
            return *self.layout.locate(zone, rel_path), None
        if self.wiki.upload_dir:
            return None, None, str(upload_dir_path(self.wiki.upload_dir, zone, rel_path))
        return None, None, None

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
            self._local.session.headers["User-Agent"] = user_agent(self._contact)
        return self._local.session

    def _swift(self) -> SwiftStore:
        if not hasattr(self._local, "swift"):
            s = self.wiki.swift
            self._local.swift = SwiftStore(s.auth_url, s.user, s.key, retries=0)  # _fetch retries: not twice
        return self._local.swift

    def chunks(self, version: Version) -> Iterator[bytes]:
        if version.source_container:
            yield from self._swift_chunks(version.source_container, version.source_object)
        elif version.source_path:
            yield from self._file_chunks(version.source_path)
        elif version.source_url:
            yield from self._http_chunks(version.source_url)
        else:
            raise Missing("no source: deleted versions are readable only from the wiki's Swift or upload_dir")

    @staticmethod
    def _file_chunks(path: str) -> Iterator[bytes]:
        """A file of the wiki's upload directory, streamed. Missing there is missing (a mount that is
        gone fails the same way: `verify` tells the two apart before calling anything lost)."""
        try:
            with open(path, "rb") as source:
                while chunk := source.read(CHUNK):
                    yield chunk
        except FileNotFoundError:
            raise Missing(f"no file {path} in the wiki's upload directory") from None

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
            if unreachable(error):
                raise StorageUnreachable(f"the wiki's Swift at {self.wiki.swift.auth_url} is unreachable "
                                         f"({type(error).__name__})") from error
            raise _Transient(f"{type(error).__name__} reading {container}/{name} from Swift") from error


def _fetch(sources: _Sources, blobs: BlobStore, version: Version, options: Options) -> Stored:
    for attempt in range(options.retries + 1):
        try:
            return blobs.put(sources.chunks(version), expect_sha1=version.sha1, private=version.status == "deleted")
        except _Transient:
            if attempt == options.retries:
                raise
            time.sleep(options.backoff * 2 ** attempt)
    raise AssertionError("unreachable")


class _Recorder:
    """One run's recording (incremental.Recorder): versions into the catalog batch by batch, and the
    bytes they still lack to a pool of download workers, so that reading and downloading overlap.
    Only the main thread writes to the catalog."""

    def __init__(self, wiki: WikiConfig, catalog: Catalog, blobs: BlobStore, sources: _Sources, options: Options,
                 run: int):
        self.wiki, self.run = wiki.name, run
        self.catalog, self.blobs, self.sources, self.options = catalog, blobs, sources, options
        self.progress = options.progress
        self.pool = ThreadPoolExecutor(options.workers, thread_name_prefix="download")
        self.in_flight: dict[Future, Pending] = {}
        self.failed: list[int] = []      # version ids whose bytes could not be stored
        self.unreachable = 0
        self.stored_sha1: set[str] = set()
        self.seals: dict[Future, tuple[str, str]] = {}  # blobs being sealed: (sha256, sha1)
        self.seal_errors: list[dict[str, Any]] = []
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"  # its claims (shared work)
        self.renewed = time.monotonic()
        self.stored_count = 0
        self.stored_at: dict[tuple[str, str], float] | None = None  # kept by incremental runs only

    def live_versions(self, page: dict) -> tuple[list[Version], list[dict], list[tuple[str, str]]]:
        versions, texts, hidden = [], [], []
        for info in page.get("imageinfo", []):
            if "sha1" not in info:  # a version hidden from this account (revision deletion)
                if "timestamp" in info:
                    hidden.append((page["title"], info["timestamp"]))
                continue
            status = "old" if "archivename" in info else "current"
            container, obj, path = self.sources.locate(page["title"], status, info["sha1"], info.get("archivename"))
            versions.append(Version(
                self.wiki, page["title"], info["timestamp"], info["sha1"], page["title"], int(info["size"]), status,
                user=info.get("user"), comment=info.get("comment"), mime=info.get("mime"),
                media_type=info.get("mediatype"), archive_name=info.get("archivename"),
                private=int(bool(info.get("filehidden") or info.get("suppressed"))),  # what the wiki hides, we hide
                source_url=info.get("url"), source_container=container, source_object=obj, source_path=path))
        for revision in page.get("revisions", [])[:1]:
            texts.append({"wiki": self.wiki, "title": page["title"], "page_id": page.get("pageid"),
                          "rev_id": revision["revid"], "rev_timestamp": revision.get("timestamp"),
                          "text": revision["slots"]["main"].get("content", "")})
        return versions, texts, hidden

    def deleted_version(self, row: dict) -> Version | None:
        if "sha1" not in row:
            return None
        container, obj, path = self.sources.locate(row["title"], "deleted", row["sha1"], None)
        return Version(
            self.wiki, row["title"], row["timestamp"], row["sha1"], row["title"], int(row["size"]), "deleted",
            user=row.get("user"), comment=row.get("description"), mime=row.get("mime"),
            media_type=row.get("mediatype"), archive_name=row.get("archivename"), filearchive_id=row.get("id"),
            private=1, source_container=container, source_object=obj, source_path=path)

    def record(self, versions: list[Version], texts: Sequence[dict] = (), hidden: Sequence[tuple[str, str]] = (),
               hidden_deleted: Sequence[tuple[str, str]] = ()) -> None:
        if self.options.stop():
            raise Stopped()
        jobs = self.catalog.record_versions(self.run, versions)
        self.catalog.record_pages(self.run, texts)
        private = self.catalog.seen_hidden(self.run, self.wiki, hidden) if hidden else []
        if hidden_deleted:
            private += self.catalog.seen_hidden(self.run, self.wiki, hidden_deleted, deleted=True)
        # State, not change: a run killed before its seals were done leaves them to the next run, which sees
        # the same versions private again.
        self.seal_private(private + self.catalog.version_ids([v for v in versions if v.private]))
        self.progress.listed(len(versions), sum(v.size for v in versions))
        fetchable = []
        for job in jobs:
            if job.version.status == "deleted" and not (job.version.source_container or job.version.source_path):
                self.catalog.failed(job.id, "unreachable", "deleted versions are readable only from the wiki's "
                                    f"Swift or upload directory (no [wiki.{self.wiki}.swift] nor "
                                    f"wiki.{self.wiki}.upload_dir in the config)", self.run)
                self.unreachable += 1
                self.progress.stored(1, job.version.size)  # handled, if not stored: the bar must reach its end
                continue
            fetchable.append(job)
        if self.catalog.shared:  # joined processes fetch too: every fetch goes through a claim
            self.catalog.enqueue(self.run, fetchable)
            self.pump()
            return
        for job in fetchable:
            self.in_flight[self.pool.submit(_fetch, self.sources, self.blobs, job.version, self.options)] = job
            while len(self.in_flight) >= self.options.workers * 4:
                self._settle(wait(self.in_flight, return_when=FIRST_COMPLETED).done)

    def pump(self) -> None:
        """Shared work: claim what the pool has room for, and settle downloads while it is full.
        Claims are renewed while they are worked on."""
        room = self.options.workers * 4 - len(self.in_flight)
        if room > 0:
            for version_id, fields in self.catalog.claim(self.run, self.owner, room, self.options.lease):
                job = Pending(version_id, Version(*fields))
                self.in_flight[self.pool.submit(_fetch, self.sources, self.blobs, job.version, self.options)] = job
        while len(self.in_flight) >= self.options.workers * 4 and not self.options.stop():
            self.settle_some()

    def settle_some(self) -> None:
        """Settle the downloads done within a third of a lease, renewing the claims when due."""
        self._settle(wait(self.in_flight, timeout=self.options.lease / 3, return_when=FIRST_COMPLETED).done)
        if time.monotonic() - self.renewed >= self.options.lease / 3:
            self.catalog.renew(self.owner, self.options.lease)
            self.renewed = time.monotonic()

    def drain(self, lister_done: Callable[[], bool], list_some: Callable[[], bool] = lambda: False) -> bool:
        """Shared work: fetch until the run has none left (True), or until asked to stop (False:
        nothing more is claimed; what is in flight is left to finish()). A version another process
        claimed is waited for; if that process died, its lease runs out and the version is claimed here.
        `list_some` lists a title range of the run when one is free (True), fetching meanwhile."""
        while True:
            if self.options.stop():
                return False
            if list_some():
                continue
            self.pump()
            if self.in_flight:
                self.settle_some()
                continue
            if lister_done() and not self.catalog.work_left(self.run):
                return True
            time.sleep(min(1.0, self.options.lease / 4))

    def _settle(self, futures: set[Future]) -> None:
        for future in futures:
            job = self.in_flight.pop(future)
            try:
                stored = future.result()
            except StorageUnreachable:
                raise
            except (Missing, _Transient, ChecksumMismatch, OSError) as error:
                message = hide_location(str(error)) if job.version.private else str(error)
                self.catalog.failed(job.id, "error", message, self.run)
                self.failed.append(job.id)
                self.progress.failed(job.version.title, message)
                self.progress.stored(1, job.version.size)  # handled, if not stored: the bar must reach its end
                continue
            self.catalog.stored(job.id, stored.sha256, stored.sha1, stored.size, stored.new, self.run,
                                encrypted=stored.encrypted)
            self.stored_count += 1
            self.stored_sha1.add(job.version.sha1)
            if self.stored_at is not None:
                self.stored_at[(job.version.timestamp, job.version.sha1)] = time.time()
            self.progress.stored(1, job.version.size)

    def seal_private(self, version_ids: Iterable[int]) -> None:
        """Versions this run found private: their blobs still kept in plaintext are sealed before the
        run ends, by the download workers, with the store's one sealing step (as `check` does)."""
        if self.blobs.encryption_key is None:
            return  # no key: `backup` warned, `check` counts them
        sealing = set(self.seals.values())
        for blob in self.catalog.unsealed_private(version_ids):
            if blob not in sealing:
                self.seals[self.pool.submit(self.blobs.seal, *blob)] = blob
                sealing.add(blob)

    def _settle_seals(self) -> None:
        for future in list(self.seals):
            sha256, sha1 = self.seals.pop(future)
            try:
                self.catalog.blob_encrypted(sha256, future.result().encrypted)
            except (ChecksumMismatch, CorruptBlob, KeyRequired, WrongKey, _Transient, OSError, ClientException,
                    urllib3.exceptions.HTTPError, requests.RequestException) as error:
                why = f"its blob {sha256} is private and could not be sealed ({type(error).__name__}: {error}); " \
                      "`mediarescue check --repair --yes` seals it or quarantines it"
                for v in self.catalog.blob_versions(sha256):
                    if v["private"]:
                        self.seal_errors.append({"id": v["id"], "title": v["title"], "status": v["status"],
                                                 "sha1": sha1, "error": why})
                        self.progress.failed(v["title"], why)

    def finish(self) -> None:
        """Every download settled and recorded, every seal done; on a shared catalog, the run's queue
        drained first (what joined processes claimed included). Asked to stop meanwhile, nothing more
        is claimed, the downloads not started yet are dropped (their versions stay pending, their
        claims released) and Stopped is raised, so that the run does not count as done and the next
        one fetches them."""
        cut_short = self.catalog.shared and not self.drain(lambda: True)
        while self.in_flight:
            if self.options.stop():
                for future in [f for f in self.in_flight if f.cancel()]:
                    del self.in_flight[future]
                    cut_short = True
            self._settle(wait(self.in_flight, timeout=0.5, return_when=FIRST_COMPLETED).done)
        if cut_short and self.catalog.shared:
            self.catalog.release(self.owner)
        self._settle_seals()
        if cut_short:
            raise Stopped()

    def close(self, wait_for_downloads: bool) -> None:
        self.pool.shutdown(wait=wait_for_downloads, cancel_futures=True)
        if self.catalog.shared and not wait_for_downloads:
            self.catalog.release(self.owner)  # what it claimed goes back to the others at once


@dataclass
class Joined:
    """What a joined process did for a run (None: no run of the wiki was under way)."""
    run: int | None
    stored: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


def join(wiki: WikiConfig, catalog: Catalog, blobs: BlobStore, contact: str, options: Options = Options()) -> Joined:
    """Fetch for the run of `wiki` under way (a `backup` on any host, with the same config and a
    PostgreSQL catalog) until it has no work left: claim pending versions in batches, store their
    bytes, mark them stored. Waits up to `options.join_wait` seconds for a run to start."""
    deadline = time.monotonic() + options.join_wait
    while (run := catalog.running_run(wiki.name)) is None:
        if time.monotonic() >= deadline:
            return Joined(None)
        time.sleep(1)
    recorder = _Recorder(wiki, catalog, blobs, _Sources(wiki, contact, options), options, run)
    done = False
    try:  # the run's title ranges, if its listing is split, are listed here too
        recorder.drain(lambda: catalog.listing_over(run),
                       ranges.joined_lister(catalog, recorder, lambda: ranges.login(wiki, contact)))
        done = True
    finally:
        recorder.close(wait_for_downloads=done)
    return Joined(run, recorder.stored_count, catalog.errors(recorder.failed))


def _cuts(api: MediaWiki, catalog: Catalog, wiki: str, options: Options) -> list[str] | None:
    """Where a full run's listing is cut into title ranges (list_split, split_at); None: not cut."""
    if options.list_split < 2 and not options.split_at:
        return None
    return ranges.bounds(api, catalog, wiki, max(options.list_split, len(options.split_at) + 1), options.split_at)


def _list_split(catalog: Catalog, run: int, cuts: list[str], recorder: _Recorder,
                connected: tuple[MediaWiki, int, bool]) -> None:
    """The listing as title ranges cut at `cuts`, shared with the joined processes (after the log
    is applied: a range must not record a moved file's versions as new ones before the move): list
    ranges and fetch until every range is listed, by whichever process."""
    catalog.plan_ranges(run, cuts)
    lister = ranges.RangeLister(catalog, recorder, lambda: connected)
    if not recorder.drain(lambda: catalog.ranges_left(run) == 0, lister.list_one):
        raise Stopped()


def _mark_vanished(catalog: Catalog, run: int, wiki: str, see_deleted: bool) -> int:
    """After a whole listing: what it did not see anywhere, and the log did not explain, is
    marked 'vanished' (kept, with its bytes). Deleted versions only count as unseen when this
    account may list them."""
    statuses = ("current", "old", "deleted") if see_deleted else ("current", "old")
    unseen = catalog.unseen(wiki, run, statuses)
    return catalog.change_versions(run, {version_id: {"status": "vanished"} for version_id, _, _ in unseen})


def backup(wiki: WikiConfig, catalog: Catalog, blobs: BlobStore, contact: str, options: Options = Options(),
           incremental_run: bool = False) -> Summary:
    """A full run, or with `incremental_run` only what the log says changed since the last run
    (NoLogPosition when no finished run of this wiki says where the log was read up to)."""
    stored_position = snapshots.log_position(catalog, wiki.name)
    if incremental_run and stored_position is None:
        raise NoLogPosition(f"no finished backup of {wiki.name} says where its log was read up to: "
                            "run a full backup first (mediarescue backup --full)")
    position = incremental.LogPosition.from_json(stored_position) if stored_position else None
    api, high_batch, see_deleted = ranges.login(wiki, contact)
    batch = options.batch or high_batch
    cuts = None if incremental_run else _cuts(api, catalog, wiki.name, options)
    run = catalog.start_run(wiki.name, "incremental" if incremental_run else "full")
    blobs.sweep()  # what killed runs left in the spool; a live writer's file (another catalog's run) stays
    recorder = _Recorder(wiki, catalog, blobs, _Sources(wiki, contact, options), options, run)
    recorder.stored_at = {} if incremental_run else None
    changes = incremental.Changes()
    status = "interrupted"
    try:
        if position is None:  # a first full run: it covers everything the log holds so far
            new_position = incremental.head_position(api)
        else:  # the log since the last run, so that a full run too records moves and deletions as such
            changes, new_position = incremental.read_changes(api, position)
            incremental.apply_changes(api, catalog, recorder, changes, batch, see_deleted, IIPROP)
        if cuts is not None:
            _list_split(catalog, run, cuts, recorder, (api, batch, see_deleted))
        elif not incremental_run:
            ranges.list_titles(api, recorder, batch, see_deleted)
        recorder.finish()
        if not incremental_run:
            _mark_vanished(catalog, run, wiki.name, see_deleted)
        snapshots.save_log_position(catalog, run, new_position.to_json())
        status = "done"
    except Stopped:
        with contextlib.suppress(Stopped):  # cut short again: what had not started stays pending
            recorder.finish()  # what is in flight is stored and recorded: the next run fetches none of it again
        status = "stopped"
    except KeyboardInterrupt:
        raise
    except BaseException:
        status = "failed"
        raise
    finally:
        recorder.close(wait_for_downloads=status in ("done", "stopped"))
        record = catalog.finish_run(run, "interrupted" if status == "stopped" else status)
        # Interrupted or stopped: the operator wants it to end now; the next run's object holds this run's rows too.
        written = _save_metadata(catalog, blobs, options.metadata) if status not in ("interrupted", "stopped") else {}
    # A full run reports every collision in the catalog; an incremental one those it may have made,
    # since a scan of the whole catalog would cost more than the run itself.
    collisions = snapshots.collisions_among(catalog, recorder.stored_sha1) if incremental_run \
        else catalog.collisions()
    detail = {**snapshots.snapshot(catalog, run), "log_entries": changes.entries,
              "titles_read_again": len(changes.titles), "hidden_log_entries": changes.hidden_entries,
              "requests": api.requests_sent}
    return Summary(run=record, errors=catalog.errors(recorder.failed) + recorder.seal_errors,
                   unreachable=recorder.unreachable, collisions=collisions, snapshot=detail, changes=changes,
                   stored_at=recorder.stored_at or {}, metadata=written)


def _save_metadata(catalog: Catalog, blobs: BlobStore, settings: kept_metadata.Settings) -> dict[str, Any]:
    """The run's rows into the store (collector.metadata). A store that fails here fails the
    run's exit, not its rows: they wait in the catalog for the next run's object."""
    began = time.monotonic()
    try:
        obj = kept_metadata.save(catalog, blobs, settings)
    except (OSError, ClientException, requests.RequestException, urllib3.exceptions.HTTPError) as error:
        return {"error": f"the catalog's metadata was not written to the store ({type(error).__name__}: {error}); "
                         "the next run writes it"}
    return {"name": obj.name, "kind": obj.kind, "bytes": obj.size, "seconds": round(time.monotonic() - began, 3)}
