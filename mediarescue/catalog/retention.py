"""What `forget` asks of the catalog, and the one transaction in which it forgets. A part of the
Catalog class (mixed in), kept apart for size; the decisions are collector/forget.py's."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mediarescue.catalog.base import hash_in, hash_out


class RetentionQueries:
    conn: Any

    def live_runs(self, wiki: str | None) -> list[tuple[int, str, str, str, str]]:
        """(id, wiki, kind, started, status) of every run not forgotten yet, oldest first."""
        return self.conn.execute(
            "SELECT r.id, r.wiki, r.kind, r.started, r.status FROM runs AS r LEFT JOIN snapshots AS s ON s.run = r.id "
            "WHERE s.forgotten IS NULL" + (" AND r.wiki = ?" if wiki else "") + " ORDER BY r.id",
            [wiki] if wiki else []).fetchall()

    def unneeded_states(self, wiki: str, retained: list[int]) -> list[tuple[int, int]]:
        """State rows no retained run of `wiki` falls in: the row (v, R) held from the run of v's
        previous change (or its first run) until R."""
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS retained_runs (run INTEGER PRIMARY KEY)")
        with self.conn:
            self.conn.execute("DELETE FROM retained_runs")  # the session's own (a TEMP table)
            self.conn.executemany("INSERT INTO retained_runs VALUES (?) ON CONFLICT DO NOTHING",
                                  [(r,) for r in retained])
        return self.conn.execute(
            "WITH states AS (SELECT s.version_id, s.until_run, COALESCE(LAG(s.until_run) OVER "
            "(PARTITION BY s.version_id ORDER BY s.until_run), v.first_run) AS from_run FROM version_states AS s "
            "JOIN versions AS v ON v.id = s.version_id WHERE v.wiki = ?) "
            "SELECT version_id, until_run FROM states WHERE NOT EXISTS (SELECT 1 FROM retained_runs AS k "
            "WHERE k.run >= states.from_run AND k.run < states.until_run) ORDER BY version_id, until_run",
            (wiki,)).fetchall()

    def vanished_stored(self, wiki: str | None) -> list[tuple[int, str, int, str]]:
        """(id, wiki, first run, sha256) of the vanished versions whose bytes are stored."""
        return [(i, w, run, hash_out(sha256)) for i, w, run, sha256 in self.conn.execute(
            "SELECT id, wiki, first_run, sha256 FROM versions WHERE status = 'vanished' AND sha256 IS NOT NULL "
            "AND backup_status = 'ok'" + (" AND wiki = ?" if wiki else ""), [wiki] if wiki else [])]

    def earlier_states(self, version_id: int) -> list[tuple[int, str]]:
        """(until run, status) of a version's earlier states, in order."""
        return self.conn.execute("SELECT until_run, status FROM version_states WHERE version_id = ? "
                                 "ORDER BY until_run", (version_id,)).fetchall()

    def used_by_others(self, sha256: str, version_ids: list[int]) -> bool:
        """Whether a version other than these has this content."""
        return self.conn.execute(
            f"SELECT 1 FROM versions WHERE sha256 = ? AND id NOT IN ({', '.join('?' * len(version_ids))}) LIMIT 1",
            (hash_in(sha256), *version_ids)).fetchone() is not None

    def blob_record(self, sha256: str) -> dict[str, Any]:
        """A content's size and whether it is sealed, from the blobs table (else a version of it)."""
        row = self.conn.execute("SELECT size, encrypted FROM blobs WHERE sha256 = ?", (hash_in(sha256),)).fetchone()
        if row:
            return {"size": row[0], "encrypted": bool(row[1])}
        size = self.conn.execute("SELECT size FROM versions WHERE sha256 = ? LIMIT 1",
                                 (hash_in(sha256),)).fetchone()[0]
        return {"size": size, "encrypted": False}

    def unreferenced_blobs(self) -> list[tuple[str, int, int]]:
        """(sha256, size, encrypted) of the blobs no version refers to."""
        return [(hash_out(sha256), size, encrypted) for sha256, size, encrypted in self.conn.execute(
            "SELECT sha256, size, encrypted FROM blobs WHERE NOT EXISTS "
            "(SELECT 1 FROM versions AS v WHERE v.sha256 = blobs.sha256)")]

    def forget(self, state_rows: list[tuple[int, int]], runs: Iterable[int], pruned: Iterable[str],
               when: str) -> None:
        """In one transaction: drop the state rows, mark the runs forgotten, and the pruned contents'
        versions 'pruned' (their blobs rows gone)."""
        with self.conn:
            self.conn.executemany("DELETE FROM version_states WHERE version_id = ? AND until_run = ?", state_rows)
            runs = list(runs)
            self.conn.executemany("INSERT INTO snapshots (run) VALUES (?) ON CONFLICT DO NOTHING", [(r,) for r in runs])
            self.conn.executemany("UPDATE snapshots SET forgotten = ? WHERE run = ?", [(when, r) for r in runs])
            for sha256 in map(hash_in, pruned):
                self.conn.execute("UPDATE versions SET backup_status = 'pruned', error = NULL WHERE sha256 = ?",
                                  (sha256,))
                self.conn.execute("DELETE FROM blobs WHERE sha256 = ?", (sha256,))
