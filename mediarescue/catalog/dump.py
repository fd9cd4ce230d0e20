"""The catalog's logical form: its rows as compressed JSON lines, the same for every engine, so that a
catalog can be rebuilt from the backup store alone (collector/metadata.py writes it there) or moved
between machines and engines (`catalog export` / `catalog import`). Never a copy of SQLite's file.

A dump is gzip of UTF-8 lines:

    {"format": "mediarescue-catalog", "version": 1, "kind": "full"|"delta", "run": R, "sequences": {...}, ...}
    {"deleted": "version_states", "keys": [[version_id, until_run], ...]}   (deltas only; before the table's rows)
    {"table": "versions", "columns": ["id", "wiki", ...]}   then lines of rows: [[...], [...], ...]
    {"end": {"rows": N}}                                     a dump without it is cut short: refused

Every table keeps a key: its INTEGER PRIMARY KEY, else a `rowid` column (SQLite's row id; a
PostgreSQL catalog carries it as a plain key column), and version_states its primary key
(version_id, until_run). A full dump is every row of every table; a delta is the current row (or a
deletion) of every key changed since the last dump, which the catalog's triggers note in
`metadata_changes` (schema.py), a key a row, except a batch of new versions, which its writer notes
as one row, the range of its ids (note_range): a delta holds the current row of every key in the
range, and takes deletions from keys noted alone. Applying a delta is an upsert per key, so
applying one twice changes nothing (and a range noting more keys than changed costs bytes only).
Bookkeeping tables (metadata_changes, metadata_objects, catalog_identity) are not dumped.
"""
from __future__ import annotations

import contextlib
import gzip
import json
import queue
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from mediarescue.catalog.base import CatalogError, hash_in, hash_out, now, time_in, time_out
from mediarescue.catalog.engine import Dialect, quoted
from mediarescue.catalog.schema import DUMP_KEYS, DUMPED_TABLES

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
    changes_upto: int = 0  # the last metadata_changes row it covers
    # the rows it covers, as runs of seqs (first, last): cleared once the dump is safe, and only those
    changes_seen: list[tuple[int, int]] = field(default_factory=list)
    header: dict[str, Any] = field(default_factory=dict)


def table_columns(conn: Any, engine: Dialect, table: str) -> tuple[list[str], tuple[str, ...]]:
    """The columns a dump holds for `table` (with `rowid` first where the table has no INTEGER
    PRIMARY KEY of its own), and its key."""
    return engine.columns(conn, table), DUMP_KEYS[table]


# Columns the catalog keeps compact (schema.py), dumped as hex and ISO 8601: the form does not
# depend on how a catalog keeps them, and a dump of an older catalog loads into a newer one.
_COMPACT = {"versions": {"sha1": "hash", "sha256": "hash", "timestamp": "time"},
            "blobs": {"sha256": "hash", "sha1": "hash"}}
_CONVERT = {("out", "hash"): hash_out, ("out", "time"): time_out,
            ("in", "hash"): hash_in, ("in", "time"): lambda v: time_in(v) if isinstance(v, str) else v}


def _converter(table: str, columns: list[str], way: str) -> Callable[[Any], list[Any]] | None:
    """Rows of `table` with its compact columns made readable ("out") or compact again ("in")."""
    kinds = _COMPACT.get(table, {})
    positions = [(i, _CONVERT[way, kinds[c]]) for i, c in enumerate(columns) if c in kinds]
    if not positions:
        return None

    def convert(row: Any) -> list[Any]:
        row = list(row)
        for i, function in positions:
            row[i] = function(row[i])
        return row
    return convert


def _select(columns: list[str], prefix: str = "") -> str:
    return ", ".join(prefix + quoted(c) for c in columns)


def _lines_full(conn: Any, engine: Dialect, info: DumpInfo) -> Iterator[str]:
    for table in DUMPED_TABLES:
        columns, key = table_columns(conn, engine, table)
        yield json.dumps({"table": table, "columns": columns})
        cursor = engine.stream(conn, f"SELECT {_select(columns)} FROM {table} ORDER BY {', '.join(key)}")
        out = _converter(table, columns, "out")
        rows: list[Any] = []
        for row in cursor:
            rows.append(out(row) if out else row)
            if len(rows) == ROWS_PER_LINE:
                info.rows += len(rows)
                yield json.dumps(rows, ensure_ascii=False)
                rows = []
        if rows:
            info.rows += len(rows)
            yield json.dumps(rows, ensure_ascii=False)


