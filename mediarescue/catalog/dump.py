"""The catalog's logical form: its rows as compressed JSON lines, the same for every engine, so that a
catalog can be rebuilt from the backup store alone (collector/metadata.py writes it there) or moved
between machines and engines (`catalog export` / `catalog import`). Never a copy of SQLite's file.

A dump is gzip of UTF-8 lines:

    {"format": "mediarescue-catalog", "version": 1, "kind": "full"|"delta", "run": R, "sequences": {...}, ...}
    {"table": "versions", "columns": ["id", "wiki", ...]}   then lines of rows: [[...], [...], ...]
    {"deleted": "version_states", "keys": [[version_id, until_run], ...]}   (deltas only)
    {"end": {"rows": N}}                                     a dump without it is cut short: refused

Every table keeps a key: its INTEGER PRIMARY KEY, else a `rowid` column (SQLite's row id; a
PostgreSQL catalog carries it as a plain key column), and version_states its primary key
(version_id, until_run). A full dump is every row of every table; a delta is the current row (or a
deletion) of every key changed since the last dump, which the catalog's triggers note in
`metadata_changes` (schema.py): applying a delta is an upsert per key, so applying one twice changes
nothing. Bookkeeping tables (metadata_changes, metadata_objects, catalog_identity) are not dumped.
"""
from __future__ import annotations

import contextlib
import gzip
import json
import queue
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mediarescue.catalog.base import CatalogError, now
from mediarescue.catalog.schema import DUMPED_TABLES, SCHEMA

FORMAT, VERSION = "mediarescue-catalog", 1
ROWS_PER_LINE = 1000
_COMPRESS_AT = 1 << 20  # bytes of lines gathered before they are compressed and handed on


class DumpError(CatalogError):
    """A dump that is not one, is cut short, or does not fit the catalog it is applied to."""


@dataclass
class DumpInfo:
    """What a dump holds, known once it is written (or read to its end)."""
    kind: str
    run: int | None
    rows: int = 0
    changes_upto: int = 0  # the last metadata_changes row it covers: cleared once the dump is safe
    header: dict[str, Any] = field(default_factory=dict)


def table_columns(conn: sqlite3.Connection, table: str) -> tuple[list[str], str | None]:
    """The columns a dump holds for `table` (with `rowid` first where the table has no INTEGER
    PRIMARY KEY of its own), and the rowid's name in them, or None for a WITHOUT ROWID table."""
    info = conn.execute(f"PRAGMA table_info({table})").fetchall()
    names = [row[1] for row in info]
    keys = [row for row in info if row[5]]
    if len(keys) == 1 and keys[0][2].upper() == "INTEGER":
        return names, keys[0][1]
    without_rowid = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    if "WITHOUT ROWID" in without_rowid.upper():
        return names, None
    return ["rowid", *names], "rowid"


def _primary_key(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in sorted(conn.execute(f"PRAGMA table_info({table})"), key=lambda r: r[5]) if row[5]]


def _lines_full(conn: sqlite3.Connection, info: DumpInfo) -> Iterator[str]:
    for table in DUMPED_TABLES:
        columns, rowid = table_columns(conn, table)
        yield json.dumps({"table": table, "columns": columns})
        order = rowid or ", ".join(_primary_key(conn, table))
        select = ", ".join(c if c != "rowid" else "rowid" for c in columns)
        cursor = conn.execute(f"SELECT {select} FROM {table} ORDER BY {order}")
        while rows := cursor.fetchmany(ROWS_PER_LINE):
            info.rows += len(rows)
            yield json.dumps(rows, ensure_ascii=False)


