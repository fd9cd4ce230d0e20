"""Incremental runs: what changed since the last run, from the wiki's log, applied to the catalog.

`list=logevents` is the change feed (no 90-day limit, unlike recentchanges). One query without
`letype` but with `lenamespace=6` returns uploads (upload, overwrite, revert), deletions (delete,
restore, revision) and moves of files in one stream, in order; the few other kinds (page creation,
protection...) are dropped here. One query per type would cost three requests where one does.

The log is used only to learn WHICH titles changed. Those titles' whole state is then read again
(imageinfo with every version, and the filearchive of titles with a deletion-type event) and
reconciled with the catalog the way a full run does. Replaying each entry instead would need the
log to be complete and exactly ordered, and it is neither: entries can be hidden (revision
deletion, suppression), a title can change several times between two runs, and an entry does not
say which version a deletion or an undeletion touched. Reading the state as it is now makes a run
idempotent: re-applying a change that was already applied changes nothing.

Where the log was read up to is kept with each finished run (`snapshots.log_position`). Entries
are committed with ids and timestamps taken before the commit, so an entry can appear late with
a time just before the newest one seen: each run reads again from OVERLAP seconds before the
newest entry and skips the entries it already applied, which are remembered for that window.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from mediarescue.catalog import Catalog, Version
from mediarescue.mediawiki import MediaWiki, db_key, sha1_from_base36, title_batches

# An entry's id and time are taken inside its transaction, seconds before it commits, and the API reads
# replicas that maxlag keeps within 5 s: a minute is ten times the margin, and keeps the window re-read
# by every run small (after a burst of thousands of entries, one request per 5,000 of them).
OVERLAP = timedelta(seconds=60)
LEPROP = "ids|title|type|timestamp|details"
FAPROP = "sha1|timestamp|user|size|mime|mediatype|description|archivename"
_ISO = "%Y-%m-%dT%H:%M:%SZ"
EMPTY_LOG = "1970-01-01T00:00:00Z"  # the position of a wiki whose log had no file entry yet
_DELETIONS = {"delete", "delete_redir"}          # delete/...: the file's versions went to the filearchive
_ARCHIVE_ACTIONS = _DELETIONS | {"restore", "revision"}  # ... or came back, or were hidden: read it again


class NoLogPosition(Exception):
    """No finished run of this wiki says where its log was read up to."""


@dataclass(frozen=True)
class LogPosition:
    """The newest log entry applied, and the ids of those applied within OVERLAP before it."""
    timestamp: str
    recent: dict[int, str] = field(default_factory=dict)  # log id -> its timestamp

    def to_json(self) -> str:
        return json.dumps({"timestamp": self.timestamp, "recent": {str(k): v for k, v in self.recent.items()}})

    @classmethod
    def from_json(cls, text: str) -> LogPosition:
        data = json.loads(text)
        return cls(data["timestamp"], {int(k): v for k, v in data.get("recent", {}).items()})

    def after(self, entries: Iterable[tuple[int, str]]) -> LogPosition:
        """This position moved past `entries` (id, timestamp)."""
        recent = {**self.recent, **dict(entries)}
        newest = max([self.timestamp, *recent.values()])
        cutoff = _shift(newest, -OVERLAP)
        return LogPosition(newest, {i: t for i, t in recent.items() if t >= cutoff})


def _shift(timestamp: str, delta: timedelta) -> str:
    moment = datetime.strptime(timestamp, _ISO).replace(tzinfo=timezone.utc) + delta
    return moment.strftime(_ISO)


@dataclass
class Changes:
    """What the log says changed: which titles to read again, and what it knows about them."""
    titles: set[str] = field(default_factory=set)
    archive_titles: set[str] = field(default_factory=set)   # whose filearchive to read again
    deleted_titles: set[str] = field(default_factory=set)   # with a deletion among their entries
    move_sources: set[str] = field(default_factory=set)     # titles a file was moved away from
    uploaded_as: dict[tuple[str, str], str] = field(default_factory=dict)  # (timestamp, sha1 hex) -> title
    logged: list[tuple[str, tuple[str, str] | None]] = field(default_factory=list)  # each applied entry's
    # log timestamp, and for an upload the (timestamp, sha1) of the version it made: what lag is measured on
    entries: int = 0
    hidden_entries: int = 0  # entries whose target is hidden (revision deletion); those whose title this
    # account cannot see are skipped: the next full run covers them

    def add(self, entry: dict[str, Any]) -> None:
        self.entries += 1
        kind, action, title = entry.get("type"), entry.get("action"), entry.get("title")
        if entry.get("actionhidden"):
            self.hidden_entries += 1  # counted; still applied when this account may see its title
        if title is None:
            return
        params = entry.get("params") or {}
        upload = None
        if kind in ("upload", "import"):
            self.titles.add(title)
            if params.get("img_sha1") and params.get("img_timestamp"):
                upload = (params["img_timestamp"], sha1_from_base36(params["img_sha1"]))
                self.uploaded_as[upload] = title
        elif kind == "delete" and action in _ARCHIVE_ACTIONS:
            self.titles.add(title)
            self.archive_titles.add(title)
            if action in _DELETIONS:
                self.deleted_titles.add(title)
        elif kind == "move" and params.get("target_title"):
            self.titles.update((title, params["target_title"]))
            self.move_sources.add(title)
        else:
            return  # not a change of a file's versions
        self.logged.append((entry["timestamp"], upload))


def head_position(api: MediaWiki) -> LogPosition:
    """Where the log stands now: what a full run starting now has covered (one request)."""
    # the first batch only: entries further back than OVERLAP need not be remembered
    entries = next(api.query(list="logevents", lenamespace=6, ledir="older", lelimit=500, leprop="ids|timestamp"),
                   {}).get("logevents", [])
    if not entries:
        return LogPosition(EMPTY_LOG)
    return LogPosition(entries[0]["timestamp"]).after((e["logid"], e["timestamp"]) for e in entries)


def read_changes(api: MediaWiki, position: LogPosition) -> tuple[Changes, LogPosition]:
    """Every file log entry after `position`, and the position after them."""
    changes, applied = Changes(), []
    # a wiki whose log was empty: from its beginning (no lestart), not from before 1970
    start = _shift(position.timestamp, -OVERLAP) if position.timestamp > EMPTY_LOG else None
    for reply in api.query(list="logevents", lenamespace=6, ledir="newer", lestart=start, lelimit="max",
                           leprop=LEPROP):
        for entry in reply.get("logevents", []):
            if entry["logid"] in position.recent:
                continue  # applied by an earlier run
            changes.add(entry)
            applied.append((entry["logid"], entry["timestamp"]))
    return changes, position.after(applied)


class Recorder(Protocol):
    """What a run offers the reconciliation (collector.backup implements it)."""
    wiki: str
    run: int

    def live_versions(self, page: dict) -> tuple[list[Version], list[dict], list[tuple[str, str]]]:
        """A page's versions, its description text, and (title, timestamp) of versions hidden from us."""

    def deleted_version(self, row: dict) -> Version | None:
        """A filearchive row as a version; None when its content is hidden from us."""

    def record(self, versions: list[Version], texts: Sequence[dict] = (), hidden: Sequence[tuple[str, str]] = (),
               hidden_deleted: Sequence[tuple[str, str]] = ()) -> None:
        """Into the catalog, and the bytes still missing to the downloads; (title, timestamp) of live
        versions and of filearchive rows whose content is hidden from us."""

    def seal_private(self, version_ids: Iterable[int]) -> None:
        """Versions found private: their blobs are sealed before the run ends."""


