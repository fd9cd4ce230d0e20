"""The catalog: every file version ever seen, with its metadata, its bytes' hashes and where the
bytes are kept; the description pages; and the backup runs. The one module that owns the schema.

MediaWiki gives a file version no id of its own, so the catalog does: `versions.id` is assigned
once and never reused. A version is recognised again by (wiki, title, upload timestamp, sha1).
sha1 is what the wiki reports and is not identity (it is known to collide): `sha256` of the bytes
actually stored is, and two versions with one sha1 but two sha256 are a collision, both kept.
"""
from __future__ import annotations

import fcntl
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlite_utils

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wiki TEXT NOT NULL,
    kind TEXT NOT NULL,                 -- full | incremental
    started TEXT NOT NULL,
    ended TEXT,
    status TEXT NOT NULL,               -- running | done | failed | interrupted
    versions_seen INTEGER NOT NULL DEFAULT 0,
    new_blobs INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,   -- bytes of the new blobs
    errors INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- mediarescue's own id of a file version: never reused
    wiki TEXT NOT NULL,
    title TEXT NOT NULL,                -- as of the last run that saw it
    title_at_upload TEXT NOT NULL,
    timestamp TEXT NOT NULL,            -- upload time, ISO 8601 UTC, as the wiki reports it
    user TEXT,
    comment TEXT,
    size INTEGER NOT NULL,
    mime TEXT,
    media_type TEXT,
    sha1 TEXT NOT NULL,                 -- hex, as the wiki reports it
    sha256 TEXT,                        -- of the stored bytes; NULL until backed up
    status TEXT NOT NULL,               -- current | old | deleted
    archive_name TEXT,                  -- old versions: TIMESTAMP!Name
    filearchive_id INTEGER,             -- deleted versions: the wiki's fa_id
    private INTEGER NOT NULL DEFAULT 0, -- deleted content: never shown or re-uploaded publicly
    source_url TEXT,
    source_container TEXT,
    source_object TEXT,
    first_run INTEGER NOT NULL REFERENCES runs(id),
    last_run INTEGER NOT NULL REFERENCES runs(id),
    backup_status TEXT NOT NULL DEFAULT 'pending',  -- pending | ok | error | unreachable
    error TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS versions_identity ON versions (wiki, title, timestamp, sha1);
CREATE INDEX IF NOT EXISTS versions_title ON versions (title);
CREATE INDEX IF NOT EXISTS versions_sha1 ON versions (sha1);
CREATE INDEX IF NOT EXISTS versions_sha256 ON versions (sha256);
CREATE INDEX IF NOT EXISTS versions_timestamp ON versions (timestamp);
CREATE TABLE IF NOT EXISTS pages (
    wiki TEXT NOT NULL,
    title TEXT NOT NULL,
    page_id INTEGER,
    rev_id INTEGER NOT NULL,
    rev_timestamp TEXT,
    text TEXT NOT NULL,
    first_run INTEGER NOT NULL REFERENCES runs(id),
    last_run INTEGER NOT NULL REFERENCES runs(id),
    PRIMARY KEY (wiki, rev_id)
);
CREATE INDEX IF NOT EXISTS pages_title ON pages (wiki, title);
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    sha1 TEXT NOT NULL,                 -- computed from the bytes
    size INTEGER NOT NULL,
    stored TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS verifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wiki TEXT NOT NULL,
    finished TEXT NOT NULL,
    checked_files INTEGER NOT NULL,
    checked_versions INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS verify_findings (
    verification INTEGER NOT NULL REFERENCES verifications(id),
    title TEXT NOT NULL,
    problem TEXT NOT NULL,       -- current-missing | current-corrupt | old-missing | ... | file-gone
    timestamp TEXT,
    sha1 TEXT,
    archive_name TEXT
);
CREATE INDEX IF NOT EXISTS verify_findings_by_verification ON verify_findings (verification);
CREATE VIEW IF NOT EXISTS sha1_collisions AS
    SELECT sha1, COUNT(DISTINCT sha256) AS contents, GROUP_CONCAT(DISTINCT id) AS version_ids
    FROM versions WHERE sha256 IS NOT NULL GROUP BY sha1 HAVING COUNT(DISTINCT sha256) > 1;