def _lines_delta(conn: sqlite3.Connection, info: DumpInfo) -> Iterator[str]:
    upto = info.changes_upto
    for table in DUMPED_TABLES:
        columns, rowid = table_columns(conn, table)
        select = ", ".join(f"t.{c}" for c in columns)
        if rowid:
            changed = "SELECT DISTINCT k1 AS k FROM metadata_changes WHERE tbl = ? AND seq <= ?"
            rows = conn.execute(f"SELECT {select} FROM ({changed}) AS c JOIN {table} AS t ON t.{rowid} = c.k "
                                f"ORDER BY c.k", (table, upto))
            gone = conn.execute(f"SELECT k FROM ({changed}) AS c WHERE NOT EXISTS (SELECT 1 FROM {table} AS t "
                                f"WHERE t.{rowid} = c.k) ORDER BY k", (table, upto))
        else:
            key = _primary_key(conn, table)
            changed = "SELECT DISTINCT k1, k2 FROM metadata_changes WHERE tbl = ? AND seq <= ?"
            match = f"t.{key[0]} = c.k1 AND t.{key[1]} = c.k2"
            rows = conn.execute(f"SELECT {select} FROM ({changed}) AS c JOIN {table} AS t ON {match} "
                                "ORDER BY c.k1, c.k2", (table, upto))
            gone = conn.execute(f"SELECT k1, k2 FROM ({changed}) AS c WHERE NOT EXISTS (SELECT 1 FROM {table} AS t "
                                f"WHERE {match}) ORDER BY k1, k2", (table, upto))
        first = rows.fetchmany(ROWS_PER_LINE)
        if first:
            yield json.dumps({"table": table, "columns": columns})
        page = first
        while page:
            info.rows += len(page)
            yield json.dumps(page, ensure_ascii=False)
            page = rows.fetchmany(ROWS_PER_LINE)
        while keys := gone.fetchmany(ROWS_PER_LINE * 10):
            info.rows += len(keys)
            yield json.dumps({"deleted": table, "keys": [list(k) if len(k) > 1 else k[0] for k in keys]})


def dump(path: Path, kind: str, extra: dict[str, Any] | None = None) -> tuple[DumpInfo, Iterator[bytes]]:
    """A full dump or a delta of the catalog at `path`, as gzip chunks of about a MiB, read in one
    transaction of a connection of its own (a consistent snapshot, whatever writes beside it) by a
    thread of its own, so that reading and compressing overlap with what the caller does with the
    chunks (hashing, sealing, writing). `info` is complete once the chunks are used up. The caller
    must exhaust or close the iterator."""
    if kind not in ("full", "delta"):
        raise ValueError(kind)
    info = DumpInfo(kind, None)

    def chunks() -> Iterator[bytes]:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("BEGIN")  # a read transaction: under WAL, a snapshot of the catalog
            try:
                yield from _compressed(conn, info, extra)
            finally:
                conn.execute("COMMIT")
    return info, prefetched(chunks(), depth=4)


def _compressed(conn: sqlite3.Connection, info: DumpInfo, extra: dict[str, Any] | None) -> Iterator[bytes]:
    info.changes_upto = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM metadata_changes").fetchone()[0]
    info.run = conn.execute("SELECT MAX(id) FROM runs").fetchone()[0]
    sequences = dict(conn.execute("SELECT name, seq FROM sqlite_sequence"))
    info.header = {"format": FORMAT, "version": VERSION, "kind": info.kind, "run": info.run, "created": now(),
                   "sequences": sequences, **(extra or {})}
    lines = _lines_full(conn, info) if info.kind == "full" else _lines_delta(conn, info)
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip framing: `zcat` reads a plaintext dump
    pending: list[bytes] = [json.dumps(info.header).encode() + b"\n"]
    size = 0
    for line in lines:
        data = line.encode() + b"\n"
        pending.append(data)
        size += len(data)
        if size >= _COMPRESS_AT:
            yield compressor.compress(b"".join(pending))
            pending, size = [], 0
    pending.append(json.dumps({"end": {"rows": info.rows}}).encode() + b"\n")
    yield compressor.compress(b"".join(pending)) + compressor.flush()


def pending_changes(conn: sqlite3.Connection) -> int:
    """How many changes wait for the next dump (rows of metadata_changes, repeats included)."""
    return conn.execute("SELECT COUNT(*) FROM metadata_changes").fetchone()[0]


def clear_changes(conn: sqlite3.Connection, upto: int) -> None:
    """The changes a dump safely kept in the store are no longer pending; later ones stay."""
    with conn:
        conn.execute("DELETE FROM metadata_changes WHERE seq <= ?", (upto,))


# --- reading ---

def read_lines(stream: IO[bytes]) -> Iterator[dict[str, Any] | list[Any]]:
    """The decoded lines of a gzip dump; DumpError when it is not one or is cut short."""
    try:
        with gzip.GzipFile(fileobj=stream, mode="rb") as text:
            ended = False
            for number, raw in enumerate(text, 1):
                if ended:
                    raise DumpError("a dump goes on after its end line")
                try:
                    line = json.loads(raw)
                except ValueError:
                    raise DumpError(f"line {number} of the dump is not JSON") from None
                if number == 1 and (not isinstance(line, dict) or line.get("format") != FORMAT):
                    raise DumpError("it is not a mediarescue catalog dump")
                if number == 1 and line.get("version") != VERSION:
                    raise DumpError(f"dump version {line.get('version')} is not one this mediarescue reads")
                ended = isinstance(line, dict) and "end" in line
                yield line
            if not ended:
                raise DumpError("the dump is cut short (no end line)")
    except (OSError, EOFError, zlib.error) as error:
        raise DumpError(f"the dump is not whole gzip data ({error})") from None


