"""The catalog: every file version ever seen, with its metadata, its bytes' hashes and where the
bytes are kept; the description pages; and the backup runs. The schema and its migrations live
here; so does nearly all SQL (what snapshots, forget and incremental runs still query themselves is
due to move into this package).

Raw SQL through sqlite3 rather than sqlite-utils' table API: the hot paths (a backup records 130 k
versions a second) depend on batch statements, partial indexes and keyset pages written for
SQLite's planner, and a test reads the query plans. sqlite-utils opens the database and serves the
few plain lookups.

MediaWiki gives a file version no id of its own, so the catalog does: `versions.id` is assigned
once and never reused. A version is recognised again by (wiki, title, upload timestamp, sha1).
sha1 is what the wiki reports and is not identity (it is known to collide): `sha256` of the bytes
actually stored is, and two versions with one sha1 but two sha256 are a collision, both kept.
"""
from __future__ import annotations

import contextlib
import fcntl
import heapq
import os
import random
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import sqlite_utils

from mediarescue.files import create_private, sqlite_problem, tighten

# A description page's text, a row per revision read. Keyed in the order a run lists titles, for the
# same reason as versions; a revision read again changes nothing.
PAGES = """CREATE TABLE IF NOT EXISTS pages (
    wiki TEXT NOT NULL,
    title TEXT NOT NULL,
    page_id INTEGER,
    rev_id INTEGER NOT NULL,
    rev_timestamp TEXT,
    text TEXT NOT NULL,
    first_run INTEGER NOT NULL REFERENCES runs(id)  -- the run that first read this revision
);
CREATE UNIQUE INDEX IF NOT EXISTS pages_identity ON pages (wiki, title, rev_id);"""
SCHEMA = f"""
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
    id INTEGER PRIMARY KEY,             -- mediarescue's own id of a file version: never reused (record_versions)
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
    status TEXT NOT NULL,               -- current | old | deleted | vanished (gone, unexplained; kept)
    archive_name TEXT,                  -- old versions: TIMESTAMP!Name
    filearchive_id INTEGER,             -- deleted versions: the wiki's fa_id
    private INTEGER NOT NULL DEFAULT 0, -- deleted content: never shown or re-uploaded publicly
    first_run INTEGER NOT NULL REFERENCES runs(id),
    last_run INTEGER NOT NULL REFERENCES runs(id),
    backup_status TEXT NOT NULL DEFAULT 'pending',  -- pending | ok | error | unreachable | pruned
    error TEXT
);
-- Indexes are what a backup's listing pays for per row, so only those a lookup needs, and none
-- that a batch of new versions would write in random order: the identity index grows in the order
-- a full run lists titles (and serves lookups by title, one probe per wiki); a new version enters
-- the sha1 and sha256 indexes when its bytes are stored or given up, one file at a time, and is
-- found through versions_pending (appended to in id order) until then.
CREATE UNIQUE INDEX IF NOT EXISTS versions_identity ON versions (wiki, title, timestamp, sha1);
CREATE INDEX IF NOT EXISTS versions_sha1_settled ON versions (sha1) WHERE backup_status != 'pending';
CREATE INDEX IF NOT EXISTS versions_pending ON versions (first_run) WHERE backup_status = 'pending';
CREATE INDEX IF NOT EXISTS versions_sha256 ON versions (sha256) WHERE sha256 IS NOT NULL;
{PAGES}
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    sha1 TEXT NOT NULL,                 -- computed from the bytes
    size INTEGER NOT NULL,
    stored TEXT NOT NULL,
    encrypted INTEGER NOT NULL DEFAULT 0  -- sealed at rest (private content; mediarescue.blobstore.crypto)
);
CREATE TABLE IF NOT EXISTS checks (     -- where `mediarescue check` stands, so a cut-short check resumes
    mode TEXT PRIMARY KEY,              -- exists | read-data
    position TEXT,                      -- the last sha256 checked by the pass under way; NULL: none
    pass_started TEXT,
    checked INTEGER NOT NULL DEFAULT 0, -- blobs checked by the pass under way
    updated TEXT,
    last_complete TEXT                  -- when a pass last reached the end
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
CREATE TABLE IF NOT EXISTS restore_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wiki TEXT NOT NULL,
    started TEXT NOT NULL,
    ended TEXT,
    status TEXT NOT NULL,        -- running | done | failed | interrupted
    reason TEXT,                 -- the operator's, e.g. an incident ticket
    report_page TEXT
);
CREATE TABLE IF NOT EXISTS restore_journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wiki TEXT NOT NULL,
    title TEXT NOT NULL,
    action TEXT NOT NULL,        -- repair-current | reupload-file | restore-old-version
    version_id INTEGER NOT NULL REFERENCES versions(id),
    sha1 TEXT NOT NULL,
    step TEXT NOT NULL,          -- started | uploaded | reverted | verified | failed
    run INTEGER NOT NULL REFERENCES restore_runs(id),  -- the run that last worked on it
    started TEXT NOT NULL,       -- before anything was written: what the wiki shows after is ours
    updated TEXT NOT NULL,
    upload_timestamp TEXT,       -- the version our upload made
    revert_to TEXT,              -- old-version restores: the version to make current again, as planned first
    detail TEXT
);
CREATE INDEX IF NOT EXISTS restore_journal_by_version ON restore_journal (version_id, wiki);
CREATE INDEX IF NOT EXISTS restore_journal_by_title ON restore_journal (wiki, title);  -- plan asks per title
-- Every run is a snapshot: what it saw, kept immutable. This is what a snapshot needs beyond `runs`.
CREATE TABLE IF NOT EXISTS snapshots (
    run INTEGER PRIMARY KEY REFERENCES runs(id),
    new_versions INTEGER NOT NULL DEFAULT 0,      -- versions this run saw first
    changed_versions INTEGER NOT NULL DEFAULT 0,  -- known versions whose title, status or archive name it changed
    log_position TEXT,  -- JSON: how far the wiki's log was applied, set once the run is done (collector.incremental)
    forgotten TEXT      -- when `forget` dropped this snapshot's detail: its point in time is no longer answered
);
-- The states versions had before a run changed them: the row (v, R) is the state v had up to run R,
-- so the state of v as of run N is the first row with until_run > N, else v's row in `versions`.
-- Only a change makes a row: the millions of versions that never change cost nothing here.
CREATE TABLE IF NOT EXISTS version_states (
    version_id INTEGER NOT NULL REFERENCES versions(id),
    until_run INTEGER NOT NULL REFERENCES runs(id),
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    archive_name TEXT,
    PRIMARY KEY (version_id, until_run)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS version_states_title ON version_states (title);
CREATE VIEW IF NOT EXISTS sha1_collisions AS
    SELECT sha1, COUNT(DISTINCT sha256) AS contents, GROUP_CONCAT(DISTINCT id) AS version_ids
    FROM versions WHERE sha256 IS NOT NULL GROUP BY sha1 HAVING COUNT(DISTINCT sha256) > 1;
"""
class CatalogBusy(Exception):
    """Another backup holds the catalog."""