def _noted(engine: Dialect, table: str, key: tuple[str, ...]) -> tuple[str, str, str]:
    """The keys of `table` noted up to a seq, as (k1, k2): every key noted alone, and the keys of
    ranges that have a row, each once (parameters: table and seq, once a SELECT); how a row matches
    them; and the keys noted alone, which alone may say a row went."""
    alone = "SELECT DISTINCT k1, k2 FROM metadata_changes WHERE tbl = ? AND seq <= ?"
    if len(key) > 1:  # version_states: k2 is part of the key, never a range
        return alone, " AND ".join(f"t.{k} = c.k{n}" for n, k in enumerate(key, 1)), alone
    alone += " AND k2 = 0"
    # ordered_join: each range probes t's key; SQLite's planner would scan all of t instead
    ranges = (f"SELECT t.{key[0]}, 0 FROM metadata_changes AS c {engine.ordered_join} {table} AS t "
              f"ON t.{key[0]} BETWEEN c.k1 AND c.k2 WHERE c.tbl = ? AND c.seq <= ? AND c.k2 > 0")
    return f"SELECT k1, 0 AS k2 FROM ({alone}) AS a UNION {ranges}", f"t.{key[0]} = c.k1", alone


def _lines_delta(conn: Any, engine: Dialect, info: DumpInfo) -> Iterator[str]:
    upto = info.changes_upto
    for table in DUMPED_TABLES:
        columns, key = table_columns(conn, engine, table)
        select = _select(columns, "t.")
        changed, match, alone = _noted(engine, table, key)
        rows = conn.execute(f"SELECT {select} FROM ({changed}) AS c JOIN {table} AS t ON {match} "
                            "ORDER BY c.k1, c.k2", (table, upto) * changed.count("FROM metadata_changes"))
        gone = conn.execute(f"SELECT k1, k2 FROM ({alone}) AS c WHERE NOT EXISTS (SELECT 1 FROM {table} AS t "
                            f"WHERE {match}) ORDER BY k1, k2", (table, upto))
        # Deletions first: a row that went and came back under a new key (a blob pruned and stored
        # again) would otherwise meet its old self in another unique column (blobs.sha256).
        while keys := gone.fetchmany(ROWS_PER_LINE * 10):
            info.rows += len(keys)
            yield json.dumps({"deleted": table, "keys": [list(k) if len(key) > 1 else k[0] for k in keys]})
        out = _converter(table, columns, "out")
        first = rows.fetchmany(ROWS_PER_LINE)
        if first:
            yield json.dumps({"table": table, "columns": columns})
        page = first
        while page:
            info.rows += len(page)
            yield json.dumps([out(row) for row in page] if out else page, ensure_ascii=False)
            page = rows.fetchmany(ROWS_PER_LINE)


def dump(engine: Dialect, kind: str, extra: dict[str, Any] | None = None) -> tuple[DumpInfo, Iterator[bytes]]:
    """A full dump or a delta of the catalog `engine` opens, as gzip chunks of about a MiB, read in one
    transaction of a connection of its own (a consistent snapshot, whatever writes beside it) by a
    thread of its own, so that reading and compressing overlap with what the caller does with the
    chunks (hashing, sealing, writing). `info` is complete once the chunks are used up. The caller
    must exhaust or close the iterator."""
    if kind not in ("full", "delta"):
        raise ValueError(kind)
    info = DumpInfo(kind, None)

    def chunks() -> Iterator[bytes]:
        with contextlib.closing(engine.connect()) as conn:
            engine.snapshot(conn)  # a read transaction: a snapshot of the catalog (SQLite's WAL, or REPEATABLE READ)
            try:
                yield from _compressed(conn, engine, info, extra)
            finally:
                conn.execute("COMMIT")
    return info, prefetched(chunks(), depth=4)


def _compressed(conn: Any, engine: Dialect, info: DumpInfo, extra: dict[str, Any] | None) -> Iterator[bytes]:
    info.changes_upto = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM metadata_changes").fetchone()[0]
    info.changes_seen = _runs_of_seqs(conn, info.changes_upto)
    info.run = conn.execute("SELECT MAX(id) FROM runs").fetchone()[0]
    sequences = engine.sequences(conn)
    info.header = {"format": FORMAT, "version": VERSION, "kind": info.kind, "run": info.run, "created": now(),
                   "sequences": sequences, **(extra or {})}
    lines = _lines_full(conn, engine, info) if info.kind == "full" else _lines_delta(conn, engine, info)
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


def pending_changes(conn: Any) -> int:
    """How many changes wait for the next dump (keys noted, repeats included: a range by its length)."""
    pairs = ", ".join(f"'{t}'" for t, key in DUMP_KEYS.items() if len(key) > 1)  # k2: a key's second column
    return int(conn.execute(f"SELECT COALESCE(SUM(CASE WHEN k2 > 0 AND tbl NOT IN ({pairs}) THEN k2 - k1 + 1 "
                            "ELSE 1 END), 0) FROM metadata_changes").fetchone()[0])  # PostgreSQL's SUM: a numeric