def schema_statements() -> tuple[list[str], list[str]]:
    """SCHEMA split in two: the tables, then what is faster made after a bulk load (indexes, views,
    triggers)."""
    tables, rest, statement = [], [], ""
    for line in SCHEMA.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            code = "\n".join(line for line in statement.splitlines() if not line.lstrip().startswith("--"))
            (tables if code.lstrip().upper().startswith("CREATE TABLE") else rest).append(statement.strip())
            statement = ""
    return tables, rest


def apply(conn: sqlite3.Connection, lines: Iterable[dict[str, Any] | list[Any]]) -> DumpInfo:
    """Apply one dump (full or delta) to the catalog on `conn`, inside the caller's transaction:
    every row is an upsert by its key, every deletion removes its key. Returns what it held."""
    info: DumpInfo | None = None
    insert, table = "", ""
    for line in lines:
        if isinstance(line, list):
            if not insert:
                raise DumpError("rows before any table line")
            conn.executemany(insert, line)
            info.rows += len(line)  # type: ignore[union-attr]
        elif "format" in line:
            info = DumpInfo(line["kind"], line.get("run"), header=line)
            if line["kind"] == "full":
                for name in DUMPED_TABLES:
                    conn.execute(f"DELETE FROM {name}")
        elif "table" in line:
            table = line["table"]
            if table not in DUMPED_TABLES:
                raise DumpError(f"the dump holds a table {table!r} that is no catalog table")
            columns = line["columns"]
            known, _ = table_columns(conn, table)
            if not set(columns) <= set(known):
                raise DumpError(f"the dump's {table} has columns this catalog lacks: "
                                f"{', '.join(sorted(set(columns) - set(known)))}")
            verb = "INSERT" if info is not None and info.kind == "full" else "INSERT OR REPLACE"  # full: tables emptied
            insert = f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        elif "deleted" in line:
            _delete(conn, line["deleted"], line["keys"])
            info.rows += len(line["keys"])  # type: ignore[union-attr]
        elif "end" in line:
            if info is None or line["end"].get("rows") != info.rows:
                raise DumpError("the dump's rows do not add up to what its end line says")
    if info is None:
        raise DumpError("an empty dump")
    for name, seq in info.header.get("sequences", {}).items():
        if not conn.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?", (seq, name)).rowcount:
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (name, seq))
    return info


def _delete(conn: sqlite3.Connection, table: str, keys: list[Any]) -> None:
    if table not in DUMPED_TABLES:
        raise DumpError(f"the dump deletes from {table!r}, which is no catalog table")
    _, rowid = table_columns(conn, table)
    if rowid:
        conn.executemany(f"DELETE FROM {table} WHERE {rowid} = ?", [(k,) for k in keys])
    else:
        key = _primary_key(conn, table)
        conn.executemany(f"DELETE FROM {table} WHERE {key[0]} = ? AND {key[1]} = ?", keys)


def prefetched(items: Iterator[Any], depth: int = 16) -> Iterator[Any]:
    """`items`, produced by a thread of its own `depth` ahead: reading, decrypting, decompressing and
    decoding a dump overlap with SQLite writing the rows (both let go of the GIL for their C work).
    An exception of the producer is raised here, where its item would have been."""
    handoff: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    done = object()

    def offer(entry: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():  # never blocked for good once the consumer has gone
            try:
                handoff.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((item, None)):
                    return
            offer((done, None))
        except BaseException as error:  # handed over, raised in the consumer
            offer((done, error))
        finally:
            close = getattr(items, "close", None)
            if close:  # a generator's own cleanup (its transaction) runs here, in its thread
                close()

    worker = threading.Thread(target=produce, name="dump-reader", daemon=True)
    worker.start()
    try:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        worker.join()


def table_rows(conn: sqlite3.Connection, table: str) -> list[tuple]:
    """Every row of a dumped table with its key, in key order: what two catalogs are compared by."""
    columns, rowid = table_columns(conn, table)
    order = rowid or ", ".join(_primary_key(conn, table))
    return conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}").fetchall()