class CatalogError(Exception):
    """The path is not a mediarescue catalog (missing, a folder, not SQLite, another program's
    database), or it holds a row no catalog of ours can hold: it is input, and refused."""


_SHA256 = re.compile(r"[0-9a-f]{64}")
CORE_TABLES = {"runs", "versions"}  # every catalog of ours has had them since the first schema


def checked_sha256(value: str | None, where: str) -> str | None:
    """`value` if it is a sha256 (64 lowercase hex digits) or None; CatalogError otherwise. A blob's
    name is made of it, so a crafted "sha256" such as ../../x must never reach a blob store."""
    if value is None or _SHA256.fullmatch(value):
        return value
    raise CatalogError(f"{where} holds {value[:80]!r} as a sha256, which is not 64 hex digits: the catalog "
                       "was altered or is not ours; nothing was touched")


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Version(NamedTuple):
    """A file version as a listing of the wiki shows it: what `record_versions` takes. The first
    four fields are its identity; the source fields say where its bytes are read from and are not
    catalogued (the wiki's layout says it again)."""
    wiki: str
    title: str
    timestamp: str                      # upload time, ISO 8601 UTC, as the wiki reports it
    sha1: str
    title_at_upload: str
    size: int
    status: str                         # current | old | deleted
    user: str | None = None
    comment: str | None = None
    mime: str | None = None
    media_type: str | None = None
    archive_name: str | None = None
    filearchive_id: int | None = None
    private: int = 0
    source_url: str | None = None
    source_container: str | None = None
    source_object: str | None = None


