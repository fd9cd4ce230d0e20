"""Follow mode: a long-running service that keeps a wiki's backup current.

Every `interval` seconds (from the start of one pass to the next) it applies the wiki's log since
the last run — an incremental run (collector.incremental), a few requests when nothing changed —
and every `full_every` seconds a full run, which reconciles what a log can miss (suppressed
entries). The first pass of a wiki never backed up is a full run. Each pass is an ordinary run,
recorded and resumable as any other; one process per catalog (the catalog's lock, taken by the
command).

Stopping: `stop()` (the command calls it on SIGTERM or Ctrl-C) lets the pass under way end at the
edge of its next batch, once the downloads in flight are stored and recorded; no new pass starts.
The next start resumes from the last finished run: nothing is lost, and what was stored is not
fetched again.

Lag: for every log entry a pass applies, the time from the entry's timestamp to the moment its
bytes were stored (an upload's new version), or to the end of the pass (other changes, or bytes
already held). The wiki's log has whole seconds, so a lag is ±1 s.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
import urllib3
from swiftclient.exceptions import ClientException

from collector.backup import Options, Progress, StorageUnreachable, Summary, backup
from mediarescue import metrics
from mediarescue.blobstore.base import BlobStore
from mediarescue.catalog import Catalog, snapshots
from mediarescue.config import WikiConfig
from mediarescue.mediawiki import APIError
from mediarescue.status import gather
from policies.health import moment

# What a pass can fail with that the next pass may not: the wiki or a storage down, a network error.
PASS_ERRORS = (APIError, requests.RequestException, urllib3.exceptions.HTTPError, ClientException,
               StorageUnreachable, OSError)


@dataclass(frozen=True)
class FollowOptions:
    interval: float = 60.0                   # seconds from the start of one pass to the next
    full_every: float | None = 7 * 86400.0   # seconds between full runs; None: never after the first
    backup: Options = field(default_factory=Options)
    max_age: timedelta = timedelta(hours=26)  # for the status the metrics carry
    metrics_file: Path | None = None         # also written after each pass, when configured
    log: Callable[[str], None] = lambda line: None
    quiet_log_every: float = 3600.0          # passes that change nothing are logged once in this many seconds


def change_lags(summary: Summary, ended: float) -> list[float]:
    """Seconds from each applied log entry to its bytes stored (an upload), or to `ended`."""
    lags = []
    for logged, upload in summary.changes.logged:
        done = summary.stored_at.get(upload, ended) if upload else ended
        lags.append(max(0.0, done - moment(logged).timestamp()))
    return lags


class Follower:
    def __init__(self, wiki: WikiConfig, catalog: Catalog, blobs: BlobStore, contact: str, options: FollowOptions,
                 follow_metrics: metrics.FollowMetrics | None = None, key_configured: bool = False):
        self.wiki, self.catalog, self.blobs, self.contact = wiki, catalog, blobs, contact
        self.options, self.metrics, self.key_configured = options, follow_metrics, key_configured
        self._stop = threading.Event()
        self.passes = 0
        self.quiet = 0  # passes that changed nothing and were not logged, since the last line
        self._said = time.monotonic()
        self._store: dict[str, int] | None = None  # the store's totals: counted after full runs, else summed

    def stop(self) -> None:
        """End after the pass under way (at its next batch's edge); start no other."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def next_kind(self) -> str:
        """A full run first, and whenever the last full run that finished is older than full_every."""
        if snapshots.log_position(self.catalog, self.wiki.name) is None:
            return "full"
        last_full = self.catalog.last_run(self.wiki.name, "full", done=True)
        if self.options.full_every is not None and (
                last_full is None or time.time() - moment(last_full["started"]).timestamp() >= self.options.full_every):
            return "full"
        return "incremental"

    def run(self) -> None:
        """Passes until stop() is called."""
        self._refresh_metrics(recount=True)
        while not self.stopping:
            began = time.monotonic()
            self.one_pass(self.next_kind())
            self._stop.wait(max(0.0, self.options.interval - (time.monotonic() - began)))

    def one_pass(self, kind: str) -> Summary | None:
        log = self.options.log
        backup_options = replace(self.options.backup, stop=lambda: self.stopping)
        try:
            summary = backup(self.wiki, self.catalog, self.blobs, self.contact, backup_options,
                             incremental_run=kind == "incremental")
        except PASS_ERRORS as error:  # the next pass tries again; the metrics and `status` show it
            log(f"follow {self.wiki.name}: {kind} pass failed: {type(error).__name__}: {error}; "
                f"the next pass tries again")
            self._count(kind, "failed")
            self._refresh_metrics(recount=False)
            return None
        ended = time.time()
        self.passes += 1
        run = summary.run
        lags = change_lags(summary, ended)
        if lags:
            self.catalog.set_run_lag(run["id"], max(lags))
        result = "stopped" if run["status"] == "interrupted" else "ok" if summary.ok else "errors"
        self._count(kind, result, run, lags, summary.snapshot.get("requests", 0))
        self._log_pass(kind, run, summary, lags)
        self._refresh_metrics(recount=kind == "full", run=run)
        return summary

    def _log_pass(self, kind: str, run: dict[str, Any], summary: Summary, lags: Sequence[float]) -> None:
        """A line a pass that did something; a pass that changed nothing only once in quiet_log_every
        (a line a minute of nothing hides the lines that matter)."""
        idle = kind == "incremental" and summary.ok and not summary.changes.entries and not run["versions_stored"]
        if idle and time.monotonic() - self._said < self.options.quiet_log_every:
            self.quiet += 1
            return
        self.options.log(
            f"follow {self.wiki.name}: {kind} run {run['id']} {run['status']}: {summary.changes.entries} log entries, "
            f"{run['versions_stored']} versions stored, {run['new_blobs']} new blobs ({run['bytes'] / 2**20:.1f} MiB), "
            f"{run['errors']} errors" + (f", lag max {max(lags):.1f} s" if lags else "")
            + (f" ({self.quiet} quiet passes before it)" if self.quiet else ""))
        self.quiet, self._said = 0, time.monotonic()

    def _count(self, kind: str, result: str, run: dict | None = None, lags: Sequence[float] = (),
               requests: int = 0) -> None:
        if self.metrics is None:
            return
        name = self.wiki.name
        self.metrics.passes.labels(name, kind, result).inc()
        self.metrics.api_requests.labels(name).inc(requests)
        if run:
            self.metrics.versions_stored.labels(name).inc(run["versions_stored"])
            self.metrics.new_blobs.labels(name).inc(run["new_blobs"])
            self.metrics.bytes.labels(name).inc(run["bytes"])
        for lag in lags:
            self.metrics.lag.labels(name).observe(lag)

    def _refresh_metrics(self, recount: bool, run: dict | None = None) -> None:
        """The status gauges anew; the store's totals counted at the start and after full runs only (a
        pass over every blob), summed from the runs' new blobs in between."""
        if self.metrics is None and self.options.metrics_file is None:
            return
        if recount or self._store is None:
            self._store = self.catalog.store_totals()
        elif run:
            self._store = {**self._store, "blobs": self._store["blobs"] + run["new_blobs"],
                           "bytes": self._store["bytes"] + run["bytes"]}
        status = gather(self.catalog, [self.wiki.name], self.key_configured, self.options.max_age, store=self._store)
        if self.metrics is not None:
            self.metrics.status.update(status)
        if self.options.metrics_file is not None:
            try:
                metrics.write_textfile(self.options.metrics_file, status)
            except OSError as error:  # the follower goes on; the line says why the file is stale
                self.options.log(f"follow {self.wiki.name}: warning: metrics_file {self.options.metrics_file} not "
                                 f"written: {error}")


def quiet_progress(log: Callable[[str], None]) -> Progress:
    """A follower's progress: only the errors, as log lines."""
    return Progress(failed=lambda title, error: log(f"error: {title}: {error}"))