"""
VERSION_FIELDS = ("wiki", "title", "title_at_upload", "timestamp", "user", "comment", "size", "mime", "media_type",
                  "sha1", "status", "archive_name", "filearchive_id", "private", "source_url", "source_container",
                  "source_object")


class CatalogBusy(Exception):
    """Another backup holds the catalog."""


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Pending:
    """A version whose bytes are still to be stored."""
    id: int
    wiki: str
    title: str
    status: str
    sha1: str
    size: int
    archive_name: str | None
    source_url: str | None
    source_container: str | None
    source_object: str | None


class Catalog:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite_utils.Database(self.path)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")  # WAL: a kill -9 loses nothing committed
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.conn.executescript(SCHEMA)
        self.conn = self.db.conn
        self._lock_file = None

    def close(self) -> None:
        self.conn.close()
        if self._lock_file:
            self._lock_file.close()

    def lock(self) -> None:
        """One writer at a time: a second backup on the same catalog fails at once."""
        self._lock_file = open(f"{self.path}.lock", "w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CatalogBusy(f"another backup is writing to {self.path}") from None

    # --- runs ---
    def start_run(self, wiki: str, kind: str) -> int:
        with self.conn:
            # Runs left 'running' by a killed process are over: the lock proves none is alive.
            self.conn.execute("UPDATE runs SET status = 'interrupted' WHERE wiki = ? AND status = 'running'", (wiki,))
            return self.conn.execute("INSERT INTO runs (wiki, kind, started, status) VALUES (?, ?, ?, 'running')",
                                     (wiki, kind, now())).lastrowid

    def finish_run(self, run: int, status: str) -> dict[str, Any]:
        with self.conn:
            self.conn.execute("UPDATE runs SET ended = ?, status = ? WHERE id = ?", (now(), status, run))
        return self.run(run)

    def run(self, run: int) -> dict[str, Any]:
        return dict(self.db["runs"].get(run))

    def count(self, run: int, **increments: int) -> None:
        sets = ", ".join(f"{name} = {name} + ?" for name in increments)
        self.conn.execute(f"UPDATE runs SET {sets} WHERE id = ?", (*increments.values(), run))

    # --- versions ---
    def record_versions(self, run: int, versions: Iterable[dict[str, Any]]) -> list[Pending]:
        """Insert new versions and refresh the state of known ones, in one transaction; returns
        those whose bytes are not stored yet. (UPDATE first: an upsert would use up an id.)"""
        refreshed = [f for f in VERSION_FIELDS if f not in ("wiki", "title", "timestamp", "sha1", "title_at_upload")]
        returning = f"RETURNING backup_status, {', '.join(Pending.__dataclass_fields__)}"
        update = (f"UPDATE versions SET {', '.join(f'{f} = ?' for f in refreshed)}, last_run = ? "
                  f"WHERE wiki = ? AND title = ? AND timestamp = ? AND sha1 = ? {returning}")
        insert = (f"INSERT INTO versions ({', '.join(VERSION_FIELDS)}, first_run, last_run) "
                  f"VALUES ({', '.join('?' * (len(VERSION_FIELDS) + 2))}) {returning}")
        pending, seen = [], 0
        with self.conn:
            for v in versions:
                row = self.conn.execute(update, (*(v.get(f) for f in refreshed), run, v["wiki"], v["title"],
                                                 v["timestamp"], v["sha1"])).fetchone()
                if row is None:
                    row = self.conn.execute(insert, (*(v.get(f) for f in VERSION_FIELDS), run, run)).fetchone()
                seen += 1
                if row[0] != "ok":
                    pending.append(Pending(*row[1:]))
            self.count(run, versions_seen=seen)
        return pending

    def stored(self, version_id: int, sha256: str, sha1: str, size: int, new_blob: bool, run: int) -> None:
        with self.conn:
            if new_blob:
                self.conn.execute("INSERT OR IGNORE INTO blobs (sha256, sha1, size, stored) VALUES (?, ?, ?, ?)",
                                  (sha256, sha1, size, now()))
                self.count(run, new_blobs=1, bytes=size)
            self.conn.execute("UPDATE versions SET sha256 = ?, backup_status = 'ok', error = NULL WHERE id = ?",
                              (sha256, version_id))

    def failed(self, version_id: int, status: str, error: str, run: int) -> None:
        with self.conn:
            self.conn.execute("UPDATE versions SET backup_status = ?, error = ? WHERE id = ?",
                              (status, error, version_id))
            if status == "error":
                self.count(run, errors=1)

    def blob_of_version(self, version_id: int) -> str | None:
        row = self.conn.execute("SELECT sha256 FROM versions WHERE id = ? AND backup_status = 'ok'",
                                (version_id,)).fetchone()
        return row[0] if row else None

    # --- pages ---
    def record_pages(self, run: int, pages: Iterable[dict[str, Any]]) -> None:
        rows = [(p["wiki"], p["title"], p.get("page_id"), p["rev_id"], p.get("rev_timestamp"), p["text"], run, run)
                for p in pages]
        with self.conn:
            self.conn.executemany(
                "INSERT INTO pages (wiki, title, page_id, rev_id, rev_timestamp, text, first_run, last_run) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (wiki, rev_id) DO UPDATE SET "
                "title = excluded.title, last_run = excluded.last_run", rows)

    def page_text(self, wiki: str, title: str) -> str | None:
        row = self.conn.execute("SELECT text FROM pages WHERE wiki = ? AND title = ? ORDER BY rev_id DESC LIMIT 1",
                                (wiki, title)).fetchone()
        return row[0] if row else None

    # --- reading ---
    def find(self, *, title: str | None = None, sha1: str | None = None, sha256: str | None = None,
             wiki: str | None = None) -> list[dict[str, Any]]:
        """Every version matching, newest upload first."""
        clauses, params = [], []
        for column, value in (("title", title), ("sha1", sha1), ("sha256", sha256), ("wiki", wiki)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = " AND ".join(clauses) or "1"
        cursor = self.conn.execute(f"SELECT * FROM versions WHERE {where} ORDER BY timestamp DESC, id DESC", params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor]

    def titles(self, wiki: str) -> list[str]:
        """Every title the catalog holds a version of."""
        return [t for (t,) in self.conn.execute("SELECT DISTINCT title FROM versions WHERE wiki = ? ORDER BY title",
                                                (wiki,))]

    def sample_healthy(self, wiki: str, count: int) -> list[dict[str, Any]]:
        """A few current versions whose bytes were stored, from a random place in the catalog
        (no full scan: this must stay instant on 100 million rows)."""
        top = self.conn.execute("SELECT MAX(id) FROM versions").fetchone()[0] or 0
        start = random.randint(0, top)
        rows = []
        for clause in ("id >= ?", "id < ?"):
            cursor = self.conn.execute(
                f"SELECT * FROM versions WHERE wiki = ? AND {clause} AND status = 'current' "
                "AND backup_status = 'ok' LIMIT ?", (wiki, start, count - len(rows)))
            names = [d[0] for d in cursor.description]
            rows += [dict(zip(names, row)) for row in cursor]
            if len(rows) >= count:
                break
        return rows

    def record_verification(self, wiki: str, checked_files: int, checked_versions: int,
                            findings: Iterable[dict[str, Any]]) -> int:
        with self.conn:
            verification = self.conn.execute(
                "INSERT INTO verifications (wiki, finished, checked_files, checked_versions) VALUES (?, ?, ?, ?)",
                (wiki, now(), checked_files, checked_versions)).lastrowid
            self.conn.executemany(
                "INSERT INTO verify_findings (verification, title, problem, timestamp, sha1, archive_name) "
                "VALUES (?, ?, ?, ?, ?, ?)", [(verification, f["title"], f["problem"], f.get("timestamp"),
                                               f.get("sha1"), f.get("archive_name")) for f in findings])
        return verification

    def last_verification_titles(self, wiki: str) -> list[str] | None:
        """The broken titles the last verify of `wiki` found; None when it was never verified."""
        row = self.conn.execute("SELECT MAX(id) FROM verifications WHERE wiki = ?", (wiki,)).fetchone()
        if row[0] is None:
            return None
        return list(dict.fromkeys(t for (t,) in self.conn.execute(
            "SELECT title FROM verify_findings WHERE verification = ? ORDER BY rowid", (row[0],))))

    def collisions(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.db.query("SELECT * FROM sha1_collisions")]

    def errors(self, wiki: str, run: int) -> list[dict[str, Any]]:
        return list(self.db.query(
            "SELECT id, title, status, sha1, error FROM versions WHERE wiki = ? AND last_run = ? "
            "AND backup_status = 'error' ORDER BY id", [wiki, run]))


def open_catalog(path: Path | str) -> Catalog:
    if os.path.isdir(path):
        raise IsADirectoryError(f"catalog {path} is a folder, not an SQLite file")
    return Catalog(path)