_IDENTITY, _CATALOGUED, _REFRESHED = slice(0, 4), slice(0, 14), slice(5, 14)  # of a Version's fields
VERSION_FIELDS = Version._fields[_CATALOGUED]  # the columns of `versions` a Version fills
REFRESHED_FIELDS = Version._fields[_REFRESHED]  # what a run that sees a known version again sets anew


class Pending(NamedTuple):
    """A version whose bytes are still to be stored."""
    id: int
    version: Version


class Catalog:
    def __init__(self, path: Path | str, create: bool = True):
        """Open the catalog at `path`; with `create` (backup), make it if it does not exist. Either
        way a folder, a file that is not SQLite or another program's database is refused
        (CatalogError) before SQLite writes anything to it."""
        self.path = Path(path)
        problem = sqlite_problem(self.path, must_exist=not create)
        if problem:
            raise CatalogError(f"the catalog {self.path} {problem}"
                               + (": run `mediarescue backup` first, or fix `catalog` in the config"
                                  if problem == "does not exist" else ": it is not a mediarescue catalog"))
        if not self.path.exists():
            create_private(self.path)
        self._refuse_foreign(empty_ok=create)
        if create:  # the writer takes group and other access away from a catalog made before modes were private
            for suffix in ("", "-wal", "-shm"):
                tighten(Path(f"{self.path}{suffix}"))
        self.db = sqlite_utils.Database(self.path)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")  # WAL: a kill -9 loses nothing committed
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.conn.executescript(SCHEMA)
        self.conn = self.db.conn
        self._migrate()
        self._lock_file = None

    @classmethod
    def open_existing(cls, path: Path | str) -> Catalog:
        """A catalog that must exist already: what every verb but `backup` opens."""
        return cls(path, create=False)

    def _refuse_foreign(self, empty_ok: bool) -> None:
        """Another program's SQLite database (or, unless `empty_ok`, one without tables) is not
        written to: no schema, no WAL switch."""
        try:
            with contextlib.closing(sqlite3.connect(self.path)) as probe:
                tables = {name for (name,) in probe.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as error:
            raise CatalogError(f"the catalog {self.path} cannot be read as SQLite ({error})") from None
        if not CORE_TABLES <= tables and (tables or not empty_ok):
            raise CatalogError(f"the catalog {self.path} is an SQLite database but not a mediarescue catalog "
                               f"(it has no {' and '.join(sorted(CORE_TABLES - tables))} table)")

    # Columns added to tables after catalogs already existed: (table, column, declaration).
    ADDED_COLUMNS = (("blobs", "encrypted", "INTEGER NOT NULL DEFAULT 0"),)
    # What older catalogs have and SCHEMA no longer makes. The indexes each cost a backup a random
    # write per new row; where the bytes were read from is the wiki's layout's to say (Version).
    RETIRED_INDEXES = ("versions_title", "versions_sha1", "versions_timestamp", "pages_title")
    RETIRED_COLUMNS = (("versions", "source_url"), ("versions", "source_container"), ("versions", "source_object"))

    def _retired(self) -> tuple[set[str], set[tuple[str, str]], bool]:
        """Retired indexes and columns still there, and whether `pages` has its old key (wiki, rev_id)."""
        indexes = {name for (name,) in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        columns = {(table, row[1]) for table in {t for t, _ in self.RETIRED_COLUMNS}
                   for row in self.conn.execute(f"PRAGMA table_info({table})")}
        old_pages = any(row[3] == "pk" for row in self.conn.execute("PRAGMA index_list(pages)"))
        return indexes.intersection(self.RETIRED_INDEXES), columns.intersection(self.RETIRED_COLUMNS), old_pages

    def _migrate(self) -> None:
        """Bring an older catalog up to SCHEMA (CREATE ... IF NOT EXISTS leaves what it has). Tables
        are rewritten, once, on the first open after an upgrade."""
        if any(self._retired()):  # a reader of an up-to-date catalog writes nothing
            with self.conn:
                self.conn.execute("BEGIN IMMEDIATE")  # one process migrates; one opening beside it finds it done
                indexes, columns, old_pages = self._retired()
                for name in indexes:
                    self.conn.execute(f"DROP INDEX {name}")
                for table, column in columns:
                    self.conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
                if old_pages:
                    self.conn.execute("ALTER TABLE pages RENAME TO pages_before")
                    self.conn.execute("DROP INDEX pages_identity")  # SCHEMA made it on the old table
                    for statement in PAGES.split(";"):
                        self.conn.execute(statement)
                    self.conn.execute("INSERT INTO pages SELECT wiki, title, page_id, rev_id, rev_timestamp, text, "
                                      "first_run FROM pages_before")
                    self.conn.execute("DROP TABLE pages_before")
        for table, column, declaration in self.ADDED_COLUMNS:
            if column not in {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}:
                try:
                    with self.conn:
                        self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
                except sqlite3.OperationalError as error:
                    if "duplicate column" not in str(error):  # another process migrated it just now
                        raise

    def close(self) -> None:
        self.conn.close()
        if self._lock_file:
            self._lock_file.close()

    def lock(self) -> None:
        """One writer at a time: a second backup on the same catalog fails at once."""
        self._lock_file = os.fdopen(os.open(f"{self.path}.lock", os.O_WRONLY | os.O_CREAT, 0o600), "w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CatalogBusy(f"another backup is writing to {self.path}") from None

    # --- runs ---
    def start_run(self, wiki: str, kind: str) -> int:
        with self.conn:
            # Runs left 'running' by a killed process are over: the lock proves none is alive.
            self.conn.execute("UPDATE runs SET status = 'interrupted' WHERE wiki = ? AND status = 'running'", (wiki,))
            run = self.conn.execute("INSERT INTO runs (wiki, kind, started, status) VALUES (?, ?, ?, 'running')",
                                    (wiki, kind, now())).lastrowid
            self.conn.execute("INSERT INTO snapshots (run) VALUES (?)", (run,))
            return run

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
    def record_versions(self, run: int, versions: Iterable[Version]) -> list[Pending]:
        """Insert new versions and refresh the state of known ones, in one transaction; returns
        those whose bytes are not stored yet, in the order given. A known version whose status or
        archive name changes leaves its earlier state in `version_states`.

        Set-based, for speed (a full run of Commons records 100 million): one indexed probe finds
        which versions are known, new ones go in with one executemany and known ones are
        refreshed by id. No upsert: INSERT ... ON CONFLICT would use up an id per known version."""
        batch = {v[_IDENTITY]: v for v in versions}  # a repeat: the last wins
        fresh, refreshed, changed, pending = [], [], [], []
        with self.conn:
            found = self._known_versions(list(batch))
            first_id = next_id = self._last_version_id() + 1
            for v, known in zip(batch.values(), found):
                if known is None:
                    fresh.append((next_id,) + v[_CATALOGUED])
                    pending.append(Pending(next_id, v))
                    next_id += 1
                    continue
                version_id, status, archive_name, first_run, backup_status = known
                refreshed.append(v[_REFRESHED] + (version_id,))
                if first_run < run and (status, archive_name) != (v.status, v.archive_name):
                    changed.append((version_id, run, v.title, status, archive_name))
                if backup_status != "ok":
                    pending.append(Pending(version_id, v))
            if fresh:
                self.conn.executemany(f"INSERT INTO versions (id, {', '.join(VERSION_FIELDS)}, first_run, last_run) "
                                      f"VALUES (?, {', '.join('?' * len(VERSION_FIELDS))}, {int(run)}, {int(run)})",
                                      fresh)
                self._given_version_ids(next_id - 1)
            # rowcount: a version already changed earlier in this run keeps its first, pre-run state
            changes = self.conn.executemany("INSERT OR IGNORE INTO version_states (version_id, until_run, title, "
                                            "status, archive_name) VALUES (?, ?, ?, ?, ?)", changed).rowcount
            self.conn.executemany(f"UPDATE versions SET {', '.join(f'{f} = ?' for f in REFRESHED_FIELDS)}, "
                                  f"last_run = {int(run)} WHERE id = ?", refreshed)
            self.count(run, versions_seen=len(batch))
            self._count_snapshot(run, new_versions=next_id - first_id, changed_versions=max(changes, 0))
        return pending

    def _known_versions(self, keys: list[tuple]) -> list[tuple | None]:
        """For each identity, (id, status, archive_name, first_run, backup_status) if catalogued."""
        found: list[tuple | None] = [None] * len(keys)
        for start in range(0, len(keys), 2000):  # 5 variables a key, well under SQLite's limit
            chunk = keys[start:start + 2000]
            # CROSS JOIN keeps SQLite from scanning versions: it probes the identity index per key.
            rows = self.conn.execute(
                f"SELECT i.column5, v.id, v.status, v.archive_name, v.first_run, v.backup_status FROM (VALUES "
                f"{', '.join(['(?, ?, ?, ?, ?)'] * len(chunk))}) AS i CROSS JOIN versions AS v ON v.wiki = i.column1 "
                "AND v.title = i.column2 AND v.timestamp = i.column3 AND v.sha1 = i.column4",
                [part for position, key in enumerate(chunk, start) for part in (*key, position)])
            for row in rows:
                found[row[0]] = row[1:]
        return found

    # Version ids are handed out here, after the highest ever given, which sqlite_sequence keeps as
    # AUTOINCREMENT would, but written once a batch rather than once a row: none is given twice, even
    # if a version's row were deleted.
    def _last_version_id(self) -> int:
        return self.conn.execute("SELECT MAX(COALESCE((SELECT MAX(seq) FROM sqlite_sequence WHERE name = 'versions'), "
                                 "0), COALESCE((SELECT MAX(id) FROM versions), 0))").fetchone()[0]

    def _given_version_ids(self, last: int) -> None:
        if not self.conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'versions'", (last,)).rowcount:
            self.conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('versions', ?)", (last,))

    def _count_snapshot(self, run: int, **increments: int) -> None:
        sets = ", ".join(f"{name} = {name} + ?" for name in increments)
        self.conn.execute(f"UPDATE snapshots SET {sets} WHERE run = ?", (*increments.values(), run))

    def change_versions(self, run: int, changes: dict[int, dict[str, Any]]) -> int:
        """Set the title, status, archive name or private flag of known versions (by id), each
        keeping the state it had before this run in `version_states`; returns how many changed.
        For what `record_versions` cannot say: a move (the title is part of the identity), a
        version the wiki no longer shows. The private flag only rises here: what a run does not
        see never makes content public again (only the wiki listing it publicly does, in
        `record_versions`)."""
        count = 0
        with self.conn:
            for version_id, new in changes.items():
                title, status, archive_name, private, first_run = self.conn.execute(
                    "SELECT title, status, archive_name, private, first_run FROM versions WHERE id = ?",
                    (version_id,)).fetchone()
                before = {"title": title, "status": status, "archive_name": archive_name, "private": private}
                fields = {f: value for f, value in new.items() if value != before[f]
                          and not (f == "private" and value < private)}
                if not fields:
                    continue
                if first_run < run:
                    count += self.conn.execute("INSERT OR IGNORE INTO version_states (version_id, until_run, title, "
                                               "status, archive_name) VALUES (?, ?, ?, ?, ?)",
                                               (version_id, run, title, status, archive_name)).rowcount
                self.conn.execute(f"UPDATE versions SET {', '.join(f'{f} = ?' for f in fields)} WHERE id = ?",
                                  (*fields.values(), version_id))
            self._count_snapshot(run, changed_versions=count)
        return count

    def seen_hidden(self, run: int, wiki: str, versions: Iterable[tuple[str, str]], deleted: bool = False
                    ) -> list[int]:
        """Versions (title, upload timestamp) the wiki lists but whose content it hides from this
        account: an old version revision-deleted (imageinfo: filehidden), or with `deleted` a
        filearchive row hidden (a suppressed deletion shows no sha1). Seen, so not vanished; and
        private, since the wiki hid them; a hidden filearchive row also says the version was
        deleted. Matched without the sha1 the wiki withholds: one title never has two versions
        uploaded in the same second. Returns their ids."""
        ids = [version_id for title, timestamp in versions for (version_id,) in self.conn.execute(
            "SELECT id FROM versions WHERE wiki = ? AND title = ? AND timestamp = ?", (wiki, title, timestamp))]
        with self.conn:
            self.conn.executemany("UPDATE versions SET last_run = ? WHERE id = ?", [(run, i) for i in ids])
        # A hidden live version is an old one: the current version cannot be revision-deleted.
        self.change_versions(run, {i: {"status": "deleted" if deleted else "old", "private": 1} for i in ids})
        return ids

    def version_ids(self, versions: Iterable[Version]) -> list[int]:
        """The ids of those of `versions` that are catalogued."""
        return [known[0] for known in self._known_versions([v[_IDENTITY] for v in versions]) if known]

    def unsealed_private(self, version_ids: Iterable[int]) -> list[tuple[str, str]]:
        """(sha256, sha1) of each blob of these versions that is private but stored in plaintext:
        what the run that learned they are private must seal (blobstore.seal)."""
        ids, found = sorted(set(version_ids)), {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            found.update(self.conn.execute(
                "SELECT b.sha256, b.sha1 FROM versions AS v JOIN blobs AS b ON b.sha256 = v.sha256 "
                f"WHERE v.id IN ({', '.join('?' * len(chunk))}) AND v.private = 1 AND v.backup_status = 'ok' "
                "AND b.encrypted = 0", chunk))
        return sorted(found.items())

    # Whether the blob store in use seals private content (it has a key). Set by whoever opens both,
    # so that `stored` records blobs.encrypted when its caller does not pass it.
    encrypting = False

    def stored(self, version_id: int, sha256: str, sha1: str, size: int, new_blob: bool, run: int,
               encrypted: bool | None = None) -> None:
        """`encrypted`: how the blob is stored now (blobstore.Stored.encrypted); when None, private
        versions' blobs count as sealed if `encrypting`. Once sealed, a blob stays sealed."""
        with self.conn:
            if encrypted is None:
                encrypted = self.encrypting and bool(self.conn.execute(
                    "SELECT private FROM versions WHERE id = ?", (version_id,)).fetchone()[0])
            # Known blobs too: the store may hold content an earlier, killed run stored.
            self.conn.execute("INSERT OR IGNORE INTO blobs (sha256, sha1, size, stored, encrypted) "
                              "VALUES (?, ?, ?, ?, ?)", (sha256, sha1, size, now(), int(encrypted)))
            if encrypted:
                self.conn.execute("UPDATE blobs SET encrypted = 1 WHERE sha256 = ? AND encrypted = 0", (sha256,))
            if new_blob:
                self.count(run, new_blobs=1, bytes=size)
            self.conn.execute("UPDATE versions SET sha256 = ?, backup_status = 'ok', error = NULL WHERE id = ?",
                              (sha256, version_id))

    def failed(self, version_id: int, status: str, error: str, run: int) -> None:
        with self.conn:
            self.conn.execute("UPDATE versions SET backup_status = ?, error = ? WHERE id = ?",
                              (status, error, version_id))
            if status == "error":
                self.count(run, errors=1)

    # --- pages ---
    def record_pages(self, run: int, pages: Iterable[dict[str, Any]]) -> None:
        rows = [(p["wiki"], p["title"], p.get("page_id"), p["rev_id"], p.get("rev_timestamp"), p["text"])
                for p in pages]
        with self.conn:
            self.conn.executemany("INSERT OR IGNORE INTO pages (wiki, title, page_id, rev_id, rev_timestamp, text, "
                                  f"first_run) VALUES (?, ?, ?, ?, ?, ?, {int(run)})", rows)

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
        if title is not None and wiki is None:
            clauses.append("wiki IN (SELECT DISTINCT wiki FROM runs)")  # the identity index, probed per wiki
        where = " AND ".join(clauses) or "1"
        sql = f"SELECT * FROM versions WHERE {where}"
        if sha1 is not None:  # versions_sha1_settled, then the few versions still pending
            pending = "versions" if title is not None else "versions INDEXED BY versions_pending"
            sql = (f"{sql} AND backup_status != 'pending' "
                   f"UNION ALL SELECT * FROM {pending} WHERE {where} AND backup_status = 'pending'")
            params += params
        cursor = self.conn.execute(f"{sql} ORDER BY timestamp DESC, id DESC", params)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row)) for row in cursor]
        for row in rows:  # restore uploads the blob a row names
            checked_sha256(row["sha256"], f"versions row {row['id']}")
        return rows

    def titles(self, wiki: str) -> list[str]:
        """Every title the catalog holds a version of."""
        return [t for (t,) in self.conn.execute("SELECT DISTINCT title FROM versions WHERE wiki = ? ORDER BY title",
                                                (wiki,))]

    def titles_with_deleted(self, wiki: str, titles: Iterable[str]) -> set[str]:
        """Those of `titles` with a catalogued deleted version."""
        titles, found = sorted(set(titles)), set()
        for start in range(0, len(titles), 500):  # the identity index, probed by title
            chunk = titles[start:start + 500]
            found.update(t for (t,) in self.conn.execute(
                f"SELECT DISTINCT title FROM versions WHERE wiki = ? AND title IN ({', '.join('?' * len(chunk))}) "
                "AND status = 'deleted'", (wiki, *chunk)))
        return found

    def sample_healthy(self, wiki: str, count: int) -> list[dict[str, Any]]:
        """Up to `count` current versions whose bytes were stored, spread over the whole catalog:
        the first such version after a random point in each of `count` equal id ranges. Files lost
        together (one upload batch, one failed shard) have neighbouring ids, so a sample from one
        place could hold nothing else. No full scan: one step along the id per pick, instant on
        100 million rows."""
        # Each bound on its own: SQLite reads one end of the rowid for either, but scans for both at once.
        low, high = (self.conn.execute(f"SELECT {end}(id) FROM versions").fetchone()[0] for end in ("MIN", "MAX"))
        if low is None:
            return []
        width, rows = (high - low + 1) / count, {}
        for k in range(count):
            first, end = low + int(width * k), low + int(width * (k + 1))
            point = low + int(width * (k + random.random()))
            for since, until in ((point, end), (first, point)):  # after the point, else before it in its range
                cursor = self.conn.execute(  # NOT INDEXED: along the id, not through all of a wiki's rows
                    "SELECT * FROM versions NOT INDEXED WHERE id >= ? AND id < ? AND wiki = ? AND status = 'current' "
                    "AND backup_status = 'ok' ORDER BY id LIMIT 1", (since, max(until, since + 1), wiki))
                row = cursor.fetchone()
                if row:
                    rows[row[0]] = dict(zip([d[0] for d in cursor.description], row))
                    break
        return list(rows.values())

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

    def errors(self, version_ids: Iterable[int]) -> list[dict[str, Any]]:
        """Those of these versions whose bytes failed, by id (a run knows which it failed: no scan)."""
        ids, rows = sorted(version_ids), []
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows += self.db.query(f"SELECT id, title, status, sha1, error FROM versions WHERE id IN "
                                  f"({', '.join('?' * len(chunk))}) AND backup_status = 'error' ORDER BY id", chunk)
        return rows

    # --- check (collector.checker) ---
    def catalogued_blobs(self, after: str = "", page: int = 1000) -> Iterator[CataloguedBlob]:
        """Every content the catalog says is stored (the blobs table, and versions backed up 'ok'),
        once each, in sha256 order after `after`. Keyset pages on the two sha256 indexes, merged
        here: a UNION ... ORDER BY would sort the whole rest of 100 million rows for every page."""
        def blob_rows() -> Iterator[tuple]:
            last = after
            while rows := self.conn.execute("SELECT sha256, sha1, size, encrypted FROM blobs WHERE sha256 > ? "
                                            "ORDER BY sha256 LIMIT ?", (last, page)).fetchall():
                yield from rows
                last = rows[-1][0]

        def version_rows() -> Iterator[tuple]:
            last = (after, 2 ** 63 - 1)  # past every version of `after` itself
            while rows := self.conn.execute(
                    "SELECT sha256, sha1, size, private, id FROM versions WHERE sha256 IS NOT NULL "  # the index's rows
                    "AND (sha256, id) > (?, ?) AND backup_status = 'ok' ORDER BY sha256, id LIMIT ?",
                    (*last, page)).fetchall():
                yield from rows
                last = rows[-1][0], rows[-1][4]

        current: CataloguedBlob | None = None
        merged = heapq.merge(((s, h, z, e, None) for s, h, z, e in blob_rows()),
                             ((s, h, z, None, p) for s, h, z, p, _id in version_rows()), key=lambda row: row[0])
        for sha256, sha1, size, encrypted, private in merged:
            checked_sha256(sha256, "the blobs table" if private is None else "the versions table")
            if current is None or current.sha256 != sha256:
                if current is not None:
                    yield current
                current = CataloguedBlob(sha256, sha1, size, False, False)
            if encrypted is not None:
                current.encrypted = bool(encrypted)
            if private:
                current.private = True
        if current is not None:
            yield current

    def blob_versions(self, sha256: str) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT id, wiki, title, status, private, backup_status FROM versions "
                                  "WHERE sha256 = ? ORDER BY id", [sha256]))

    def blob_lost(self, sha256: str, why: str) -> list[dict[str, Any]]:
        """The blob is missing or corrupt: its versions become 'pending' again, so the next backup
        run fetches their bytes anew. Returns every version that references it."""
        with self.conn:
            self.conn.execute("UPDATE versions SET backup_status = 'pending', error = ? "
                              "WHERE sha256 = ? AND backup_status = 'ok'", (why, sha256))
        return self.blob_versions(sha256)

    def blob_encrypted(self, sha256: str, encrypted: bool) -> None:
        """Record what the store shows: it is the truth about how a blob is kept."""
        with self.conn:
            self.conn.execute("UPDATE blobs SET encrypted = ? WHERE sha256 = ? AND encrypted != ?",
                              (int(encrypted), sha256, int(encrypted)))

    def check_state(self, mode: str) -> dict[str, Any]:
        cursor = self.conn.execute("SELECT * FROM checks WHERE mode = ?", (mode,))
        row = cursor.fetchone()
        if row is None:
            return {"mode": mode, "position": None, "pass_started": None, "checked": 0, "updated": None,
                    "last_complete": None}
        return dict(zip([d[0] for d in cursor.description], row))

    def check_progress(self, mode: str, position: str | None, checked: int, complete: bool = False) -> None:
        """Where the pass under way stands (position: the last sha256 checked); `complete` ends it."""
        with self.conn:
            self.conn.execute(
                "INSERT INTO checks (mode, position, pass_started, checked, updated) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (mode) DO UPDATE SET position = excluded.position, checked = excluded.checked, "
                "updated = excluded.updated, pass_started = COALESCE(checks.pass_started, excluded.pass_started)",
                (mode, position, now(), checked, now()))
            if complete:
                self.conn.execute("UPDATE checks SET position = NULL, pass_started = NULL, checked = 0, "
                                  "last_complete = ? WHERE mode = ?", (now(), mode))


@dataclass
class CataloguedBlob:
    sha256: str
    sha1: str
    size: int
    encrypted: bool  # as the catalog records it
    private: bool  # some version with these bytes is private
