"""Snapshots and point in time: every run is a snapshot of what it saw, and the catalog answers
what a title, a sha1 or a wiki's media looked like as of a run or a date.

The state of a version as of run N is the first row of `version_states` with until_run > N (the
state it had until a later run changed it), else its row in `versions`; a version first seen
after N did not exist yet. The schema is in mediarescue.catalog.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from mediarescue.catalog.base import checked_sha256, hash_in, in_chunks, records
from mediarescue.catalog.catalog import Catalog

STATE_FIELDS = ("title", "status", "archive_name")


class SnapshotError(Exception):
    """A point in time the catalog cannot answer: no run that early, or one `forget` dropped."""


def log_position(catalog: Catalog, wiki: str) -> str | None:
    """Where the last finished run of `wiki` read its log up to (collector.incremental's JSON)."""
    row = catalog.conn.execute(
        "SELECT s.log_position FROM snapshots AS s JOIN runs AS r ON r.id = s.run WHERE r.wiki = ? "
        "AND r.status = 'done' AND s.log_position IS NOT NULL ORDER BY r.id DESC LIMIT 1", (wiki,)).fetchone()
    return row[0] if row else None


def save_log_position(catalog: Catalog, run: int, position: str) -> None:
    with catalog.conn:
        catalog.conn.execute("UPDATE snapshots SET log_position = ? WHERE run = ?", (position, run))


def snapshot(catalog: Catalog, run: int) -> dict[str, Any]:
    row = catalog.conn.execute("SELECT new_versions, changed_versions FROM snapshots WHERE run = ?",
                               (run,)).fetchone()
    return {"new_versions": row[0], "changed_versions": row[1]} if row else {}


def collisions_among(catalog: Catalog, sha1s: Iterable[str]) -> list[dict[str, Any]]:
    """sha1 collisions involving these sha1s only (the sha1_collisions view scans the catalog)."""
    found: list[dict[str, Any]] = []
    for chunk, marks in in_chunks([hash_in(sha1) for sha1 in sorted(set(sha1s))]):
        found += records(catalog.conn.execute(
            f"SELECT sha1, COUNT(DISTINCT sha256) AS contents, {catalog.engine.group_concat('id')} AS version_ids "
            "FROM versions "
            f"WHERE sha1 IN {marks} AND sha256 IS NOT NULL GROUP BY sha1 HAVING COUNT(DISTINCT sha256) > 1", chunk))
    return found


def list_snapshots(catalog: Catalog, wiki: str | None = None, include_forgotten: bool = False
                   ) -> list[dict[str, Any]]:
    """Every run, oldest first, with what it saw and changed; forgotten ones only when asked."""
    clauses, params = [], []
    if wiki is not None:
        clauses.append("r.wiki = ?")
        params.append(wiki)
    if not include_forgotten:
        clauses.append("s.forgotten IS NULL")
    cursor = catalog.conn.execute(
        "SELECT r.id AS run, r.wiki, r.kind, r.started, r.ended, r.status, r.versions_seen, "
        "COALESCE(s.new_versions, 0) AS new_versions, COALESCE(s.changed_versions, 0) AS changed_versions, "
        "r.new_blobs, r.bytes, r.errors, s.forgotten FROM runs AS r LEFT JOIN snapshots AS s ON s.run = r.id "
        f"WHERE {' AND '.join(clauses) or 'TRUE'} ORDER BY r.id", params)
    return records(cursor)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_as_of(text: str) -> int | str:
    """A run id (digits), or a date or time as an ISO 8601 UTC timestamp. A bare date means the
    end of that day: the state the wiki's media were in on it."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    if _DATE.match(text):
        text += "T23:59:59Z"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SnapshotError(f"--as-of takes a run id, a date (2026-01-31) or a time (2026-01-31T12:00:00Z), "
                            f"not {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _snapshot_run(as_of: int | str, wiki_sql: str, done_only: bool = False) -> tuple[str, list[Any]]:
    """The query of the run whose snapshot answers `as_of` for the wiki `wiki_sql` names (a
    parameter, or a column of an outer query): for a run id, the wiki's last run up to it; for a
    time, the wiki's last retained run that had ended by then (that had finished well: `done_only`)."""
    if isinstance(as_of, int):
        return f"SELECT r.id FROM runs AS r WHERE r.wiki = {wiki_sql} AND r.id <= ? ORDER BY r.id DESC LIMIT 1", [as_of]
    done = "AND r.status = 'done' " if done_only else ""
    return (f"SELECT r.id FROM runs AS r LEFT JOIN snapshots AS s ON s.run = r.id WHERE r.wiki = {wiki_sql} {done}"
            "AND r.ended IS NOT NULL AND r.ended <= ? AND s.forgotten IS NULL ORDER BY r.id DESC LIMIT 1", [as_of])


def _answering(wiki: str, as_of: int | str, run: int | None, forgotten: str | None) -> int:
    """The run _snapshot_run found, or why no snapshot answers `as_of`."""
    if run is None:
        raise SnapshotError(f"{wiki} has no run up to run {as_of}" if isinstance(as_of, int) else
                            f"{wiki} has no kept snapshot that had ended by {as_of}")
    if forgotten:
        raise SnapshotError(f"run {run} of {wiki} was forgotten on {forgotten}: its point in time is no longer "
                            "kept (mediarescue snapshots lists those that are)")
    return run


def snapshot_of(catalog: Catalog, wiki: str, as_of: int | str) -> int:
    """The run of `wiki` whose snapshot answers `as_of` (_snapshot_run), if it is still kept."""
    sql, params = _snapshot_run(as_of, "?")
    row = catalog.conn.execute(f"SELECT q.id, s.forgotten FROM ({sql}) AS q LEFT JOIN snapshots AS s ON s.run = q.id",
                               [wiki, *params]).fetchone()
    return _answering(wiki, as_of, *(row or (None, None)))


def snapshot_before(catalog: Catalog, wiki: str, moment: str) -> int:
    """The last finished (done) and kept run of `wiki` that had ended by `moment` (ISO 8601 UTC):
    the state before an incident that began then."""
    sql, params = _snapshot_run(moment, "?", done_only=True)
    row = catalog.conn.execute(sql, [wiki, *params]).fetchone()
    if row is None:
        raise SnapshotError(f"{wiki} has no finished backup run that had ended by {moment}: there is no state "
                            "before the incident to go back to (--as-of names another)")
    return row[0]


def find_as_of(catalog: Catalog, as_of: int | str, *, title: str | None = None, sha1: str | None = None,
               sha256: str | None = None, wiki: str | None = None) -> list[dict[str, Any]]:
    """Every version matching as the catalog saw it as of `as_of` (see snapshot_of), newest upload
    first; each row carries `as_of_run`. Versions vanished by then are left out."""
    rows = []
    for version, states in _candidates(catalog, as_of, title=title, sha1=sha1, sha256=sha256, wiki=wiki):
        run = _answering(version["wiki"], as_of, version.pop("snapshot_run"), version.pop("snapshot_forgotten"))
        if version["first_run"] > run:
            continue  # not seen yet
        earlier = next((state for until_run, *state in states if until_run > run), None)
        if earlier:
            version = {**version, **dict(zip(STATE_FIELDS, earlier))}
            version["private"] = int(version["private"] or version["status"] == "deleted")
        if version["status"] == "vanished" or (title is not None and version["title"] != title):
            continue
        rows.append({**version, "as_of_run": run})
    rows.sort(key=lambda r: (r["timestamp"], r["id"]), reverse=True)
    return rows


def _candidates(catalog: Catalog, as_of: int | str, *, title: str | None, sha1: str | None, sha256: str | None,
                wiki: str | None) -> list[tuple[dict[str, Any], list[tuple]]]:
    """Versions that match now or, by title, had that title in an earlier state, each with the run
    of its wiki that answers `as_of` (snapshot_run, snapshot_forgotten) and its earlier states
    (until_run, title, status, archive_name) in order: one query, for a lookup costs a round trip a
    query on PostgreSQL."""
    sql, params = catalog.matching(title=title, sha1=sha1, sha256=sha256, wiki=wiki)
    if title is not None:
        sql += (" UNION SELECT * FROM versions WHERE id IN (SELECT version_id FROM version_states WHERE title = ?)"
                + (" AND wiki = ?" if wiki else ""))
        params += [title, *([wiki] if wiki else [])]
    run_sql, run_params = _snapshot_run(as_of, "c.wiki")
    cursor = catalog.conn.execute(
        "SELECT f.*, k.forgotten AS snapshot_forgotten, s.until_run AS state_until_run, s.title AS state_title, "
        "s.status AS state_status, s.archive_name AS state_archive_name "
        f"FROM (SELECT c.*, ({run_sql}) AS snapshot_run FROM ({sql}) AS c) AS f "
        "LEFT JOIN snapshots AS k ON k.run = f.snapshot_run "
        "LEFT JOIN version_states AS s ON s.version_id = f.id ORDER BY f.id, s.until_run", run_params + params)
    found: dict[int, tuple[dict[str, Any], list[tuple]]] = {}
    for row in records(cursor):
        state = tuple(row.pop(f"state_{name}") for name in ("until_run", *STATE_FIELDS))
        version, states = found.setdefault(row["id"], (row, []))
        if state[0] is not None:
            states.append(state)
    for version, _ in found.values():  # restore uploads the blob a row names
        checked_sha256(version["sha256"], f"versions row {version['id']}")
    return list(found.values())
