"""What `check` asks of the catalog: every content it says is stored, in sha256 order, and where
the check stands. A part of the Catalog class (mixed in), kept apart for size."""
from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mediarescue.catalog.base import checked_sha256, hash_in, hash_out, now, records


@dataclass
class CataloguedBlob:
    sha256: str
    sha1: str
    size: int
    encrypted: bool  # as the catalog records it
    private: bool  # some version with these bytes is private


class CheckQueries:
    conn: Any
    shared: bool

    def catalogued_blobs(self, after: str = "", page: int = 1000) -> Iterator[CataloguedBlob]:
        """Every content the catalog says is stored (the blobs table, and versions backed up 'ok'),
        once each, in sha256 order after `after`. Keyset pages on the two sha256 indexes, merged
        here: a UNION ... ORDER BY would sort the whole rest of 100 million rows for every page."""
        # From the start: '' on SQLite, where text (a crafted row, which checked_sha256 refuses) sorts
        # before every blob; PostgreSQL's bytea holds bytes only.
        start = hash_in(after) if after else b"" if self.shared else ""

        def blob_rows() -> Iterator[tuple]:
            last = start
            while rows := self.conn.execute("SELECT sha256, sha1, size, encrypted FROM blobs WHERE sha256 > ? "
                                            "ORDER BY sha256 LIMIT ?", (last, page)).fetchall():
                yield from ((hash_out(s), hash_out(h), z, e) for s, h, z, e in rows)
                last = rows[-1][0]

        def version_rows() -> Iterator[tuple]:
            last = (start, 2 ** 63 - 1)  # past every version of `after` itself
            while rows := self.conn.execute(
                    "SELECT sha256, sha1, size, private, id FROM versions WHERE sha256 IS NOT NULL "  # the index's rows
                    "AND (sha256, id) > (?, ?) AND backup_status = 'ok' ORDER BY sha256, id LIMIT ?",
                    (*last, page)).fetchall():
                yield from ((hash_out(s), hash_out(h), z, p, i) for s, h, z, p, i in rows)
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
        return records(self.conn.execute("SELECT id, wiki, title, status, private, backup_status FROM versions "
                                         "WHERE sha256 = ? ORDER BY id", (hash_in(sha256),)))

    def blob_lost(self, sha256: str, why: str) -> list[dict[str, Any]]:
        """The blob is missing or corrupt: its versions become 'pending' again, so the next backup
        run fetches their bytes anew. Returns every version that references it."""
        with self.conn:
            self.conn.execute("UPDATE versions SET backup_status = 'pending', error = ? "
                              "WHERE sha256 = ? AND backup_status = 'ok'", (why, hash_in(sha256)))
        return self.blob_versions(sha256)

    def blob_encrypted(self, sha256: str, encrypted: bool) -> None:
        """Record what the store shows: it is the truth about how a blob is kept."""
        with self.conn:
            self.conn.execute("UPDATE blobs SET encrypted = ? WHERE sha256 = ? AND encrypted != ?",
                              (int(encrypted), hash_in(sha256), int(encrypted)))

    def check_state(self, mode: str) -> dict[str, Any]:
        found = records(self.conn.execute("SELECT * FROM checks WHERE mode = ?", (mode,)))
        return found[0] if found else {"mode": mode, "position": None, "pass_started": None, "checked": 0,
                                       "updated": None, "last_complete": None}

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