def note_range(conn: Any, table: str, first: int, last: int) -> None:
    """New rows of `table` (schema.NOTED_BY_WRITER) with keys first..last, noted as one change for
    the next dump, inside the caller's transaction: keys in the range without a row are no harm."""
    conn.execute("INSERT INTO metadata_changes (tbl, k1, k2) VALUES (?, ?, ?)", (table, first, last))


def _runs_of_seqs(conn: Any, upto: int) -> list[tuple[int, int]]:
    """The seqs up to `upto` that the dump's snapshot sees, as runs (first, last). On PostgreSQL a
    transaction that took a lower seq may commit after the snapshot was taken: its note is not in
    this dump, so clearing "everything up to the highest seq seen" would lose it. Gaps are few
    (such transactions, and rollbacks), so the runs are few."""
    return [tuple(run) for run in conn.execute(
        "SELECT MIN(seq), MAX(seq) FROM (SELECT seq, seq - ROW_NUMBER() OVER (ORDER BY seq) AS island "
        "FROM metadata_changes WHERE seq <= ?) AS s GROUP BY island ORDER BY 1", (upto,))]


def clear_changes(conn: Any, seen: list[tuple[int, int]]) -> None:
    """The changes a dump safely kept in the store (DumpInfo.changes_seen) are no longer pending;
    later ones, and any its snapshot did not see, stay."""
    with conn:
        conn.executemany("DELETE FROM metadata_changes WHERE seq BETWEEN ? AND ?", seen)


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


def apply(conn: Any, engine: Dialect, lines: Iterable[dict[str, Any] | list[Any]]) -> DumpInfo:
    """Apply one dump (full or delta) to the catalog on `conn`, inside the caller's transaction:
    every row is an upsert by its key, every deletion removes its key. Returns what it held."""
    info: DumpInfo | None = None
    insert, table = "", ""
    incoming: Callable[[Any], list[Any]] | None = None
    for line in lines:
        if isinstance(line, list):
            if not insert:
                raise DumpError("rows before any table line")
            conn.executemany(insert, [incoming(row) for row in line] if incoming else line)
            info.rows += len(line)  # type: ignore[union-attr]
        elif "format" in line:
            info = DumpInfo(line["kind"], line.get("run"), header=line)
            if line["kind"] == "full":
                for name in reversed(DUMPED_TABLES):  # those that refer to others first
                    conn.execute(f"DELETE FROM {name}")
        elif "table" in line:
            table = line["table"]
            if table not in DUMPED_TABLES:
                raise DumpError(f"the dump holds a table {table!r} that is no catalog table")
            columns = line["columns"]
            known, _ = table_columns(conn, engine, table)
            if not set(columns) <= set(known):
                raise DumpError(f"the dump's {table} has columns this catalog lacks: "
                                f"{', '.join(sorted(set(columns) - set(known)))}")
            incoming = _converter(table, columns, "in")
            insert = (f"INSERT INTO {table} ({_select(columns)}) VALUES ({', '.join('?' * len(columns))})"
                      if info is not None and info.kind == "full" else engine.upsert(table, columns))  # full: emptied
        elif "deleted" in line:
            _delete(conn, engine, line["deleted"], line["keys"])
            info.rows += len(line["keys"])  # type: ignore[union-attr]
        elif "end" in line:
            if info is None or line["end"].get("rows") != info.rows:
                raise DumpError("the dump's rows do not add up to what its end line says")
    if info is None:
        raise DumpError("an empty dump")
    for name, seq in info.header.get("sequences", {}).items():
        if name in DUMP_KEYS:
            engine.ids_given(conn, name, seq)
    return info


def _delete(conn: Any, engine: Dialect, table: str, keys: list[Any]) -> None:
    if table not in DUMPED_TABLES:
        raise DumpError(f"the dump deletes from {table!r}, which is no catalog table")
    key = DUMP_KEYS[table]
    match = " AND ".join(f"{k} = ?" for k in key)
    conn.executemany(f"DELETE FROM {table} WHERE {match}", [k if len(key) > 1 else (k,) for k in keys])


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


def table_rows(conn: Any, engine: Dialect, table: str) -> list[tuple]:
    """Every row of a dumped table with its key, in key order: what two catalogs are compared by."""
    columns, key = table_columns(conn, engine, table)
    return [tuple(row) for row in conn.execute(f"SELECT {_select(columns)} FROM {table} ORDER BY {', '.join(key)}")]
