"""What the metadata kept in the backup store asks of the catalog: its identity, the objects it
wrote, what is pending, and building a new catalog from dumps (recover, import). A part of the
Catalog class (mixed in), kept apart for size; the form is dump.py's, the decisions
collector/metadata.py's."""
from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from mediarescue.catalog.base import CatalogError
from mediarescue.catalog.dump import DumpInfo, apply, prefetched, read_lines, schema_statements
from mediarescue.files import create_private


class MetadataQueries:
    conn: sqlite3.Connection

    def catalog_id(self, create: bool = True) -> str | None:
        """The id that names this catalog's metadata in the store: made on first use (`create`),
        else None until then."""
        row = self.conn.execute("SELECT id FROM catalog_identity").fetchone()
        if row or not create:
            return row[0] if row else None
        with self.conn:
            self.conn.execute("INSERT INTO catalog_identity (id) VALUES (?)", (uuid.uuid4().hex[:16],))
        return self.conn.execute("SELECT id FROM catalog_identity").fetchone()[0]

    def newest_run(self) -> int:
        return self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM runs").fetchone()[0]

    def last_finished_run(self) -> int | None:
        """The newest run that ended (done or failed): what the store's newest metadata must hold."""
        return self.conn.execute("SELECT MAX(id) FROM runs WHERE ended IS NOT NULL").fetchone()[0]

    def catalog_size(self) -> int:
        """Rows that count for the share of a full copy deltas may reach: versions, cheaply."""
        return self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM versions").fetchone()[0]

    def metadata_recorded(self) -> list[dict[str, Any]]:
        cursor = self.conn.execute("SELECT name, seq, kind, run, bytes, written FROM metadata_objects ORDER BY seq")
        return [dict(zip(("name", "seq", "kind", "run", "bytes", "written"), row)) for row in cursor]

    def record_metadata(self, objects: Iterable[Any]) -> None:
        """Objects (blobstore.metadata.MetadataObject) now in the store."""
        with self.conn:
            self.conn.executemany("INSERT OR REPLACE INTO metadata_objects (name, seq, kind, run, bytes, written) "
                                  "VALUES (?, ?, ?, ?, ?, ?)",
                                  [(o.name, o.seq, o.kind, o.run, o.size or 0, o.written) for o in objects])

    def forget_metadata(self, names: Iterable[str]) -> None:
        with self.conn:
            self.conn.executemany("DELETE FROM metadata_objects WHERE name = ?", [(n,) for n in names])

    def quick_check(self) -> list[str]:
        """SQLite's quick_check: ['ok'] for a sound file, else what it found (up to 10 lines)."""
        return [row[0] for row in self.conn.execute("PRAGMA quick_check(10)")]


def rebuild(path: Path, dumps: Iterable[IO[bytes]], identity: str | None,
            recorded: Iterable[Any] = ()) -> list[DumpInfo]:
    """A new catalog at `path` from dumps applied in order (a full one first), never over an
    existing file: built in a temporary file beside it and linked into place only when every dump
    was read whole and right (a dump cut short or failing its checksum leaves nothing). `identity`:
    the catalog id its metadata goes on under in the store (None: a new one at its first write);
    `recorded`: the store's objects it knows as written."""
    if path.exists() or Path(f"{path}-wal").exists():
        raise CatalogError(f"{path} exists: a catalog is never overwritten; name a new path")
    building = path.with_name(f".{path.name}.building-{os.getpid()}")
    building.unlink(missing_ok=True)
    create_private(building)
    done: list[DumpInfo] = []
    try:
        with contextlib.closing(sqlite3.connect(building, isolation_level=None)) as conn:
            tables, rest = schema_statements()
            # No journal while it is built: a failed build is thrown away whole, never opened.
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("PRAGMA cache_size = -262144")  # 256 MiB: the indexes are built at the end
            conn.execute("PRAGMA threads = 4")  # ... by sorters in parallel
            conn.execute("BEGIN")
            for statement in tables:
                conn.execute(statement)
            for stream in dumps:  # indexes after the rows: a bulk load builds them faster at the end
                with stream:
                    done.append(apply(conn, prefetched(read_lines(stream))))
                if len(done) == 1 and done[0].kind != "full":
                    raise CatalogError("the first dump of a catalog must be a full one")
            for statement in rest:
                conn.execute(statement)
            if identity:
                conn.execute("INSERT INTO catalog_identity (id) VALUES (?)", (identity,))
            conn.executemany("INSERT INTO metadata_objects (name, seq, kind, run, bytes, written) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             [(o.name, o.seq, o.kind, o.run, o.size or 0, o.written) for o in recorded])
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = WAL")  # as every catalog is opened
        with open(building, "rb") as built:  # on disk before it takes the catalog's name
            os.fsync(built.fileno())
        if not done:
            raise CatalogError("no dump to build a catalog from")
        os.link(building, path)  # fails if the path appeared meanwhile: nothing is overwritten
    except FileExistsError:
        raise CatalogError(f"{path} exists: a catalog is never overwritten; name a new path") from None
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{building}{suffix}").unlink(missing_ok=True)
    return done
