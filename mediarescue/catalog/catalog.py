"""The catalog: every file version ever seen, with its metadata, its bytes' hashes and where the
bytes are kept; the description pages; and the backup runs: the Catalog class and the queries of
backups, incremental runs, verify and plan (checks.py, retention.py and status.py add those of
`check`, `forget` and `status` to the same class, migrate.py its migrations; the schema is schema.py).

Raw SQL rather than an ORM or sqlite-utils' table API: the hot paths (a backup records 130 k
versions a second) depend on batch statements, partial indexes and keyset pages written for the
planners, and a test reads SQLite's query plans. Each query is written once for both engines,
SQLite and PostgreSQL; what differs between them is engine.py's.

MediaWiki gives a file version no id of its own, so the catalog does: `versions.id` is assigned
once and never reused. A version is recognised again by (wiki, title, upload timestamp, sha1).
sha1 is what the wiki reports and is not identity (it is known to collide): `sha256` of the bytes
actually stored is, and two versions with one sha1 but two sha256 are a collision, both kept.
"""
from __future__ import annotations

import contextlib
import random
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from mediarescue.catalog import seen, staging
from mediarescue.catalog.base import (
    CORE_TABLES,
    CatalogDamaged,
    CatalogError,
    checked_sha256,
    hash_in,
    hash_out,
    in_chunks,
    now,
    records,
    time_in,
    time_out,
)
from mediarescue.catalog.checks import CheckQueries
from mediarescue.catalog.dump import note_range
from mediarescue.catalog.engine import Postgres, PostgresURL, Target, dialect_of, quoted, target_of
from mediarescue.catalog.metadata import MetadataQueries
from mediarescue.catalog.migrate import Migrations
from mediarescue.catalog.retention import RetentionQueries
from mediarescue.catalog.status import StatusQueries
from mediarescue.catalog.work import WorkQueries
from mediarescue.files import create_private, sqlite_problem, tighten

# Catalogs up to this size are checked (SQLite's quick_check, ~4 s a GiB here) every time they are opened,
# so that a damaged one stops every verb before it writes anything; larger ones by `check`, and
# wherever a damaged page is read (CatalogDamaged all the same).
QUICK_CHECK_AT_OPEN = 256 << 20


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
    source_path: str | None = None      # a file in the wiki's upload directory (upload_dir)


_IDENTITY, _CATALOGUED, _REFRESHED = slice(0, 4), slice(0, 14), slice(5, 14)  # of a Version's fields
VERSION_FIELDS = Version._fields[_CATALOGUED]  # the columns of `versions` a Version fills
REFRESHED_FIELDS = Version._fields[_REFRESHED]  # what a run that sees a known version again sets anew
_KEPT = ", ".join(f"v.{quoted(f)}" for f in REFRESHED_FIELDS)  # as a version's row has them


def _identity_kept(v: Version) -> tuple:
    """A version's identity as `versions` keeps it: the upload time in seconds, sha1 as bytes."""
    return v.wiki, v.title, time_in(v.timestamp), bytes.fromhex(v.sha1)


def _kept(v: Version, identity: tuple | None = None) -> tuple:
    """A version's fields as `versions` keeps them (VERSION_FIELDS), the title at upload only where
    it differs from the title; `identity`: its _identity_kept, if already made."""
    return (*(identity or _identity_kept(v)), v.title_at_upload if v.title_at_upload != v.title else None,
            *v[_REFRESHED])


DIGEST_LENGTHS = {"sha1": 40, "sha256": 64}  # hex digits
MIN_PREFIX = 8  # the shortest digest prefix taken: 4 billion values, so a catalog rarely holds two


class Pending(NamedTuple):
    """A version whose bytes are still to be stored."""
    id: int
    version: Version


