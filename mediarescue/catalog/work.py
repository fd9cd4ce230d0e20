"""The work a run shares among collector processes (`backup --join`, PostgreSQL catalogs): the
versions whose bytes it still needs, in `fetch_queue`. The lister enqueues each batch it records;
every fetcher (the lister's own pool and each joined process) claims a batch with SELECT ... FOR
UPDATE SKIP LOCKED, so no two processes ever claim one row at once, and holds it for a lease that it
renews while it works. A row goes when its bytes are stored or have failed (Catalog.stored/failed);
a killed process's rows are claimable again once their lease has run out. Leases are timed by the
catalog's server, so the clocks of the collectors' hosts do not matter. A full run's listing split by
title ranges (`backup --list-split`) shares its ranges the same way, in `list_ranges`. A part of the
Catalog class (mixed in)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mediarescue.catalog.engine import Dialect


class WorkQueries:
    conn: Any
    engine: Dialect

    def enqueue(self, run: int, jobs: Sequence[Any]) -> None:
        """Pending versions (catalog.Pending) for the fetchers of `run`; one seen again keeps its claim."""
        with self.conn:
            self.engine.relaxed(self.conn)  # work in progress: a re-run enqueues it again
            self.conn.executemany(
                "INSERT INTO fetch_queue (version_id, run, job) VALUES (?, ?, ?) ON CONFLICT (version_id) "
                "DO UPDATE SET run = excluded.run, job = excluded.job",
                [(job.id, run, json.dumps(list(job.version), ensure_ascii=False)) for job in jobs])

    def claim(self, run: int, owner: str, count: int, lease: float) -> list[tuple[int, list[Any]]]:
        """Up to `count` unclaimed (or lease-expired) versions of `run`, now `owner`'s for `lease`
        seconds: (version id, the version's fields as listed)."""
        rows = self._leased("fetch_queue", "version_id", "run = ?", (run,), count, owner, lease, "version_id, job")
        return sorted((version_id, json.loads(job)) for version_id, job in rows)

    def _leased(self, table: str, key: str, free: str, params: Sequence[Any], count: int, owner: str, lease: float,
                returning: str) -> list[tuple]:
        """Claim up to `count` rows of `table` that match `free` and are unclaimed or whose lease ran
        out, in the order of `key` (its key's columns), for `owner` and `lease` seconds; rows other
        processes hold are passed over (SKIP LOCKED), never waited for. Returns `returning` of each."""
        clock = self.engine.clock
        with self.conn:
            self.engine.relaxed(self.conn)  # a claim lost to a crash is free again: no harm
            return self.conn.execute(
                f"UPDATE {table} SET owner = ?, lease_until = {clock} + ? WHERE ({key}) IN (SELECT {key} FROM {table} "
                f"WHERE {free} AND (lease_until IS NULL OR lease_until < {clock}) ORDER BY {key} LIMIT ? "
                f"{self.engine.skip_locked}) RETURNING {returning}", (owner, lease, *params, count)).fetchall()

    def renew(self, owner: str, lease: float) -> int:
        """Extend the lease of every claim `owner` holds (versions, and the title range it lists);
        returns how many versions it holds."""
        self.conn.execute(f"UPDATE list_ranges SET lease_until = {self.engine.clock} + ? WHERE owner = ? AND done = 0",
                          (lease, owner))
        return self.conn.execute(f"UPDATE fetch_queue SET lease_until = {self.engine.clock} + ? WHERE owner = ?",
                                 (lease, owner)).rowcount

    def release(self, owner: str) -> None:
        """`owner` stops (an error, Ctrl-C): what it claimed and did not finish is free at once."""
        self.conn.execute("UPDATE fetch_queue SET owner = NULL, lease_until = NULL WHERE owner = ?", (owner,))
        self.conn.execute("UPDATE list_ranges SET owner = NULL, lease_until = NULL WHERE owner = ?", (owner,))

    def work_left(self, run: int) -> int:
        """Versions of `run` not yet stored or failed, claimed or not."""
        return self.conn.execute("SELECT COUNT(*) FROM fetch_queue WHERE run = ?", (run,)).fetchone()[0]

    def running_run(self, wiki: str) -> int | None:
        """The run of `wiki` under way (its lister alive or not), if any."""
        row = self.conn.execute("SELECT MAX(id) FROM runs WHERE wiki = ? AND status = 'running'", (wiki,)).fetchone()
        return row[0]

    def listing_over(self, run: int) -> bool:
        """Whether `run` will enqueue no more: it ended, its lister is gone (killed: its lock went with
        it), or its listing was split by title ranges and every range is listed."""
        status = self.conn.execute("SELECT status FROM runs WHERE id = ?", (run,)).fetchone()[0]
        if status != "running" or not self.engine.held_elsewhere(self.conn, "backup"):
            return True
        planned, left = self.conn.execute("SELECT COUNT(*), COUNT(*) - COALESCE(SUM(done), 0) FROM list_ranges "
                                          "WHERE run = ?", (run,)).fetchone()
        return planned > 0 and left == 0

    # --- a full run's listing split by title ranges (list_ranges) ---
    def plan_ranges(self, run: int, bounds: Sequence[str]) -> None:
        """`run`'s listing as len(bounds) + 1 title ranges, cut at `bounds` (titles in the wiki's
        order, each once): from the first title to bounds[0], ..., from bounds[-1] to the last."""
        edges = [None, *bounds, None]
        with self.conn:
            self.conn.executemany("INSERT INTO list_ranges (run, seq, first_title, next_title) VALUES (?, ?, ?, ?)",
                                  [(run, seq, edges[seq], edges[seq + 1]) for seq in range(len(edges) - 1)])

    def claim_range(self, run: int, owner: str, lease: float) -> tuple[int, str | None, str | None] | None:
        """A range of `run` not listed yet and not claimed (or its lease run out), now `owner`'s for
        `lease` seconds: (seq, first title or None, next range's first title or None); None if none."""
        rows = self._leased("list_ranges", "run, seq", "run = ? AND done = 0", (run,), 1, owner, lease,
                            "seq, first_title, next_title")
        return tuple(rows[0]) if rows else None  # type: ignore[return-value]

    def renew_range(self, run: int, seq: int, owner: str, lease: float) -> bool:
        """Extend `owner`'s lease of a range; False if it is no longer `owner`'s (its lease ran out
        and another process claimed it) or listed already."""
        return self.conn.execute(f"UPDATE list_ranges SET lease_until = {self.engine.clock} + ? "
                                 "WHERE run = ? AND seq = ? AND owner = ? AND done = 0",
                                 (lease, run, seq, owner)).rowcount == 1

    def range_listed(self, run: int, seq: int) -> None:
        """A range listed to its end and recorded (by whichever process: listed is listed)."""
        self.conn.execute("UPDATE list_ranges SET done = 1, owner = NULL, lease_until = NULL "
                          "WHERE run = ? AND seq = ?", (run, seq))

    def ranges(self, run: int) -> list[dict[str, Any]]:
        """`run`'s title ranges, in order, with whether each is listed."""
        cursor = self.conn.execute("SELECT seq, first_title, next_title, done, owner FROM list_ranges WHERE run = ? "
                                   "ORDER BY seq", (run,))
        return [dict(zip(("seq", "first_title", "next_title", "done", "owner"), row)) for row in cursor]

    def ranges_left(self, run: int) -> int:
        """Ranges of `run` not listed to their end yet, claimed or not."""
        return self.conn.execute("SELECT COUNT(*) FROM list_ranges WHERE run = ? AND done = 0", (run,)).fetchone()[0]

    def title_count(self, wiki: str) -> int:
        """How many titles of `wiki` the catalog knows."""
        return self.conn.execute("SELECT COUNT(DISTINCT title) FROM versions WHERE wiki = ?", (wiki,)).fetchone()[0]

    def titles_at(self, wiki: str, positions: Sequence[int]) -> list[str]:
        """The titles of `wiki` at these 0-based positions of all its titles in byte order, in that order."""
        if not positions:
            return []
        return [title for (title,) in self.conn.execute(
            f"SELECT title FROM (SELECT title, ROW_NUMBER() OVER (ORDER BY title {self.engine.byte_order}) - 1 AS k "
            f"FROM (SELECT DISTINCT title FROM versions WHERE wiki = ?) AS t) AS q "
            f"WHERE k IN ({', '.join('?' * len(positions))}) ORDER BY k", (wiki, *positions))]
