"""Migrations: an older catalog brought up to the schema (schema.py) when it is opened. CREATE ...
IF NOT EXISTS leaves what a catalog has, so what changed since is done here, once: columns added,
indexes and columns retired, and tables rewritten in the compact layout (hashes as bytes, upload
times as seconds, `title_at_upload` only where it differs from the title). A part of the Catalog
class (mixed in)."""
from __future__ import annotations

import sqlite3
from typing import Any

from mediarescue.catalog.base import hash_in, time_in
from mediarescue.catalog.engine import Postgres, quoted
from mediarescue.catalog.schema import NOTED_BY_WRITER, PAGES


class Migrations:
    conn: Any
    engine: Any

    # Columns added to tables after catalogs already existed: (table, column, declaration).
    ADDED_COLUMNS = (("blobs", "encrypted", "INTEGER NOT NULL DEFAULT 0"), ("runs", "lag_seconds", "REAL"),
                     ("runs", "versions_stored", "INTEGER NOT NULL DEFAULT 0"),
                     *(("checks", c, "TEXT" if c == "last_run" else "INTEGER")
                       for c in ("last_run", "last_checked", "last_missing", "last_corrupt", "last_errors")),
                     ("restore_runs", "restored", "INTEGER"), ("restore_runs", "failed", "INTEGER"),
                     ("restore_runs", "kind", "TEXT NOT NULL DEFAULT 'restore'"))
    # What older catalogs have and SCHEMA no longer makes. The indexes each cost a backup a random
    # write per new row; where the bytes were read from is the wiki's layout's to say (Version).
    RETIRED_INDEXES = ("versions_title", "versions_sha1", "versions_timestamp", "pages_title")
    # Triggers older catalogs have: new rows of these tables are noted by their writer (schema.NOTED_BY_WRITER).
    RETIRED_TRIGGERS = tuple(f"{table}_insert_noted" for table in NOTED_BY_WRITER)
    RETIRED_COLUMNS = (("versions", "source_url"), ("versions", "source_container"), ("versions", "source_object"))

    def _retired(self) -> tuple[set[str], set[tuple[str, str]], bool]:
        """Retired indexes and triggers and columns still there, and whether `pages` has its old key
        (wiki, rev_id)."""
        indexes = {name for (name,) in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger')")}
        columns = {(table, row[1]) for table in {t for t, _ in self.RETIRED_COLUMNS}
                   for row in self.conn.execute(f"PRAGMA table_info({table})")}
        old_pages = any(row[3] == "pk" for row in self.conn.execute("PRAGMA index_list(pages)"))
        return (indexes.intersection(self.RETIRED_INDEXES + self.RETIRED_TRIGGERS),
                columns.intersection(self.RETIRED_COLUMNS), old_pages)

    def _migrate(self) -> None:
        """Bring an older catalog up to SCHEMA (CREATE ... IF NOT EXISTS leaves what it has). Tables
        are rewritten, once, on the first open after an upgrade."""
        if any(self._retired()):  # a reader of an up-to-date catalog writes nothing
            with self.conn:
                self.conn.execute("BEGIN IMMEDIATE")  # one process migrates; one opening beside it finds it done
                indexes, columns, old_pages = self._retired()
                for name in indexes:
                    self.conn.execute(f"DROP {'TRIGGER' if name in self.RETIRED_TRIGGERS else 'INDEX'} {name}")
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
        self._add_columns()
        if self._not_compact():
            self._compact()

    def _migrate_postgres(self) -> None:
        """A PostgreSQL catalog made before: the columns added since; title_at_upload may be NULL
        (the title; rows written before keep their copy of it: rewriting every row would double the
        table until vacuum, for ~50 bytes a version); no foreign keys from versions and pages to runs."""
        self._add_columns()
        for table, name in zip(NOTED_BY_WRITER, self.RETIRED_TRIGGERS):  # looked up first: dropping locks the table
            if self.conn.execute("SELECT 1 FROM pg_trigger WHERE tgrelid = ?::regclass AND tgname = ?",
                                 (table, name)).fetchone():
                with self.conn:
                    self.conn.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                    self.conn.execute(f"DROP FUNCTION IF EXISTS {name}()")
        if self.conn.execute("SELECT is_nullable FROM information_schema.columns WHERE table_schema = "
                             "current_schema() AND table_name = 'versions' AND column_name = 'title_at_upload'"
                             ).fetchone()[0] == "NO":
            self.conn.execute("ALTER TABLE versions ALTER COLUMN title_at_upload DROP NOT NULL")
        # the foreign keys of versions and pages on runs (schema.py says why they went); looked up
        # first, as ALTER TABLE locks the table against the collectors even when it changes nothing
        for table, constraint in self.conn.execute(
                "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f' AND "
                "conrelid IN ('versions'::regclass, 'pages'::regclass) AND confrelid = 'runs'::regclass").fetchall():
            self.conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT IF EXISTS "{constraint}"')

    def _add_columns(self) -> None:
        """Columns added to tables after catalogs of either engine already existed."""
        for table, column, declaration in self.ADDED_COLUMNS:
            if column not in self.engine.columns(self.conn, table):
                if isinstance(self.engine, Postgres):
                    self.conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} "
                                      f"{self.engine.ddl(declaration)}")
                    continue
                try:
                    with self.conn:
                        self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
                except sqlite3.OperationalError as error:
                    if "duplicate column" not in str(error):  # another process migrated it just now
                        raise

    def _not_compact(self) -> list[str]:
        """The tables not yet in the compact layout: hashes as hex text (versions, blobs), or every
        version's title_at_upload kept even where it is its title (versions)."""
        tables = []
        for table in ("versions", "blobs"):
            columns = {row[1]: row for row in self.conn.execute(f"PRAGMA table_info({table})")}
            if columns["sha1"][2].upper() == "TEXT" or columns.get("title_at_upload", (0,) * 4)[3]:  # [3]: NOT NULL
                tables.append(table)
        return tables

    def _compact(self) -> None:
        """Rewrite versions and blobs in the compact layout, once (a whole-table copy: minutes at
        100 million rows). Not a change of their content: no trigger notes it, and what the catalog
        answers is the same (records() reads a NULL title_at_upload as the title)."""
        self.conn.create_function("unhex_kept", 1, hash_in, deterministic=True)
        self.conn.create_function("seconds_kept", 1, lambda v: time_in(v) if isinstance(v, str) else v,
                                  deterministic=True)
        self.conn.execute("PRAGMA foreign_keys = OFF")  # versions is dropped and made again under its name
        try:
            with self.conn:
                self.conn.execute("BEGIN IMMEDIATE")  # one process migrates; one opening beside it finds it done
                tables = self._not_compact()
                self.conn.execute("DROP VIEW IF EXISTS sha1_collisions")  # made again by the schema
                made = {t: s for t in tables for s in self.engine.schema()[0]
                        if s.startswith(f"CREATE TABLE IF NOT EXISTS {t} (")}
                for table in tables:
                    columns = [row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")]
                    kept = {"sha1": "unhex_kept(sha1)", "sha256": "unhex_kept(sha256)",
                            "timestamp": "seconds_kept(timestamp)", "title_at_upload": "NULLIF(title_at_upload, title)"}
                    self.conn.execute(made[table].replace(f"{table} (", f"{table}_compact (", 1))
                    self.conn.execute(f"INSERT INTO {table}_compact (rowid, {', '.join(map(quoted, columns))}) "
                                      f"SELECT rowid, {', '.join(kept.get(c, quoted(c)) for c in columns)} "
                                      f"FROM {table}")
                    self.conn.execute(f"DROP TABLE {table}")
                    self.conn.execute(f"ALTER TABLE {table}_compact RENAME TO {table}")
        finally:
            self.conn.execute("PRAGMA foreign_keys = ON")
        self.engine.create_schema(self.conn)  # the indexes, triggers and view of the tables made again
