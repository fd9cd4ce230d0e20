"""The two engines a catalog runs on, and the little that differs between them: SQLite (the embedded
default, a file) and PostgreSQL (through psycopg 3, shared by collectors on many hosts).

Every query of the catalog is written once, in the SQL both engines take (`?` placeholders,
`INSERT ... ON CONFLICT`, `RETURNING`, row values, window functions); a Dialect says the rest:
how to connect and set a connection up (PRAGMAs or session settings), the schema's DDL (identity
columns, types, triggers in PL/pgSQL), the id counters (sqlite_sequence or sequences), an upsert
by key, a few functions (GROUP_CONCAT, scalar MAX), index hints (SQLite's planner only), locks
(a lock file or advisory locks), and the integrity check (quick_check or a schema check).

On SQLite the connection is sqlite3's own (the hot paths pay nothing for the abstraction); on
PostgreSQL a thin wrapper gives psycopg's connection the same small interface: execute and
executemany with `?`, and `with conn:` as one transaction (nested ones join the outer one)."""
from __future__ import annotations

import contextlib
import fcntl
import functools
import itertools
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediarescue.catalog.base import CatalogBusy, CatalogError
from mediarescue.catalog.schema import BOOKKEEPING_TABLES, DUMP_KEYS, DUMPED_TABLES, SCHEMA, tracking
from mediarescue.files import tighten

PASSWORD_ENV = "MEDIARESCUE_CATALOG_PASSWORD"


@dataclass(frozen=True)
class PostgresURL:
    """A PostgreSQL catalog: `postgresql://user@host:port/db` (no password in it) and the password,
    read from `catalog_password_file` or $MEDIARESCUE_CATALOG_PASSWORD, never shown."""
    url: str
    password: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return self.url


Target = Path | PostgresURL


def is_url(text: str) -> bool:
    return text.startswith(("postgresql://", "postgres://"))


def target_of(text: str | Path, password: str | None = None) -> Target:
    """A catalog named on a command line or in a config: a URL, else a path."""
    if isinstance(text, str) and is_url(text):
        return PostgresURL(text, password if password is not None else os.environ.get(PASSWORD_ENV))
    return Path(text)


def split_statements(script: str) -> list[str]:
    """SQLite's script as its statements (comments kept), in order."""
    statements, statement = [], ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            statements.append(statement.strip())
            statement = ""
    return statements


def _is_table(statement: str) -> bool:
    code = "\n".join(line for line in statement.splitlines() if not line.lstrip().startswith("--"))
    return code.lstrip().upper().startswith("CREATE TABLE")


