"""The restore journal: every action recorded in the catalog before and after it happens, so a
killed restore resumes where it stopped and a finished one is never done twice. (The schema is in
collector/catalog.py, with the rest of the catalog's.)

Restore workers run in threads: the journal has a connection of its own that they share under a
lock, each call one short transaction (WAL lets the catalog's other readers go on meanwhile).
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from mediarescue.catalog.base import in_chunks, now, records
from mediarescue.catalog.catalog import Catalog
from policies.recovery import Decision
from policies.rollback import Decision as RollbackDecision


class Journal:
    def __init__(self, catalog: Catalog, wiki: str):
        self.wiki = wiki
        self._conn = catalog.engine.connect(check_same_thread=False, timeout=60)
        if not catalog.shared:
            self._conn.execute("PRAGMA synchronous = NORMAL")  # WAL: what a kill -9 must not lose is kept
        self._lock = threading.Lock()

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock, self._conn:
            yield self._conn

    def _one(self, sql: str, params: tuple) -> dict[str, Any] | None:
        with self._tx() as conn:
            found = records(conn.execute(sql, params))
            return found[0] if found else None

    def start_run(self, reason: str | None, report_page: str | None, kind: str = "restore") -> int:
        with self._tx() as conn:
            conn.execute("UPDATE restore_runs SET status = 'interrupted' WHERE wiki = ? AND status = 'running'",
                         (self.wiki,))
            return conn.execute("INSERT INTO restore_runs (wiki, started, status, reason, report_page, kind) "
                                "VALUES (?, ?, 'running', ?, ?, ?) RETURNING id",
                                (self.wiki, now(), reason, report_page, kind)).fetchall()[0][0]

    def finish_run(self, run: int, status: str, restored: int | None = None, failed: int | None = None) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE restore_runs SET ended = ?, status = ?, restored = ?, failed = ? WHERE id = ?",
                         (now(), status, restored, failed, run))

    def open_entry(self, run: int, d: Decision) -> dict[str, Any]:
        """The unfinished entry of this action (a killed run's: `resumed`), or a new one."""
        found = self._one("SELECT * FROM restore_journal WHERE wiki = ? AND version_id = ? AND action = ? "
                          "AND title = ? AND step NOT IN ('verified', 'failed') ORDER BY id DESC LIMIT 1",
                          (self.wiki, d.version.id, d.action.value, d.title))
        with self._tx() as conn:
            if found:
                conn.execute("UPDATE restore_journal SET run = ? WHERE id = ?", (run, found["id"]))
                return {**found, "resumed": True}
            stamp = now()
            entry_id = conn.execute(
                "INSERT INTO restore_journal (wiki, title, action, version_id, sha1, step, run, started, updated, "
                "revert_to) VALUES (?, ?, ?, ?, ?, 'started', ?, ?, ?, ?) RETURNING id",
                (self.wiki, d.title, d.action.value, d.version.id, d.version.sha1, run, stamp, stamp,
                 d.revert_to)).fetchall()[0][0]
        return {"id": entry_id, "step": "started", "started": stamp, "upload_timestamp": None,
                "revert_to": d.revert_to, "resumed": False}

    def step(self, entry: dict[str, Any], step: str, detail: str = "", upload_timestamp: str | None = None) -> None:
        entry["step"] = step
        if upload_timestamp:
            entry["upload_timestamp"] = upload_timestamp
        with self._tx() as conn:
            conn.execute("UPDATE restore_journal SET step = ?, updated = ?, detail = ?, "
                         "upload_timestamp = COALESCE(?, upload_timestamp) WHERE id = ?",
                         (step, now(), detail, upload_timestamp, entry["id"]))

    def verified(self, version_id: int, action: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM restore_journal WHERE wiki = ? AND version_id = ? AND action = ? "
                         "AND step = 'verified' ORDER BY id DESC LIMIT 1", (self.wiki, version_id, action))

    def unfinished(self, title: str) -> dict[str, Any] | None:
        """An action on `title` that a killed run left half done."""
        return self._one("SELECT * FROM restore_journal WHERE wiki = ? AND title = ? "
                         "AND step NOT IN ('verified', 'failed') ORDER BY id DESC LIMIT 1", (self.wiki, title))

    def failed(self, titles: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """The failed actions on these titles, by title: the versions they may have left on the wiki
        are the bot's."""
        found: dict[str, list[dict[str, Any]]] = {}
        with self._tx() as conn:
            for chunk, marks in in_chunks(sorted(set(titles))):
                for entry in records(conn.execute(f"SELECT * FROM restore_journal WHERE wiki = ? AND title IN {marks} "
                                                  "AND step = 'failed'", (self.wiki, *chunk))):
                    found.setdefault(entry["title"], []).append(entry)
        return found

    def close(self) -> None:
        self._conn.close()


class RollbackJournal(Journal):
    """The rollback's journal (rollback_journal): an entry per title, its steps as they happen."""

    def start_run(self, reason: str | None, report_page: str | None, kind: str = "rollback") -> int:
        return super().start_run(reason, report_page, kind)

    def open_entry(self, run: int, d: RollbackDecision) -> dict[str, Any]:  # type: ignore[override]
        """The unfinished entry of this title (a killed run's: `resumed`), or a new one."""
        found = self._one("SELECT * FROM rollback_journal WHERE wiki = ? AND title = ? "
                          "AND step NOT IN ('verified', 'failed') ORDER BY id DESC LIMIT 1", (self.wiki, d.title))
        with self._tx() as conn:
            if found:
                conn.execute("UPDATE rollback_journal SET run = ? WHERE id = ?", (run, found["id"]))
                return {**found, "resumed": True}
            stamp = now()
            entry_id = conn.execute(
                "INSERT INTO rollback_journal (wiki, title, action, steps, sha1, snapshot, step, run, started, "
                "updated) VALUES (?, ?, ?, ?, ?, ?, 'started', ?, ?, ?) RETURNING id",
                (self.wiki, d.title, d.action.value, " ".join(d.steps), d.version.sha1 if d.version else None,
                 d.snapshot, run, stamp, stamp)).fetchall()[0][0]
        return {"id": entry_id, "step": "started", "started": stamp, "resumed": False}

    def step(self, entry: dict[str, Any], step: str, detail: str = "",  # type: ignore[override]
             upload_timestamp: str | None = None) -> None:
        entry["step"] = step
        with self._tx() as conn:
            conn.execute("UPDATE rollback_journal SET step = ?, updated = ?, detail = ? WHERE id = ?",
                         (step, now(), detail, entry["id"]))

    def unfinished_titles(self) -> dict[str, dict[str, Any]]:
        """Titles a killed rollback left half done, with their entries."""
        with self._tx() as conn:
            rows = records(conn.execute("SELECT * FROM rollback_journal WHERE wiki = ? "
                                        "AND step NOT IN ('verified', 'failed') ORDER BY id", (self.wiki,)))
        return {row["title"]: row for row in rows}

    def done(self, titles: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The last verified rollback of each of these titles."""
        found: dict[str, dict[str, Any]] = {}
        with self._tx() as conn:
            for chunk, marks in in_chunks(sorted(set(titles))):
                for row in records(conn.execute(f"SELECT * FROM rollback_journal WHERE wiki = ? AND title IN {marks} "
                                                "AND step = 'verified' ORDER BY id", (self.wiki, *chunk))):
                    found[row["title"]] = row
        return found
