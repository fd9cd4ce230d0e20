"""record_versions on PostgreSQL: a batch handed to the server whole, in one binary COPY into a
temporary table of the connection, then recorded by ONE statement whose writable CTEs all see one
snapshot: the identity probe, ids from the sequence, the insert of new versions, the refresh of
known ones that changed, the ranges of those seen again unchanged (seen.py) and the earlier states
of changed ones.

A batch that is likely all new (the last one was: a first full run, an incremental one) is first
tried straight into `versions`, in one binary COPY with ids taken beforehand: the identity index
refuses it whole if one of its versions is known, and the staged way then records it. Staging,
probing and the statement cost a new version about as much again as its insert.

Why: done statement by statement (as on SQLite), each step waits on the last, so client (~8 µs a
version of Python) and server (~9 µs) take turns on the same cores; here the client only builds one
COPY row a version and reads back what it must hand on (docs/scale.md, the write path)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

STAGED = "staged_versions"  # in pg_temp: the connection's own, emptied by every commit
# (column, type) of a staged version: its place in the batch, then what `versions` keeps of it
STAGED_COLUMNS = (("position", "integer"), ("wiki", "text"), ("title", "text"), ("timestamp", "bigint"),
                  ("sha1", "bytea"), ("title_at_upload", "text"), ("size", "bigint"), ("status", "text"),
                  ("user", "text"), ("comment", "text"), ("mime", "text"), ("media_type", "text"),
                  ("archive_name", "text"), ("filearchive_id", "bigint"), ("private", "bigint"))
_NAMES = [f'"{name}"' for name, _ in STAGED_COLUMNS]
_REFRESHED = _NAMES[6:]  # size .. private: what a run that sees a known version again sets anew
_NEW = _NAMES[1:]  # wiki .. private: a new version's columns besides its id and runs
# (column, type) of a new version as it goes straight into `versions`
NEW_COLUMNS = (("id", "bigint"), *STAGED_COLUMNS[1:], ("first_run", "bigint"), ("last_run", "bigint"))
UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE

# Every CTE reads the staged rows and `versions` as they were when the statement began: `probe`
# holds the state before this batch, which version_states keeps. One join a statement, each probing
# an index per row (a join on the batch's positions, of two row sets without an index, would not).
# `fresh` is read twice, so it is computed once (a volatile nextval: materialised), its ids taken
# in batch order (nextval is evaluated after the sort), of a sequence looked up once a statement (an
# InitPlan: pg_get_serial_sequence a row cost ~2 µs). The result: (position, id, new) of each new
# version and each known one not stored, and a last row (-1, how many earlier states were kept).
RECORD = f"""
WITH probe AS (
    SELECT s.*, v.id AS known, v.status AS was_status, v.archive_name AS was_archive_name, v.first_run,
        v.backup_status, v.id IS NOT NULL AND ({', '.join(f'v.{c}' for c in _REFRESHED)})
            IS NOT DISTINCT FROM ({', '.join(f's.{c}' for c in _REFRESHED)}) AS unchanged
    FROM {STAGED} AS s LEFT JOIN versions AS v
        ON v.wiki = s.wiki AND v.title = s.title AND v.timestamp = s.timestamp AND v.sha1 = s.sha1
), fresh AS (
    SELECT *, nextval((SELECT pg_get_serial_sequence('versions', 'id')::regclass)) AS id FROM probe WHERE known IS NULL
    ORDER BY position
), inserted AS (
    INSERT INTO versions (id, {', '.join(_NEW)}, first_run, last_run)
    SELECT id, {', '.join(_NEW)}, %(run)s, %(run)s FROM fresh
), refreshed AS (
    UPDATE versions AS v SET {', '.join(f'{c} = p.{c}' for c in _REFRESHED)}, last_run = %(run)s
    FROM probe AS p WHERE v.id = p.known AND NOT p.unchanged
), seen AS (
    INSERT INTO seen_ranges (run, first_id, last_id)
    SELECT %(run)s, MIN(known), MAX(known)
    FROM (SELECT known, known - ROW_NUMBER() OVER (ORDER BY known) AS island FROM probe WHERE unchanged) AS u
    GROUP BY island
), states AS (
    INSERT INTO version_states (version_id, until_run, title, status, archive_name)
    SELECT known, %(run)s, title, was_status, was_archive_name FROM probe
    WHERE first_run < %(run)s AND (was_status, was_archive_name) IS DISTINCT FROM (status, archive_name)
    ON CONFLICT DO NOTHING RETURNING 1
)
SELECT position, id, TRUE FROM fresh
UNION ALL SELECT position, known, FALSE FROM probe WHERE backup_status != 'ok'
UNION ALL SELECT -1, count(*), NULL FROM states"""


def prepare(conn: Any) -> None:
    """The connection's staging table, made at its first batch, outside any transaction (so that no
    rollback takes it away); ON COMMIT DELETE ROWS: each commit empties it."""
    if not getattr(conn, "staging", False):
        columns = ", ".join(f"{n} {t}" for n, (_, t) in zip(_NAMES, STAGED_COLUMNS))
        conn.raw.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGED} ({columns}) ON COMMIT DELETE ROWS")
        conn.staging = True


def stage(conn: Any, rows: Iterable[Sequence[Any]]) -> None:
    """The batch (rows of STAGED_COLUMNS) into the staging table, in one binary COPY."""
    with conn.raw.cursor().copy(f"COPY {STAGED} FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types([t for _, t in STAGED_COLUMNS])
        for row in rows:
            copy.write_row(row)


def record(conn: Any, run: int) -> tuple[list[tuple[int, int, bool]], int]:
    """Record the staged batch as seen by `run`: (position, id, new) of each version whose bytes
    are pending, in batch order, and how many earlier states were kept."""
    pending, kept = [], 0
    for position, version_id, new in conn.raw.cursor(binary=True).execute(RECORD, {"run": run}).fetchall():
        if position < 0:
            kept = version_id
        else:
            pending.append((position, version_id, new))
    pending.sort()
    return pending, kept


def take_ids(conn: Any, count: int) -> list[int]:
    """`count` consecutive ids of versions never given before, taken at once: a recorder holds the
    recorders' lock, and only recorders take versions' ids."""
    (last,) = conn.raw.execute("SELECT setval(seq, nextval(seq) + %s - 1) FROM "
                               "(SELECT pg_get_serial_sequence('versions', 'id')::regclass AS seq) AS s",
                               (count,)).fetchone()
    return list(range(last - count + 1, last + 1))


def insert_new(conn: Any, ids: list[int], rows: Iterable[Sequence[Any]]) -> bool:
    """Versions taken to be new (rows of NEW_COLUMNS, with `ids` from take_ids) straight into
    `versions`, in one binary COPY. False when one of them is catalogued already (the identity index
    refuses it): nothing is kept and the ids are given back, so that no id is used up in vain (the
    caller still holds the recorders' lock: no one took an id since)."""
    columns = ", ".join(f'"{name}"' for name, _ in NEW_COLUMNS)
    conn.raw.execute("SAVEPOINT all_new")
    try:
        with conn.raw.cursor().copy(f"COPY versions ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([t for _, t in NEW_COLUMNS])
            for row in rows:
                copy.write_row(row)
    except Exception as error:  # psycopg's, imported by the engine alone: told by its SQLSTATE
        if getattr(error, "sqlstate", None) != UNIQUE_VIOLATION:
            raise
        conn.raw.execute("ROLLBACK TO SAVEPOINT all_new")
        # as it was: the last id given, or never called (whose last value reads NULL, as a new one's)
        conn.raw.execute("SELECT setval(pg_get_serial_sequence('versions', 'id'), GREATEST(%s - 1, 1), %s > 1)",
                         (ids[0], ids[0]))
        return False
    return True
