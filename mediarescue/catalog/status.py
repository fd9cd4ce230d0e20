"""What `status` and the metrics ask of the catalog: each wiki's last runs of each kind, its versions
still pending or failed, the store's size and how private content is kept, the last check of each
mode and the last restore. A part of the Catalog class (mixed in), kept apart for size.

Cheap on a catalog of 100 million versions, except the store's totals: counts of pending and failed
versions walk their partial indexes (a few rows), the last runs are read backwards from the newest,
and the totals are one pass over `blobs` (once a status or a batch run's metrics, never per pass of
a follower)."""
from __future__ import annotations

from typing import Any

from mediarescue.catalog.base import now, records

RUN_KINDS = ("full", "incremental")


class StatusQueries:
    conn: Any
    engine: Any  # engine.py's dialect: SQLite's index hints

    def wikis(self) -> list[str]:
        """Every wiki the catalog has a run of."""
        return [w for (w,) in self.conn.execute("SELECT DISTINCT wiki FROM runs ORDER BY wiki")]

    def last_run(self, wiki: str, kind: str, done: bool = False) -> dict[str, Any] | None:
        """The newest run of `wiki` of this kind (with `done`, the newest that finished its work)."""
        found = records(self.conn.execute(
            f"SELECT * FROM runs WHERE wiki = ? AND kind = ? {'AND status = ' + repr('done') if done else ''} "
            "ORDER BY id DESC LIMIT 1", (wiki, kind)))
        return found[0] if found else None

    def last_lag(self, wiki: str) -> dict[str, Any] | None:
        """The newest run that measured how long the changes it applied took to be backed up."""
        found = records(self.conn.execute("SELECT id, ended, lag_seconds FROM runs WHERE wiki = ? AND "
                                          "lag_seconds IS NOT NULL ORDER BY id DESC LIMIT 1", (wiki,)))
        return found[0] if found else None

    def set_run_lag(self, run: int, seconds: float) -> None:
        with self.conn:
            self.conn.execute("UPDATE runs SET lag_seconds = ? WHERE id = ?", (seconds, run))

    def backup_counts(self, wiki: str) -> dict[str, int]:
        """Versions whose bytes are still to be stored (pending) or could not be (error, unreachable)."""
        counts = {"pending": 0, "error": 0, "unreachable": 0}
        counts["pending"] = self.conn.execute(f"SELECT COUNT(*) FROM versions {self.engine.hint('versions_pending')} "
                                              "WHERE wiki = ? AND backup_status = 'pending'", (wiki,)).fetchone()[0]
        for status, count in self.conn.execute(
                f"SELECT backup_status, COUNT(*) FROM versions {self.engine.hint('versions_failed')} WHERE wiki = ? "
                "AND backup_status IN ('error', 'unreachable') GROUP BY backup_status", (wiki,)):
            counts[status] = count
        return counts

    def store_totals(self) -> dict[str, int]:
        """Blobs and bytes stored (each content once, across wikis), how many sealed, and how many
        hold private content in plaintext."""
        blobs, size, sealed = self.conn.execute(
            # CAST: PostgreSQL sums BIGINTs as NUMERIC
            "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT), CAST(COALESCE(SUM(encrypted), 0) AS BIGINT) "
            "FROM blobs").fetchone()
        private_plain = self.conn.execute(
            "SELECT COUNT(*) FROM blobs AS b WHERE b.encrypted = 0 AND EXISTS (SELECT 1 FROM versions AS v "
            "WHERE v.sha256 = b.sha256 AND v.private = 1)").fetchone()[0]
        return {"blobs": blobs, "bytes": size, "sealed": sealed, "private_plaintext": private_plain}

    def check_results(self) -> list[dict[str, Any]]:
        """The last check of each mode: when, how many blobs, what it found, and where its pass stands."""
        return records(self.conn.execute(
            "SELECT mode, last_run, last_checked, last_missing, last_corrupt, last_errors, last_complete, position "
            "FROM checks WHERE last_run IS NOT NULL ORDER BY mode"))

    def record_check(self, mode: str, checked: int, missing: int, corrupt: int, errors: int) -> None:
        """What a check run found (check_progress keeps where its pass stands)."""
        with self.conn:
            self.conn.execute(
                "INSERT INTO checks (mode, checked, updated, last_run, last_checked, last_missing, last_corrupt, "
                "last_errors) VALUES (?, 0, ?, ?, ?, ?, ?, ?) ON CONFLICT (mode) DO UPDATE SET "
                "last_run = excluded.last_run, last_checked = excluded.last_checked, last_missing = "
                "excluded.last_missing, last_corrupt = excluded.last_corrupt, last_errors = excluded.last_errors",
                (mode, now(), now(), checked, missing, corrupt, errors))

    def last_restore(self, wiki: str) -> dict[str, Any] | None:
        found = records(self.conn.execute("SELECT id, started, ended, status, restored, failed FROM restore_runs "
                                          "WHERE wiki = ? ORDER BY id DESC LIMIT 1", (wiki,)))
        return found[0] if found else None