class SQLite:
    name = "sqlite"
    shared = False  # one host, one process: `backup --join` is refused
    ordered_join = "CROSS JOIN"  # SQLite's way to keep the join order written (an inner join all the same)
    skip_locked = ""  # one writer at a time: nothing to skip
    byte_order = ""  # TEXT compares byte by byte (BINARY), as MediaWiki's names do
    clock = "((julianday('now') - 2440587.5) * 86400.0)"  # Unix time, as the catalog's own clock

    def __init__(self, path: Path):
        self.path = path
        self._locks: dict[str, Any] = {}

    def connect(self, **options: Any) -> sqlite3.Connection:
        return sqlite3.connect(self.path, **options)

    def schema(self) -> tuple[list[str], list[str]]:
        """The DDL: tables, then what is faster made after a bulk load (indexes, views, triggers)."""
        statements = split_statements(SCHEMA) + split_statements(tracking("sqlite"))
        return [s for s in statements if _is_table(s)], [s for s in statements if not _is_table(s)]

    def create_schema(self, conn: sqlite3.Connection) -> None:
        conn.executescript(SCHEMA + tracking("sqlite"))

    def tables(self, conn: sqlite3.Connection) -> set[str]:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def columns(self, conn: sqlite3.Connection, table: str) -> list[str]:
        names = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        return ["rowid", *names] if DUMP_KEYS.get(table) == ("rowid",) else names

    def group_concat(self, expression: str) -> str:
        return f"GROUP_CONCAT(DISTINCT {expression})"

    def greatest(self, *expressions: str) -> str:
        return f"MAX({', '.join(expressions)})"

    def hint(self, index: str | None) -> str:
        """SQLite's planner needs telling, now and then, which index (or none) to use."""
        return "NOT INDEXED" if index is None else f"INDEXED BY {index}"

    def relaxed(self, conn: sqlite3.Connection) -> None:
        """The transaction may be lost to a crash, never half kept: WAL with synchronous = NORMAL already."""

    def insert_rows(self, conn: sqlite3.Connection, table: str, columns: Sequence[str],
                    rows: Sequence[Sequence[Any]]) -> None:
        """New rows in bulk: executemany, SQLite's fastest way in."""
        conn.executemany(f"INSERT INTO {table} ({', '.join(map(quoted, columns))}) "
                         f"VALUES ({', '.join('?' * len(columns))})", rows)

    def upsert(self, table: str, columns: Sequence[str]) -> str:
        return (f"INSERT OR REPLACE INTO {table} ({', '.join(map(quoted, columns))}) "
                f"VALUES ({', '.join('?' * len(columns))})")

    def last_id(self, conn: sqlite3.Connection, table: str) -> int:
        """The highest id ever given in `table` (AUTOINCREMENT's counter, or its rows)."""
        return conn.execute(f"SELECT MAX(COALESCE((SELECT MAX(seq) FROM sqlite_sequence WHERE name = ?), 0), "
                            f"COALESCE((SELECT MAX(id) FROM {table}), 0))", (table,)).fetchone()[0]

    def ids_given(self, conn: sqlite3.Connection, table: str, last: int) -> None:
        if not conn.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?", (last, table)).rowcount:
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, last))

    def take_ids(self, conn: sqlite3.Connection, table: str, count: int) -> list[int]:
        """`count` ids never given before, inside the writer's transaction (one writer at a time)."""
        if not count:
            return []
        first = self.last_id(conn, table) + 1
        self.ids_given(conn, table, first + count - 1)
        return list(range(first, first + count))

    def update_rows(self, conn: sqlite3.Connection, table: str, columns: Sequence[str],
                    rows: Sequence[Sequence[Any]], also: str = "") -> None:
        """Rows of (*columns, id) set by id (`also`: more assignments, the same for every row):
        executemany, SQLite's fastest way (no statement to parse again, no trigger a statement)."""
        conn.executemany(f"UPDATE {table} SET {', '.join(f'{quoted(c)} = ?' for c in columns)}{also} "
                         "WHERE id = ?", rows)

    def rows_in(self, types: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
        """A batch of rows as a table to join, `AS i` with columns column1, column2...: VALUES."""
        marks = f"({', '.join('?' * len(types))})"
        return f"(VALUES {', '.join([marks] * len(rows))}) AS i", [part for row in rows for part in row]

    def probing(self, conn: sqlite3.Connection) -> None:
        """A batch is joined to a big table by probing its index per row: CROSS JOIN says so."""

    def pipeline(self, conn: sqlite3.Connection) -> contextlib.AbstractContextManager:
        """Statements whose results are read only afterwards (PostgreSQL sends them at once)."""
        return contextlib.nullcontext()

    def sequences(self, conn: sqlite3.Connection) -> dict[str, int]:
        return dict(conn.execute("SELECT name, seq FROM sqlite_sequence"))

    def snapshot(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN")  # a read transaction: under WAL, a snapshot of the catalog

    def stream(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple]:
        return conn.execute(sql, params)

    def try_lock(self, conn: sqlite3.Connection, kind: str) -> None:
        """One holder of `kind` (backup, check) at a time: a lock file beside the catalog."""
        path = Path(f"{self.path}{'.lock' if kind == 'backup' else f'.{kind}.lock'}")
        handle = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w")  # owner-only, as the catalog
        tighten(path)  # one made before lock files were private
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise CatalogBusy(f"another {kind} is writing to {self.path}") from None
        self._locks[kind] = handle

    def serialised(self, conn: sqlite3.Connection, kind: str) -> None:
        """One writer at a time already (the backup lock): nothing to wait for."""

    def unlock(self, conn: sqlite3.Connection, kind: str) -> None:
        handle = self._locks.pop(kind, None)
        if handle:
            handle.close()

    def unlock_all(self, conn: sqlite3.Connection) -> None:
        for kind in list(self._locks):
            self.unlock(conn, kind)

    def integrity(self, conn: sqlite3.Connection) -> list[str]:
        """SQLite's quick_check: ['ok'] for a sound file, else what it found (up to 10 lines)."""
        return [row[0] for row in conn.execute("PRAGMA quick_check(10)")]


def quoted(column: str) -> str:
    """A column as SQL names it: `user` is a reserved word of PostgreSQL, so every column is quoted."""
    return column if column == "rowid" else f'"{column}"'


@functools.lru_cache(maxsize=4096)
def _pg_sql(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (a literal % doubled); one cast to its type (`?::text[]`)
    as `%b`, sent in binary: a batch's arrays (rows_in) are dumped ten times faster so."""
    return sql.replace("%", "%%").replace("?::", "%b::").replace("?", "%s")


class PgConnection:
    """psycopg's connection with sqlite3's small interface: autocommit, and `with conn:` one
    transaction (nested ones join it)."""

    def __init__(self, raw: Any):
        self.raw = raw
        self._depth = 0
        self.staging = False  # whether its staging table is made (staging.py)
        self.all_new = True  # whether its last batch of versions was all new: the next is tried straight in

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.raw.execute(_pg_sql(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        cursor = self.raw.cursor()
        rows = list(rows)
        if rows:
            cursor.executemany(_pg_sql(sql), rows)
        return cursor

    def executescript(self, script: str) -> None:
        self.raw.execute(script)

    def __enter__(self) -> PgConnection:
        if self._depth == 0:
            self.raw.execute("BEGIN")
        self._depth += 1
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.raw.execute("COMMIT" if kind is None else "ROLLBACK")

    def commit(self) -> None:
        """Statements outside `with` are committed as they run (autocommit)."""

    def close(self) -> None:
        self.raw.close()


class Postgres:
    name = "postgres"
    shared = True  # collectors on many hosts: `backup --join`
    ordered_join = "JOIN"
    skip_locked = "FOR UPDATE SKIP LOCKED"  # claims of other processes are passed over, never waited for
    byte_order = 'COLLATE "C"'  # byte by byte, as MediaWiki's names compare, whatever the database's collation
    clock = "EXTRACT(EPOCH FROM clock_timestamp())::float8"  # the server's: collectors' clocks may differ

    def __init__(self, target: PostgresURL):
        self.url, self._password = target.url, target.password

    def connect(self, **options: Any) -> PgConnection:
        import psycopg  # only a PostgreSQL catalog needs it

        try:
            raw = psycopg.connect(self.url, password=self._password, autocommit=True,
                                  application_name="mediarescue", connect_timeout=30)
        except psycopg.Error as error:
            detail = " ".join(str(error).split())
            raise CatalogError(f"the catalog {self.url} cannot be reached ({detail[:200]})") from None
        raw.execute("SET synchronous_commit = on")
        return PgConnection(raw)

    def schema(self) -> tuple[list[str], list[str]]:
        statements = [self.ddl(s) for s in split_statements(SCHEMA)]
        tables = [s for s in statements if s and _is_table(s)]
        return tables, [s for s in statements if s and not _is_table(s)] + [tracking("postgres")]

    def create_schema(self, conn: PgConnection) -> None:
        if self.tables(conn) >= set(DUMPED_TABLES) | set(BOOKKEEPING_TABLES):  # every table SCHEMA makes
            self._add_indexes(conn)  # a catalog opened again: at most an index added since it was made
            self._renew_tracking(conn)
            return
        with conn:
            self.serialised(conn, "schema")  # one process makes it; one opening beside it finds it made
            tables, rest = self.schema()
            for statement in tables + rest:
                conn.raw.execute(statement)

    def _add_indexes(self, conn: PgConnection) -> None:
        """The indexes of the schema a catalog made before them lacks (looked up first: CREATE INDEX
        IF NOT EXISTS would lock the table against the collectors writing to it)."""
        have = {name for (name,) in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")}
        for statement in self.schema()[1]:
            made = re.search(r"^CREATE (?:UNIQUE )?INDEX IF NOT EXISTS (\w+)", statement, re.MULTILINE)
            if made and made.group(1) not in have:
                conn.execute(statement)

    def _renew_tracking(self, conn: PgConnection) -> None:
        """The trigger functions of tracking() as this version writes them, where a catalog made
        before has others (they note the same changes, a row a key where these note ranges)."""
        wanted = dict(re.findall(r"CREATE OR REPLACE FUNCTION (\w+)\(\) .*? AS \$\$(.*?)\$\$", tracking("postgres")))
        have = dict(conn.execute(
            "SELECT proname, prosrc FROM pg_proc WHERE pronamespace = current_schema()::regnamespace"))
        if any(have.get(name) != body for name, body in wanted.items()):
            with conn:
                self.serialised(conn, "schema")
                conn.raw.execute(tracking("postgres"))

    @staticmethod
    def ddl(statement: str) -> str:
        """One statement of SQLite's schema as PostgreSQL takes it."""
        if statement.upper().startswith("CREATE TRIGGER"):
            return ""  # tracking("postgres") makes PostgreSQL's own
        identity = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
        statement = statement.replace("INTEGER PRIMARY KEY AUTOINCREMENT", identity)
        statement = re.sub(r"\b(id|seq) INTEGER PRIMARY KEY\b", rf"\1 {identity}", statement)
        statement = re.sub(r"\bINTEGER\b", "BIGINT", statement)
        statement = re.sub(r"\bREAL\b", "DOUBLE PRECISION", statement)
        statement = re.sub(r"\bBLOB\b", "BYTEA", statement)
        statement = re.sub(r"^(\s*)user TEXT", r'\1"user" TEXT', statement, flags=re.MULTILINE)
        statement = statement.replace(") WITHOUT ROWID", ")")
        statement = statement.replace("CREATE VIEW IF NOT EXISTS", "CREATE OR REPLACE VIEW")
        statement = statement.replace("GROUP_CONCAT(DISTINCT id)", "string_agg(DISTINCT id::text, ',')")
        table = re.match(r"CREATE TABLE IF NOT EXISTS (\w+) \(", statement)
        if table and DUMP_KEYS.get(table.group(1)) == ("rowid",):  # SQLite's rowid, kept as a column of its own
            statement = statement.replace("(", "(\n    rowid BIGINT GENERATED BY DEFAULT AS IDENTITY UNIQUE,", 1)
        return statement

    def tables(self, conn: PgConnection) -> set[str]:
        return {name for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE'")}

    def columns(self, conn: PgConnection, table: str) -> list[str]:
        return [name for (name,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ? ORDER BY ordinal_position", (table,))]

    def group_concat(self, expression: str) -> str:
        return f"string_agg(DISTINCT ({expression})::text, ',')"

    def greatest(self, *expressions: str) -> str:
        return f"GREATEST({', '.join(expressions)})"

    def hint(self, index: str | None) -> str:
        return ""

    def relaxed(self, conn: PgConnection) -> None:
        """This transaction need not wait for its WAL flush (the last ~0.2 s may be lost to a crash,
        never half kept), as SQLite's WAL with synchronous = NORMAL: for what a re-run redoes (the
        collector's recording and claims), never for forget, prune or the restore journal."""
        conn.execute("SET LOCAL synchronous_commit = off")

    def insert_rows(self, conn: PgConnection, table: str, columns: Sequence[str],
                    rows: Sequence[Sequence[Any]]) -> None:
        """New rows in bulk: COPY, PostgreSQL's fastest way in (one round trip a batch)."""
        with conn.raw.cursor().copy(f"COPY {table} ({', '.join(map(quoted, columns))}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def upsert(self, table: str, columns: Sequence[str]) -> str:
        key = DUMP_KEYS[table]
        sets = ", ".join(f"{quoted(c)} = excluded.{quoted(c)}" for c in columns if c not in key)
        return (f"INSERT INTO {table} ({', '.join(map(quoted, columns))}) VALUES ({', '.join('?' * len(columns))}) "
                f"ON CONFLICT ({', '.join(key)}) DO " + (f"UPDATE SET {sets}" if sets else "NOTHING"))

    _LAST = "COALESCE(pg_sequence_last_value(pg_get_serial_sequence(?, 'id')::regclass), 0)"

    def ids_given(self, conn: PgConnection, table: str, last: int) -> None:
        if last > 0:
            conn.execute(f"SELECT setval(pg_get_serial_sequence(?, 'id'), GREATEST(?, {self._LAST}))",
                         (table, last, table))

    def rows_in(self, types: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
        """A batch of rows as a table to join, `AS i` with columns column1, column2...: a column
        an array (`types`: their SQL types), so the statement's text is the same for every batch
        (psycopg parses and caches it once, not 2,500 placeholders a batch)."""
        arrays = ", ".join(f"?::{kind}[]" for kind in types)
        names = ", ".join(f"column{n}" for n in range(1, len(types) + 1))
        return f"unnest({arrays}) AS i({names})", [list(column) for column in zip(*rows)]

    def probing(self, conn: PgConnection) -> None:
        """Until this transaction ends, joins of a batch to a big table probe its index per row: the
        planner's costs (random_page_cost) would scan and hash a table of up to ~100 k rows, or a
        new one not yet analysed, once a batch, its whole every 500 rows."""
        conn.execute("SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)")

    def pipeline(self, conn: PgConnection) -> contextlib.AbstractContextManager:
        """Statements whose results are read only afterwards, sent at once: one round trip."""
        return conn.raw.pipeline()

    def sequences(self, conn: PgConnection) -> dict[str, int]:
        found = {}
        for table, key in DUMP_KEYS.items():
            if key == ("id",):
                value = conn.execute("SELECT pg_sequence_last_value(pg_get_serial_sequence(?, 'id')::regclass)",
                                     (table,)).fetchone()[0]
                if value is not None:
                    found[table] = value
        return found

    def snapshot(self, conn: PgConnection) -> None:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def stream(self, conn: PgConnection, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple]:
        """A server-side cursor: a dump of 100 million rows is never held in memory whole."""
        cursor = conn.raw.cursor(name=f"stream{next(_cursors)}")
        cursor.itersize = 5000
        cursor.execute(_pg_sql(sql), params)
        return cursor

    def try_lock(self, conn: PgConnection, kind: str) -> None:
        """An advisory lock of the session: a killed holder's ends with its connection."""
        if not conn.execute("SELECT pg_try_advisory_lock(hashtext(current_schema() || ':' || ?))",
                            (kind,)).fetchone()[0]:
            raise CatalogBusy(f"another {kind} is writing to {self.url}")

    def unlock(self, conn: PgConnection, kind: str) -> None:
        conn.execute("SELECT pg_advisory_unlock(hashtext(current_schema() || ':' || ?))", (kind,))

    def unlock_all(self, conn: PgConnection) -> None:
        """Every lock of the session let go, if it still answers (a lost one's went with it)."""
        with contextlib.suppress(Exception):  # psycopg's, whatever broke the connection
            conn.raw.execute("SELECT pg_advisory_unlock_all()")

    def serialised(self, conn: PgConnection, kind: str) -> None:
        """The rest of this transaction runs alone among those that ask for `kind`: a lock of the
        transaction, let go when it commits or rolls back (a killed holder's with its session)."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':xact:' || ?))", (kind,))

    def held_elsewhere(self, conn: PgConnection, kind: str) -> bool:
        """Whether another session holds `kind`'s lock (a live backup), tried and let go at once."""
        if not conn.execute("SELECT pg_try_advisory_lock(hashtext(current_schema() || ':' || ?))",
                            (kind,)).fetchone()[0]:
            return True
        self.unlock(conn, kind)
        return False

    def integrity(self, conn: PgConnection) -> list[str]:
        """PostgreSQL checksums its own pages; what a catalog can be missing is its tables."""
        missing = set(DUMPED_TABLES) - self.tables(conn)
        return ["ok"] if not missing else [f"tables missing: {', '.join(sorted(missing))}"]


Dialect = SQLite | Postgres
_cursors = itertools.count()


def dialect_of(target: Target) -> Dialect:
    return Postgres(target) if isinstance(target, PostgresURL) else SQLite(Path(target))
