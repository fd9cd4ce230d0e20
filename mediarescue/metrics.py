"""Metrics in Prometheus' text format, through prometheus_client: what `status` gathers, as gauges
(a textfile for node_exporter's textfile collector after each batch run, or a follower's HTTP
endpoint), and a follower's own counters and lag histogram. Every name starts with `mediarescue_`;
labels are wiki names (the config's), run kinds, check modes and backup states: never a secret.
The README lists every metric."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server, write_to_textfile
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mediarescue.catalog.status import RUN_KINDS
from mediarescue.status import Status
from policies.health import moment

# Lag of a change, from its log entry to its bytes stored: a follower's interval and a download apart.
LAG_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, float("inf"))
_RUN_FIGURES = (("versions_seen", "versions the run saw"), ("versions_stored", "versions whose bytes the run stored"),
                ("new_blobs", "contents the run stored first"),
                ("bytes", "bytes of the contents the run stored first"), ("errors", "versions the run failed"))


def _epoch(timestamp: str | None) -> float | None:
    return moment(timestamp).timestamp() if timestamp else None


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"mediarescue_{name}", doc, labels=list(labels))


class StatusCollector(Collector):
    """The gauges of a Status, as of its last `update`."""

    def __init__(self, status: Status | None = None):
        self.status = status

    def update(self, status: Status) -> None:
        self.status = status  # one reference swapped: a scrape sees the old or the new, whole

    def collect(self) -> Iterator[Metric]:
        if self.status is None:
            return
        yield from self._runs(self.status)
        yield from self._store(self.status)
        yield from self._checks(self.status)

    def _runs(self, status: Status) -> Iterator[Metric]:
        kinds = ("wiki", "kind")
        g = {name: _gauge(name, doc, labels) for name, doc, labels in (
            ("last_success_timestamp_seconds", "when the last run that finished its work ended", kinds),
            ("last_run_timestamp_seconds", "when the last run started", kinds),
            ("last_run_ok", "1 when the last run finished its work without errors", kinds),
            ("last_run_duration_seconds", "how long the last run that ended took", kinds),
            *((f"last_run_{f}", doc, kinds) for f, doc in _RUN_FIGURES),
            ("versions", "catalogued versions whose bytes are pending, or failed (error, unreachable)",
             ("wiki", "backup_status")),
            ("follow_lag_seconds", "the longest a change took from the wiki's log to its bytes stored, in the "
                                   "last follow pass that applied changes", ("wiki",)),
            ("restore_last_timestamp_seconds", "when the last restore started", ("wiki",)),
            ("restore_restored", "versions the last restore restored and verified", ("wiki",)),
            ("restore_failed", "actions of the last restore that failed", ("wiki",)),
            ("attention", "1 when `mediarescue status` would exit 1 for this wiki", ("wiki",)))}
        for w in status.wikis:
            name = w["wiki"]
            for kind in RUN_KINDS:
                done, last = w["last_success"][kind], w["last_run"][kind]
                if done:
                    g["last_success_timestamp_seconds"].add_metric([name, kind], _epoch(done["ended"]))
                if last:
                    g["last_run_timestamp_seconds"].add_metric([name, kind], _epoch(last["started"]))
                    g["last_run_ok"].add_metric([name, kind], float(last["status"] == "done" and not last["errors"]))
                    if last["ended"]:
                        g["last_run_duration_seconds"].add_metric(
                            [name, kind], _epoch(last["ended"]) - _epoch(last["started"]))
                    for figure, _doc in _RUN_FIGURES:
                        g[f"last_run_{figure}"].add_metric([name, kind], last[figure])
            for state, count in w["versions"].items():
                g["versions"].add_metric([name, state], count)
            if w["lag"]:
                g["follow_lag_seconds"].add_metric([name], w["lag"]["lag_seconds"])
            if w["last_restore"]:
                r = w["last_restore"]
                g["restore_last_timestamp_seconds"].add_metric([name], _epoch(r["started"]))
                g["restore_restored"].add_metric([name], r["restored"] or 0)
                g["restore_failed"].add_metric([name], r["failed"] or 0)
            g["attention"].add_metric([name], float(bool(w["attention"])))
        yield from g.values()

    def _store(self, status: Status) -> Iterator[Metric]:
        for key, doc in (("blobs", "contents in the blob store"), ("bytes", "bytes in the blob store"),
                         ("sealed", "contents stored encrypted"),
                         ("private_plaintext", "contents of private versions stored unencrypted")):
            family = _gauge(f"store_{key}", doc)
            family.add_metric([], status.store[key])
            yield family
        key = _gauge("encryption_key_configured", "1 when private content is sealed with a key")
        key.add_metric([], float(status.key_configured))
        yield key

    def _checks(self, status: Status) -> Iterator[Metric]:
        when = _gauge("check_last_timestamp_seconds", "when a check of this mode last ran", ("mode",))
        found = {k: _gauge(f"check_{k}", f"blobs the last check of this mode found {k}", ("mode",))
                 for k in ("checked", "missing", "corrupt", "errors")}
        for c in status.checks:
            when.add_metric([c["mode"]], _epoch(c["last_run"]))
            for k, family in found.items():
                family.add_metric([c["mode"]], c[f"last_{k}"] or 0)
        yield when
        yield from found.values()


def write_textfile(path: Path, status: Status) -> None:
    """The status as a textfile for node_exporter, written whole or not at all (a temporary file
    beside it, renamed over it: prometheus_client's write_to_textfile)."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(StatusCollector(status))
    write_to_textfile(str(path), registry)


class FollowMetrics:
    """A follower's registry: its status gauges, refreshed after every pass, and its own counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.status = StatusCollector()
        self.registry.register(self.status)
        self.passes = Counter("mediarescue_follow_passes", "follow passes, by kind and result",
                              ["wiki", "kind", "result"], registry=self.registry)
        self.versions_stored = Counter("mediarescue_follow_versions_stored", "versions whose bytes the follower "
                                       "stored", ["wiki"], registry=self.registry)
        self.new_blobs = Counter("mediarescue_follow_new_blobs", "contents the follower stored first", ["wiki"],
                                 registry=self.registry)
        self.bytes = Counter("mediarescue_follow_bytes", "bytes of the contents the follower stored first",
                             ["wiki"], registry=self.registry)
        self.api_requests = Counter("mediarescue_follow_api_requests", "requests the follower sent to the wiki's "
                                    "API", ["wiki"], registry=self.registry)
        self.lag = Histogram("mediarescue_follow_change_lag_seconds", "each change's time from its log entry to "
                             "its bytes stored", ["wiki"], buckets=LAG_BUCKETS, registry=self.registry)

    def serve(self, port: int, address: str = "127.0.0.1") -> None:
        """The /metrics endpoint, in a thread of its own, for the life of the process."""
        start_http_server(port, addr=address, registry=self.registry)
