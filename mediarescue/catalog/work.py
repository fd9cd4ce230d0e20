"""The work a run shares among collector processes (`backup --join`, PostgreSQL catalogs): the
versions whose bytes it still needs, in `fetch_queue`. The lister enqueues each batch it records;
every fetcher (the lister's own pool and each joined process) claims a batch with SELECT ... FOR
UPDATE SKIP LOCKED, so no two processes ever claim one row at once, and holds it for a lease that it
renews while it works. A row goes when its bytes are stored or have failed (Catalog.stored/failed);
a killed process's rows are claimable again once their lease has run out. Leases are timed by the
catalog's server, so the clocks of the collectors' hosts do not matter. A part of the Catalog class
(mixed in)."""
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
        clock = self.engine.clock
        with self.conn:
            self.engine.relaxed(self.conn)  # a claim lost to a crash is free again: no harm
            rows = self.conn.execute(
                f"UPDATE fetch_queue SET owner = ?, lease_until = {clock} + ? WHERE version_id IN ("
                f"SELECT version_id FROM fetch_queue WHERE run = ? AND (lease_until IS NULL OR lease_until < {clock}) "
                f"ORDER BY version_id LIMIT ? {self.engine.skip_locked}) RETURNING version_id, job",
                (owner, lease, run, count)).fetchall()
        return sorted((version_id, json.loads(job)) for version_id, job in rows)

    def renew(self, owner: str, lease: float) -> int:
        """Extend the lease of every claim `owner` holds; returns how many it holds."""
        return self.conn.execute(f"UPDATE fetch_queue SET lease_until = {self.engine.clock} + ? WHERE owner = ?",
                                 (lease, owner)).rowcount

    def release(self, owner: str) -> None:
        """`owner` stops (an error, Ctrl-C): what it claimed and did not finish is free at once."""
        self.conn.execute("UPDATE fetch_queue SET owner = NULL, lease_until = NULL WHERE owner = ?", (owner,))

    def work_left(self, run: int) -> int:
        """Versions of `run` not yet stored or failed, claimed or not."""
        return self.conn.execute("SELECT COUNT(*) FROM fetch_queue WHERE run = ?", (run,)).fetchone()[0]

    def running_run(self, wiki: str) -> int | None:
        """The run of `wiki` under way (its lister alive or not), if any."""
        row = self.conn.execute("SELECT MAX(id) FROM runs WHERE wiki = ? AND status = 'running'", (wiki,)).fetchone()
        return row[0]

    def listing_over(self, run: int) -> bool:
        """Whether `run` will enqueue no more: it ended, or its lister is gone (killed: its lock went with it)."""
        status = self.conn.execute("SELECT status FROM runs WHERE id = ?", (run,)).fetchone()[0]
        return status != "running" or not self.engine.held_elsewhere(self.conn, "backup")