def apply_changes(api: MediaWiki, catalog: Catalog, recorder: Recorder, changes: Changes, batch: int,
                  see_deleted: bool, iiprop: str) -> None:
    """Read the changed titles again and reconcile the catalog with what the wiki shows now."""
    titles = sorted(changes.titles)
    for chunk in title_batches(titles, batch):
        versions, texts, hidden, hidden_deleted = [], [], [], []
        for pages in api.pages(titles="|".join(chunk), prop="imageinfo|revisions|info", iilimit="max", iiprop=iiprop,
                               rvprop="ids|timestamp|content", rvslots="main"):
            for page in pages:
                if page.get("redirect"):
                    continue  # a moved file's old title shows the new title's file: that is read under its own
                page_versions, page_texts, page_hidden = recorder.live_versions(page)
                versions += page_versions
                texts += page_texts
                hidden += page_hidden
        # a version first seen here may have been uploaded under another title
        versions = [v._replace(title_at_upload=changes.uploaded_as.get((v.timestamp, v.sha1), v.title))
                    for v in versions]
        if see_deleted:
            for row in api.filearchive([db_key(t) for t in chunk if t in changes.archive_titles], FAPROP, batch):
                version = recorder.deleted_version(row)
                if version:
                    versions.append(version)
                else:
                    hidden_deleted.append((row["title"], row["timestamp"]))
        if changes.move_sources:  # deleted versions too: a file may have been moved, then deleted
            _follow_moves(catalog, recorder, versions, changes.move_sources)
        recorder.record(versions, texts, hidden, hidden_deleted)
    _judge_unseen(catalog, recorder, titles, changes, see_deleted)


def _follow_moves(catalog: Catalog, recorder: Recorder, versions: list[Version], sources: set[str]) -> None:
    """The catalog knows a moved file's versions under their old title; the identity includes the
    title, so without this they would be recorded again as new versions. A version is the same one
    when it has the same upload time and sha1 and its title is one a file was moved away from."""
    catalogued: dict[tuple[str, str], list[tuple[int, str, str]]] = {}  # (timestamp, sha1) -> (id, title, status)
    for version_id, title, status, timestamp, sha1 in catalog.versions_of_titles(
            recorder.wiki, {v.title for v in versions} | sources):
        catalogued.setdefault((timestamp, sha1), []).append((version_id, title, status))
    moved: dict[int, dict[str, Any]] = {}
    for v in versions:
        same = sorted(catalogued.get((v.timestamp, v.sha1), []))
        if any(title == v.title for _, title, _ in same):
            continue  # known under this title
        # 'vanished' too: an earlier run may have judged the old title before the move was logged
        found = [i for i, title, status in same if title in sources and status != "deleted" and i not in moved]
        if found:
            moved[found[0]] = {"title": v.title}
    catalog.change_versions(recorder.run, moved)


def _judge_unseen(catalog: Catalog, recorder: Recorder, titles: list[str], changes: Changes,
                  see_deleted: bool) -> None:
    """Catalogued versions of the changed titles that the wiki no longer shows where they were."""
    rows = catalog.unseen(recorder.wiki, recorder.run, ("current", "old", "deleted"), titles)
    verdicts: dict[int, dict[str, Any]] = {}
    deleted = []  # sealed if a killed run left them in plaintext: the next run judges them no more
    for version_id, title, status in rows:
        if status == "deleted":
            deleted.append(version_id)
            if see_deleted and title in changes.archive_titles:
                verdicts[version_id] = {"status": "vanished"}  # gone from the filearchive too (purged)
        elif title in changes.deleted_titles and not see_deleted:
            # the log explains it, though this account cannot list deleted versions
            verdicts[version_id] = {"status": "deleted", "private": 1}
        else:
            verdicts[version_id] = {"status": "vanished"}
    catalog.change_versions(recorder.run, verdicts)
    recorder.seal_private(deleted + [i for i, verdict in verdicts.items() if verdict.get("private")])