class Catalog(Migrations, CheckQueries, RetentionQueries, StatusQueries, MetadataQueries, WorkQueries):
    def __init__(self, target: Path | str | PostgresURL, create: bool = True):
        """Open the catalog at `target` (a path, or a PostgreSQL URL); with `create` (backup), make
        it if it does not exist. Either way a folder, a file that is not SQLite or another program's
        database is refused (CatalogError) before anything is written to it."""
        self.path: Target = target if isinstance(target, PostgresURL) else target_of(target)
        self.engine = dialect_of(self.path)
        if isinstance(self.engine, Postgres):
            self.conn: Any = self.engine.connect()
            self._refuse_foreign_tables(self.engine.tables(self.conn), create)
            self.engine.create_schema(self.conn)
            self._migrate_postgres()
            return
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
        self.conn = self.engine.connect()
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")  # WAL: a kill -9 loses nothing committed
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.engine.create_schema(self.conn)
        self._migrate()

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
                if CORE_TABLES <= tables and self.path.stat().st_size <= QUICK_CHECK_AT_OPEN:
                    found = [row[0] for row in probe.execute("PRAGMA quick_check(3)")]
                    if found != ["ok"]:
                        raise CatalogDamaged(self.path, "; ".join(found))
        except sqlite3.DatabaseError as error:
            raise CatalogDamaged(self.path, str(error)) from None
        except sqlite3.Error as error:
            raise CatalogError(f"the catalog {self.path} cannot be read as SQLite ({error})") from None
        if not CORE_TABLES <= tables and (tables or not empty_ok):
            raise CatalogError(f"the catalog {self.path} is an SQLite database but not a mediarescue catalog "
                               f"(it has no {' and '.join(sorted(CORE_TABLES - tables))} table)")

    def _refuse_foreign_tables(self, tables: set[str], create: bool) -> None:
        """A PostgreSQL schema holding another program's tables is not written to; without
        `create`, one holding no catalog is refused too."""
        if CORE_TABLES <= tables:
            return
        if tables:
            self.conn.close()
            raise CatalogError(f"the catalog {self.path} holds tables but not a mediarescue catalog (no "
                               f"{' and '.join(sorted(CORE_TABLES - tables))} table): give the catalog a database "
                               "or schema of its own")
        if not create:
            self.conn.close()
            raise CatalogError(f"the catalog {self.path} holds no catalog: run `mediarescue backup` first, or fix "
                               "`catalog` in the config")

    def close(self) -> None:
        """Closing lets the catalog's locks go first: a PostgreSQL session's would otherwise end only
        once its server process had exited, a moment after."""
        self.engine.unlock_all(self.conn)
        self.conn.close()

    @property
    def shared(self) -> bool:
        """Whether collectors on other hosts may join this catalog's runs (PostgreSQL)."""
        return self.engine.shared

    def lock(self, kind: str = "backup") -> None:
        """One writer at a time: a second backup on the same catalog fails at once (CatalogBusy).
        `kind` names other such roles (check). A killed holder's lock ends with it."""
        self.engine.try_lock(self.conn, kind)

    def unlock(self, kind: str) -> None:
        self.engine.unlock(self.conn, kind)

    # --- runs ---
    def start_run(self, wiki: str, kind: str) -> int:
        with self.conn:
            # Runs left 'running' by a killed process are over: the lock proves none is alive.
            self.conn.execute("UPDATE runs SET status = 'interrupted' WHERE wiki = ? AND status = 'running'", (wiki,))
            for table in ("fetch_queue", "list_ranges", "seen_ranges"):  # work of runs that are over
                self.conn.execute(f"DELETE FROM {table} WHERE run NOT IN "
                                  "(SELECT id FROM runs WHERE status = 'running')")
            run = self.conn.execute("INSERT INTO runs (wiki, kind, started, status) VALUES (?, ?, ?, 'running') "
                                    "RETURNING id", (wiki, kind, now())).fetchall()[0][0]
            self.conn.execute("INSERT INTO snapshots (run) VALUES (?)", (run,))
            return run

    def finish_run(self, run: int, status: str) -> dict[str, Any]:
        with self.conn:
            self.conn.execute("UPDATE runs SET ended = ?, status = ? WHERE id = ?", (now(), status, run))
            self.conn.execute("DELETE FROM seen_ranges WHERE run = ?", (run,))
        return self.run(run)

    def run(self, run: int) -> dict[str, Any]:
        return records(self.conn.execute("SELECT * FROM runs WHERE id = ?", (run,)))[0]

    def count(self, run: int, **increments: int) -> None:
        sets = ", ".join(f"{name} = {name} + ?" for name in increments)
        self.conn.execute(f"UPDATE runs SET {sets} WHERE id = ?", (*increments.values(), run))

    # --- versions ---
    def record_versions(self, run: int, versions: Iterable[Version]) -> list[Pending]:
        """Insert new versions and refresh the state of known ones that changed, in one transaction;
        returns those whose bytes are not stored yet, in the order given. A known version whose
        status or archive name changes leaves its earlier state in `version_states`; one the wiki
        still shows as it was is noted as seen (seen.py), its row not written.

        Set-based, for speed (a full run of Commons records 100 million): on SQLite one indexed probe
        finds which versions are known, new ones go in with one executemany and known ones are
        refreshed by id in one more; on PostgreSQL the batch goes over in one COPY and one statement
        does all of it, or, while batches come all new, straight into `versions` (staging.py).
        No upsert: INSERT ... ON CONFLICT would use up an id per known version. Ids are taken after
        the highest ever given (a sequence; on SQLite sqlite_sequence, written once a batch), so none
        is given twice, even if a version's row were deleted."""
        batch = {v[_IDENTITY]: v for v in versions}  # a repeat: the last wins
        if isinstance(self.engine, Postgres):
            return self._record_staged(run, list(batch.values()))
        keys = [_identity_kept(v) for v in batch.values()]
        fresh, refreshed, changed, unchanged = [], [], [], []
        pending: list[Pending | int] = []
        with self.conn:
            with self.engine.pipeline(self.conn):  # sent with the probe
                self.engine.relaxed(self.conn)  # a re-run records the same versions again
                self.engine.probing(self.conn)
                # Collectors listing title ranges record at once (PostgreSQL): one at a time from the
                # identity probe to the insert, so that no identity is recorded twice.
                self.engine.serialised(self.conn, "record_versions")
                found = self._known_versions(keys)
            for v, key, known in zip(batch.values(), keys, found):
                if known is None:
                    pending.append(len(fresh))  # its place, for when it has an id
                    fresh.append((v, key))
                    continue
                version_id, status, archive_name, first_run, backup_status, *was = known
                if tuple(was) == v[_REFRESHED]:
                    unchanged.append(version_id)
                else:
                    refreshed.append(v[_REFRESHED] + (version_id,))
                if first_run < run and (status, archive_name) != (v.status, v.archive_name):
                    changed.append((version_id, run, v.title, status, archive_name))
                if backup_status != "ok":
                    pending.append(Pending(version_id, v))
            ids = self.engine.take_ids(self.conn, "versions", len(fresh))
            if fresh:
                runs = (run, run)  # first and last run of a new version
                self.engine.insert_rows(self.conn, "versions", ("id", *VERSION_FIELDS, "first_run", "last_run"),
                                        [(i, *_kept(v, key), *runs) for i, (v, key) in zip(ids, fresh)])
                note_range(self.conn, "versions", ids[0], ids[-1])  # one change for the next dump (schema.py)
            changes = 0
            if changed:  # rowcount: a version already changed earlier in this run keeps its first, pre-run state
                changes = max(self.conn.executemany("INSERT INTO version_states (version_id, until_run, title, "
                                                    "status, archive_name) VALUES (?, ?, ?, ?, ?) "
                                                    "ON CONFLICT DO NOTHING", changed).rowcount, 0)
            with self.engine.pipeline(self.conn):  # nothing below is read: sent at once
                self.engine.update_rows(self.conn, "versions", REFRESHED_FIELDS, refreshed,
                                        also=f", last_run = {int(run)}")
                seen.note_seen(self.conn, run, unchanged)
                self.count(run, versions_seen=len(batch))
                self._count_snapshot(run, new_versions=len(fresh), changed_versions=changes)
        return [Pending(ids[p], fresh[p][0]) if isinstance(p, int) else p for p in pending]

    def _record_staged(self, run: int, batch: list[Version]) -> list[Pending]:
        """record_versions on PostgreSQL (staging.py): the batch in one COPY, recorded in one statement;
        tried straight into `versions` first while batches come all new."""
        staging.prepare(self.conn)
        with self.conn:
            with self.engine.pipeline(self.conn):
                self.engine.relaxed(self.conn)  # a re-run records the same versions again
                # Collectors listing title ranges record at once: one at a time, so that no identity
                # is recorded twice and a batch's ids are consecutive.
                self.engine.serialised(self.conn, "record_versions")
            if self.conn.all_new and batch and (recorded := self._record_all_new(run, batch)) is not None:
                return recorded
            staging.stage(self.conn, ((p, *_kept(v)) for p, v in enumerate(batch)))
            with self.engine.pipeline(self.conn):
                self.engine.probing(self.conn)
                pending, changes = staging.record(self.conn, run)
                new = [version_id for _, version_id, fresh in pending if fresh]
                if new:
                    note_range(self.conn, "versions", min(new), max(new))  # one change for the next dump
                self.count(run, versions_seen=len(batch))
                self._count_snapshot(run, new_versions=len(new), changed_versions=changes)
        self.conn.all_new = len(new) == len(batch)
        return [Pending(version_id, batch[p]) for p, version_id, _ in pending]

    def _record_all_new(self, run: int, batch: list[Version]) -> list[Pending] | None:
        """A batch taken to be new, straight into `versions` (staging.insert_new), in the caller's
        transaction, which holds the recorders' lock; None, with nothing kept, when one is known."""
        ids = staging.take_ids(self.conn, len(batch))
        if not staging.insert_new(self.conn, ids, ((i, *_kept(v), run, run) for i, v in zip(ids, batch))):
            self.conn.all_new = False
            return None
        with self.engine.pipeline(self.conn):
            note_range(self.conn, "versions", ids[0], ids[-1])  # one change for the next dump
            self.count(run, versions_seen=len(batch))
            self._count_snapshot(run, new_versions=len(batch), changed_versions=0)
        return [Pending(i, v) for i, v in zip(ids, batch)]

    def _known_versions(self, keys: list[tuple]) -> list[tuple | None]:
        """For each identity as kept (wiki, title, upload seconds, sha1 bytes), (id, status,
        archive_name, first_run, backup_status, *REFRESHED_FIELDS) if catalogued."""
        found: list[tuple | None] = [None] * len(keys)
        for start in range(0, len(keys), 2000):  # 5 variables a key, well under SQLite's limit
            chunk = keys[start:start + 2000]
            batch, params = self.engine.rows_in(("text", "text", "bigint", "bytea", "bigint"),
                                                [(*key, position) for position, key in enumerate(chunk, start)])
            # CROSS JOIN keeps SQLite from scanning versions: it probes the identity index per key.
            rows = self.conn.execute(
                f"SELECT i.column5, v.id, v.status, v.archive_name, v.first_run, v.backup_status, {_KEPT} FROM {batch} "
                f"{self.engine.ordered_join} versions AS v ON v.wiki = i.column1 "
                "AND v.title = i.column2 AND v.timestamp = i.column3 AND v.sha1 = i.column4", params)
            for row in rows:
                found[row[0]] = row[1:]
        return found

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
                    count += self.conn.execute("INSERT INTO version_states (version_id, until_run, title, status, "
                                               "archive_name) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                                               (version_id, run, title, status, archive_name)).rowcount
                # A moved version keeps the title it was uploaded as (NULL said: its title, until now)
                uploaded_as = ", title_at_upload = COALESCE(title_at_upload, ?)" if "title" in fields else ""
                self.conn.execute(f"UPDATE versions SET {', '.join(f'{f} = ?' for f in fields)}{uploaded_as} "
                                  "WHERE id = ?", (*fields.values(), *([title] if uploaded_as else []), version_id))
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
            "SELECT id FROM versions WHERE wiki = ? AND title = ? AND timestamp = ?",
            (wiki, title, time_in(timestamp)))]
        with self.conn:
            self.conn.executemany("UPDATE versions SET last_run = ? WHERE id = ?", [(run, i) for i in ids])
        # A hidden live version is an old one: the current version cannot be revision-deleted.
        self.change_versions(run, {i: {"status": "deleted" if deleted else "old", "private": 1} for i in ids})
        return ids

    def version_ids(self, versions: Iterable[Version]) -> list[int]:
        """The ids of those of `versions` that are catalogued."""
        return [known[0] for known in self._known_versions([_identity_kept(v) for v in versions]) if known]

    def unsealed_private(self, version_ids: Iterable[int]) -> list[tuple[str, str]]:
        """(sha256, sha1) of each blob of these versions that is private but stored in plaintext:
        what the run that learned they are private must seal (blobstore.seal)."""
        found: dict[str, str] = {}
        for chunk, marks in in_chunks(sorted(set(version_ids))):
            found.update((hash_out(sha256), hash_out(sha1)) for sha256, sha1 in self.conn.execute(
                "SELECT b.sha256, b.sha1 FROM versions AS v JOIN blobs AS b ON b.sha256 = v.sha256 "
                f"WHERE v.id IN {marks} AND v.private = 1 AND v.backup_status = 'ok' AND b.encrypted = 0", chunk))
        return sorted(found.items())

    def stored(self, version_id: int, sha256: str, sha1: str, size: int, new_blob: bool, run: int,
               encrypted: bool = False) -> None:
        """`encrypted`: how the store keeps the blob now (blobstore.Stored.encrypted). Once sealed, a
        blob stays sealed: public bytes equal to private ones do not unseal it."""
        sha256, sha1 = bytes.fromhex(sha256), bytes.fromhex(sha1)  # as kept (hashes come from the store: hex)
        with self.conn:  # not pipelined: psycopg's pipeline costs more than it saves for a few one-row statements
            self.engine.relaxed(self.conn)  # lost to a crash: the version is fetched again, its blob found stored
            # Known blobs too: the store may hold content an earlier, killed run stored.
            catalogued = self.conn.execute("INSERT INTO blobs (sha256, sha1, size, stored, encrypted) VALUES "
                                           "(?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                                           (sha256, sha1, size, now(), int(encrypted))).rowcount == 1
            if encrypted:
                self.conn.execute("UPDATE blobs SET encrypted = 1 WHERE sha256 = ? AND encrypted = 0", (sha256,))
            # New to the store, and first here: two collectors that store one content at once each
            # find it absent, and only one of them catalogues it.
            if new_blob and catalogued:
                self.count(run, new_blobs=1, bytes=size, versions_stored=1)
            else:
                self.count(run, versions_stored=1)
            self.conn.execute("UPDATE versions SET sha256 = ?, backup_status = 'ok', error = NULL WHERE id = ?",
                              (sha256, version_id))
            if self.shared:
                self.conn.execute("DELETE FROM fetch_queue WHERE version_id = ?", (version_id,))

    def failed(self, version_id: int, status: str, error: str, run: int) -> None:
        with self.conn:
            self.engine.relaxed(self.conn)
            self.conn.execute("UPDATE versions SET backup_status = ?, error = ? WHERE id = ?",
                              (status, error, version_id))
            if status == "error":
                self.count(run, errors=1)
            if self.shared:
                self.conn.execute("DELETE FROM fetch_queue WHERE version_id = ?", (version_id,))

    # --- pages ---
    def record_pages(self, run: int, pages: Iterable[dict[str, Any]]) -> None:
        rows = [(p["wiki"], p["title"], p.get("page_id"), p["rev_id"], p.get("rev_timestamp"), p["text"])
                for p in pages]
        with self.conn:
            self.engine.relaxed(self.conn)
            self.conn.executemany("INSERT INTO pages (wiki, title, page_id, rev_id, rev_timestamp, text, first_run) "
                                  f"VALUES (?, ?, ?, ?, ?, ?, {int(run)}) ON CONFLICT DO NOTHING", rows)

    def page_text(self, wiki: str, title: str) -> str | None:
        row = self.conn.execute("SELECT text FROM pages WHERE wiki = ? AND title = ? ORDER BY rev_id DESC LIMIT 1",
                                (wiki, title)).fetchone()
        return row[0] if row else None

    # --- reading ---
    def find(self, *, title: str | None = None, sha1: str | None = None, sha256: str | None = None,
             wiki: str | None = None) -> list[dict[str, Any]]:
        """Every version matching, newest upload first."""
        sql, params = self.matching(title=title, sha1=sha1, sha256=sha256, wiki=wiki)
        rows = records(self.conn.execute(f"{sql} ORDER BY timestamp DESC, id DESC", params))
        for row in rows:  # restore uploads the blob a row names
            checked_sha256(row["sha256"], f"versions row {row['id']}")
        return rows

    def matching(self, *, title: str | None = None, sha1: str | None = None, sha256: str | None = None,
                 wiki: str | None = None) -> tuple[str, list[Any]]:
        """The query of the versions rows matching (no order), and its parameters."""
        clauses, params = [], []
        for column, value in (("title", title), ("sha1", hash_in(sha1)), ("sha256", hash_in(sha256)), ("wiki", wiki)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if title is not None and wiki is None:
            clauses.append("wiki IN (SELECT DISTINCT wiki FROM runs)")  # the identity index, probed per wiki
        where = " AND ".join(clauses) or "TRUE"
        sql = f"SELECT * FROM versions WHERE {where}"
        if sha1 is not None:  # versions_sha1_settled, then the few versions still pending
            pending = "versions" if title is not None else f"versions {self.engine.hint('versions_pending')}"
            sql = (f"{sql} AND backup_status != 'pending' "
                   f"UNION ALL SELECT * FROM {pending} WHERE {where} AND backup_status = 'pending'")
            params += params
        return sql, params

    def complete_digest(self, column: str, text: str, wiki: str | None = None) -> str | None:
        """The whole sha1 or sha256 (`column`) that `text`, a prefix of at least 8 hex digits, starts;
        None when no catalogued version has one. ValueError, naming the candidates, when it is
        ambiguous or not a prefix at all. Tables print 12 digits: that is what operators paste."""
        digest, length = text.strip().lower(), DIGEST_LENGTHS[column]
        if not re.fullmatch(r"[0-9a-f]*", digest) or len(digest) > length:
            raise ValueError(f"--{column} takes up to {length} hex digits, not {text[:80]!r}")
        if len(digest) < MIN_PREFIX:
            raise ValueError(f"--{column} needs at least {MIN_PREFIX} hex digits, not {len(digest)}")
        if len(digest) == length:
            return digest
        wiki_clause = " AND wiki = ?" if wiki else ""
        # Kept as bytes, so a range on the digest's index: the prefix padded with 0s, and with fs, to
        # the whole length (an odd-length prefix's last digit is half a byte, padded the same way).
        low, high = (bytes.fromhex(digest + pad * (length - len(digest))) for pad in "0f")
        ranges = [f"{column} >= ? AND {column} <= ?{wiki_clause}"]
        if column == "sha1":  # the settled ones through their index, the few pending through theirs
            ranges = [ranges[0] + " AND backup_status != 'pending'", ranges[0] + " AND backup_status = 'pending'"]
        found = sorted({hash_out(d) for where in ranges for (d,) in self.conn.execute(
            f"SELECT DISTINCT {column} FROM versions WHERE {where} LIMIT 5",
            (low, high, *([wiki] if wiki else [])))})
        if len(found) > 1:
            raise ValueError(f"--{column} {digest} is ambiguous: it starts {', '.join(d[:16] for d in found[:4])}"
                             f"{' and more' if len(found) > 4 else ''}; give more digits")
        return found[0] if found else None

    def titles(self, wiki: str) -> list[str]:
        """Every title the catalog holds a version of."""
        return [t for (t,) in self.conn.execute("SELECT DISTINCT title FROM versions WHERE wiki = ? ORDER BY title",
                                                (wiki,))]

    def titles_with_deleted(self, wiki: str, titles: Iterable[str]) -> set[str]:
        """Those of `titles` with a catalogued deleted version."""
        found: set[str] = set()
        for chunk, marks in in_chunks(sorted(set(titles))):  # the identity index, probed by title
            found.update(t for (t,) in self.conn.execute(
                f"SELECT DISTINCT title FROM versions WHERE wiki = ? AND title IN {marks} AND status = 'deleted'",
                (wiki, *chunk)))
        return found

    def versions_of_titles(self, wiki: str, titles: Iterable[str]) -> Iterator[tuple[int, str, str, str, str]]:
        """(id, title, status, upload time, sha1) of every catalogued version of these titles."""
        for chunk, marks in in_chunks(sorted(set(titles))):  # the identity index, probed by title
            for version_id, title, status, timestamp, sha1 in self.conn.execute(
                    f"SELECT id, title, status, timestamp, sha1 FROM versions WHERE wiki = ? AND title IN {marks}",
                    (wiki, *chunk)):
                yield version_id, title, status, time_out(timestamp), hash_out(sha1)

    def unseen(self, wiki: str, run: int, statuses: Sequence[str], titles: Iterable[str] | None = None
               ) -> list[tuple[int, str, str]]:
        """(id, title, status) of the versions in `statuses` that `run` has not seen (yet): of the
        whole wiki, or of `titles` only. Seen: written by the run, or noted as seen unchanged."""
        with self.conn:
            self.engine.serialised(self.conn, "record_versions")  # no recorder adds a range meanwhile
            seen.merge(self.conn, run)
        where = (f"v.wiki = ? AND v.last_run < ? AND v.status IN ({', '.join('?' * len(statuses))}) "
                 f"AND NOT {seen.SEEN_BY_RUN}")
        params = (wiki, run, *statuses, run)
        if titles is None:
            return self.conn.execute(f"SELECT v.id, v.title, v.status FROM versions AS v WHERE {where}",
                                     params).fetchall()
        return [row for chunk, marks in in_chunks(sorted(set(titles))) for row in self.conn.execute(
            f"SELECT v.id, v.title, v.status FROM versions AS v WHERE {where} AND v.title IN {marks}",
            (*params, *chunk))]

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
                    f"SELECT * FROM versions {self.engine.hint(None)} WHERE id >= ? AND id < ? AND wiki = ? "
                    "AND status = 'current' AND backup_status = 'ok' ORDER BY id LIMIT 1",
                    (since, max(until, since + 1), wiki))
                found = records(cursor)
                if found:
                    rows[found[0]["id"]] = found[0]
                    break
        return list(rows.values())

    def record_verification(self, wiki: str, checked_files: int, checked_versions: int,
                            findings: Iterable[dict[str, Any]]) -> int:
        with self.conn:
            verification = self.conn.execute(
                "INSERT INTO verifications (wiki, finished, checked_files, checked_versions) VALUES (?, ?, ?, ?) "
                "RETURNING id", (wiki, now(), checked_files, checked_versions)).fetchall()[0][0]
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
        return records(self.conn.execute("SELECT * FROM sha1_collisions"))

    def errors(self, version_ids: Iterable[int]) -> list[dict[str, Any]]:
        """Those of these versions whose bytes failed, by id (a run knows which it failed: no scan)."""
        rows: list[dict[str, Any]] = []
        for chunk, marks in in_chunks(sorted(version_ids)):
            rows += records(self.conn.execute(f"SELECT id, title, status, sha1, error FROM versions WHERE id IN "
                                              f"{marks} AND backup_status = 'error' ORDER BY id", chunk))
        return rows
