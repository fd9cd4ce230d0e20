"""Catalog speed: the write rate of a backup through the real Catalog.record_versions, and lookups
on a synthetic catalog of 10 million versions by title, sha1, sha256 and as of a snapshot (goals:
100,000 rows/s; p99 under 1 ms), with the catalog's size per version.

    ./scripts/bench catalog [--engine sqlite|postgres] [--versions N] [--writes N] [--lookups N] [--dir DIR] [--fresh]

With `--engine postgres` the same figures on PostgreSQL: a server of the test bed's kind (Debian's
postgresql-15, durable defaults, under DIR/postgres-bed, stopped at the end and started again by the
next run), each catalog a schema of its own; the synthetic catalog is loaded with COPY. Sizes: bytes in
use by every table and index, as on SQLite: pages the free space map holds as empty (rows an earlier
run wrote into the reused catalog and deleted) are left out (pg_freespacemap).

The synthetic catalog is shaped like Commons: titles of about 45 characters, ~9 % of them with an
old version, 1 % deleted, every version backed up (sha256 set), 30 daily runs, and 2 % of
versions with an earlier state (a move or a status change).
It is built with executemany in transactions of a million rows and indexed afterwards (the
catalog's own schema makes the indexes), kept in DIR (default /tmp/mediarescue-bench-catalog)
and reused by the next run unless --fresh (a catalog of an older layout is migrated when opened).
Writes go to catalogs of their own beside it, in batches of 500 as a full run lists them, new and
then seen again (each title's description page too), plus `stored()` as the download pool calls
it, a version at a time; rows written into the big one to time writes at scale are deleted
afterwards.

Lookups go through the same calls `mediarescue find` makes (Catalog.find, snapshots.find_as_of),
rows and all; the figures are per lookup. Results: stdout and benchmarks/results/catalog.json.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import NamedTuple

from mediarescue.catalog import VERSION_FIELDS, Catalog, Version, snapshots
from mediarescue.catalog.base import time_in
from mediarescue.catalog.engine import Postgres, PostgresURL
from policies import title_ranges
from testbed import postgres as postgres_server
from testbed import procs

RESULTS = Path(__file__).resolve().parent / "results" / "catalog.json"
RUNS = 30
BUILD = 4  # what the synthetic catalog holds changed: a catalog built before is built again
BATCH = 500  # versions a full run records at once: one allimages batch with apihighlimits
_WORDS = ("Sunset", "Cathedral", "Portrait", "Map", "Bridge", "Harbour", "Mountain", "Street", "Festival", "Museum",
          "Train", "Flower", "River", "Castle", "Market", "Statue")
_KINDS = (("jpg", "image/jpeg", "BITMAP"), ("png", "image/png", "BITMAP"), ("svg", "image/svg+xml", "DRAWING"),
          ("pdf", "application/pdf", "OFFICE"), ("webm", "video/webm", "VIDEO"))
_BASE = datetime(2020, 1, 1, tzinfo=timezone.utc)
_PAGE_TEXT = ("=={{int:filedesc}}==\n{{Information\n|description={{en|1=A photo}}\n|date=2020-01-01\n|source={{own}}\n"
              "|author=[[User:Someone|Someone]]\n}}\n\n=={{int:license-header}}==\n{{self|cc-by-sa-4.0}}\n\n"
              "[[Category:Photographs]]\n")
_BEGAN = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - _BEGAN:6.1f} s] {message}", file=sys.stderr, flush=True)


def _title_of(i: int) -> int:
    return i * 10 // 11  # every 11 versions, two share a title: an old version and the current one


def _title(t: int) -> str:
    ext = _KINDS[t % len(_KINDS)][0]
    return f"File:{_WORDS[t % 16]} {_WORDS[t // 16 % 16]} in {_WORDS[t // 256 % 16]}, photo {t:09d}.{ext}"


def _moved(i: int) -> bool:
    """Of the versions with an earlier state (every 50th), every other one was moved."""
    return i // 50 % 2 == 1


def _earlier_title(i: int) -> str:
    title = _title(_title_of(i))
    return title.replace("photo", "picture") if _moved(i) else title


def synthetic_version(i: int, wiki: str = "commons") -> Version:
    """Version i of the synthetic wiki: the same every time."""
    t = _title_of(i)
    title, (_, mime, media_type) = _title(t), _KINDS[t % len(_KINDS)]
    name = title[5:].replace(" ", "_")
    sha1 = hashlib.sha1(i.to_bytes(8, "big")).hexdigest()
    # upload times in no relation to the name order a full run lists titles in; a title's old version first
    spread = int.from_bytes(hashlib.md5(t.to_bytes(8, "big")).digest()[:4], "big") % 150_000_000
    timestamp = (_BASE + timedelta(seconds=spread + i % 11 * 86_400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    old = _title_of(i + 1) == t
    status = "old" if old else "deleted" if i % 100 == 99 else "current"
    archived = timestamp[:19].replace("-", "").replace("T", "").replace(":", "")
    return Version(wiki, title, timestamp, sha1, title, size=50_000 + i * 7919 % 5_000_000, status=status,
                   user=f"User {i % 5000}", comment="Uploaded own work with UploadWizard", mime=mime,
                   media_type=media_type, archive_name=f"{archived}!{name}" if old else None,
                   filearchive_id=i if status == "deleted" else None,
                   private=int(status == "deleted"),
                   source_url=f"https://upload.wikimedia.org/wikipedia/commons/{sha1[0]}/{sha1[:2]}/{name}",
                   source_container=f"wikipedia-commons-local-public.{sha1[:2]}",
                   source_object=f"{sha1[0]}/{sha1[:2]}/{name}")


def sha256_of(i: int) -> str:
    return hashlib.sha256(i.to_bytes(8, "big")).hexdigest()


def _runs() -> list[tuple]:
    return [(run, "commons", "full" if run == 1 else "incremental", (_BASE + timedelta(days=run)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"), (_BASE + timedelta(days=run)).strftime("%Y-%m-%dT%H:%M:%SZ"), "done")
        for run in range(1, RUNS + 1)]


def _version_rows(total: int, start: int, end: int) -> Iterator[tuple]:
    """Rows as the catalog keeps them: hashes as bytes, upload times as seconds."""
    for i in range(start, end):
        v = synthetic_version(i)
        yield (i + 1, v.wiki, v.title, time_in(v.timestamp), bytes.fromhex(v.sha1), None,  # title_at_upload: the title
               *v[5:len(VERSION_FIELDS)], bytes.fromhex(sha256_of(i)), 1 + i * RUNS // total, RUNS, "ok")


def _state_rows(total: int) -> Iterator[tuple]:
    rng = random.Random(1)  # 2 % of versions changed once: half of them moved, half changed status
    return ((i + 1, min(RUNS, 2 + i * RUNS // total + rng.randrange(5)), _earlier_title(i),
             "current" if _moved(i) else "old", None) for i in range(0, total, 50))


COLUMNS = ("id", *VERSION_FIELDS, "sha256", "first_run", "last_run", "backup_status")
assert VERSION_FIELDS[2:4] == ("timestamp", "sha1")


def build(target: Path | PostgresURL, total: int) -> None:
    """The synthetic catalog, fast: rows first (no indexes, no journal or triggers), then the schema's indexes."""
    if isinstance(target, PostgresURL):
        return _build_postgres(target, total)
    path = target
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    Catalog(path).close()  # the schema, as the collector makes it
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    indexes = [row for row in db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                                         "AND tbl_name IN ('versions', 'version_states')")]
    for name, _ in indexes:
        db.execute(f"DROP INDEX {name}")
    with db:
        db.executemany("INSERT INTO runs (id, wiki, kind, started, ended, status) VALUES (?, ?, ?, ?, ?, ?)", _runs())
        db.executemany("INSERT INTO snapshots (run) VALUES (?)", [(r[0],) for r in _runs()])
    insert = f"INSERT INTO versions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    for start in range(0, total, 1_000_000):
        with db:
            db.executemany(insert, _version_rows(total, start, min(total, start + 1_000_000)))
        say(f"  {min(total, start + 1_000_000):,} versions")
    with db:
        db.executemany("INSERT OR IGNORE INTO version_states VALUES (?, ?, ?, ?, ?)", _state_rows(total))
        db.execute("DELETE FROM metadata_changes")  # as a run's metadata object, written at its end, leaves it
    db.execute("CREATE TABLE bench_meta (versions INTEGER, build INTEGER)")
    with db:
        db.execute("INSERT INTO bench_meta VALUES (?, ?)", (total, BUILD))
    db.close()
    say("indexing (the catalog's own schema)")
    Catalog(path).close()


def _build_postgres(target: PostgresURL, total: int) -> None:
    Catalog(target).close()  # the schema, as the collector makes it
    conn = Postgres(target).connect()
    raw = conn.raw
    indexes = raw.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND "
                          "tablename IN ('versions', 'version_states') AND indexname NOT LIKE '%pkey'").fetchall()
    for name, _ in indexes:
        raw.execute(f"DROP INDEX {name}")
    raw.execute("SET session_replication_role = replica")  # no change tracking while the synthetic rows go in
    raw.execute("SET synchronous_commit = off")
    with raw.transaction():
        with raw.cursor().copy("COPY runs (id, wiki, kind, started, ended, status) FROM STDIN") as copy:
            for row in _runs():
                copy.write_row(row)
        raw.execute("INSERT INTO snapshots (run) SELECT id FROM runs")
    for start in range(0, total, 1_000_000):
        with raw.transaction():
            columns = ", ".join(f'"{c}"' for c in COLUMNS)
            with raw.cursor().copy(f"COPY versions ({columns}) FROM STDIN") as copy:
                for row in _version_rows(total, start, min(total, start + 1_000_000)):
                    copy.write_row(row)
        say(f"  {min(total, start + 1_000_000):,} versions")
    with raw.transaction():
        with raw.cursor().copy("COPY version_states FROM STDIN") as copy:
            for row in _state_rows(total):
                copy.write_row(row)
    raw.execute("SELECT setval(pg_get_serial_sequence('versions', 'id'), %s)", (total,))
    raw.execute("SELECT setval(pg_get_serial_sequence('runs', 'id'), %s)", (RUNS,))
    say("indexing (the catalog's own schema)")
    raw.execute("SET maintenance_work_mem = '512MB'")
    for _, definition in indexes:
        raw.execute(definition)
    raw.execute("CREATE TABLE bench_meta (versions BIGINT, build BIGINT)")
    raw.execute("INSERT INTO bench_meta VALUES (%s, %s)", (total, BUILD))
    raw.execute("VACUUM ANALYZE")
    conn.close()


class Sizes(NamedTuple):
    """A catalog's size: its earlier states, bytes in use and in files, and bytes in use by each
    table and index of over a megabyte, biggest first."""
    states: int
    in_use: int
    files: int
    parts: dict[str, int]


class SQLitePlace:
    """Catalogs as files in DIR."""
    engine = "sqlite"

    def __init__(self, directory: Path):
        self.directory = directory

    def target(self, name: str) -> Path:
        return self.directory / f"{name}.db"

    def fresh(self, name: str) -> Path:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.target(name)}{suffix}").unlink(missing_ok=True)
        return self.target(name)

    def built(self, name: str, versions: int) -> bool:
        if not self.target(name).exists():
            return False
        with sqlite3.connect(self.target(name)) as db:
            try:
                return db.execute("SELECT versions, build FROM bench_meta").fetchone() == (versions, BUILD)
            except sqlite3.OperationalError:
                return False

    def sizes(self, name: str) -> Sizes:
        """Pages in use: rows deleted by an earlier run's writes leave free pages; each table's and
        index's bytes in use by SQLite's dbstat."""
        with sqlite3.connect(self.target(name)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            in_use, files = db.execute("SELECT (page_count - freelist_count) * page_size, page_count * page_size "
                                       "FROM pragma_page_count, pragma_freelist_count, pragma_page_size").fetchone()
            parts = dict(db.execute("SELECT name, SUM(pgsize - unused) FROM dbstat GROUP BY name HAVING SUM(pgsize) "
                                    "> 1000000 ORDER BY 2 DESC"))
            return Sizes(db.execute("SELECT COUNT(*) FROM version_states").fetchone()[0], in_use, files, parts)

    def close(self) -> None:
        pass


class PostgresPlace:
    """Catalogs as schemas of a PostgreSQL server of the test bed's kind, in DIR/postgres-bed: the
    cluster an earlier run made is started again (its synthetic catalog reused, unless --fresh)."""
    engine = "postgres"

    def __init__(self, directory: Path, fresh: bool):
        self.bed = directory / "postgres-bed"
        secret = directory / "postgres-password"  # a throwaway cluster's, kept beside it, owner-only
        if self.bed.exists():
            procs.stop_all(self.bed)
        if self.bed.exists() and secret.exists() and not fresh:
            server = postgres_server.restart(self.bed, secret.read_text().strip())
        else:
            shutil.rmtree(self.bed, ignore_errors=True)
            self.bed.mkdir(parents=True)
            os.chmod(self.bed, 0o755)  # the server's account enters it
            server = postgres_server.start(self.bed)
            secret.unlink(missing_ok=True)
            with os.fdopen(os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
                out.write(server.password + "\n")
        self.url, self.password = server.url, server.password

    def target(self, name: str) -> PostgresURL:
        return PostgresURL(f"{self.url}?options=-csearch_path%3D{name}", self.password)

    def fresh(self, name: str) -> PostgresURL:
        with contextlib.closing(Postgres(PostgresURL(self.url, self.password)).connect()) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            conn.execute(f"CREATE SCHEMA {name}")
        return self.target(name)

    def built(self, name: str, versions: int) -> bool:
        with contextlib.closing(Postgres(self.target(name)).connect()) as conn:
            if conn.execute("SELECT to_regclass('bench_meta')").fetchone()[0] is None:
                return False
            return conn.execute("SELECT versions, build FROM bench_meta").fetchone() == (versions, BUILD)

    def sizes(self, name: str) -> Sizes:
        """Tables (their TOAST included) and indexes. As SQLite's freelist, a page the free space map
        holds as empty is not in use: rows an earlier run wrote into the reused catalog and deleted
        (btree pages are never given back to the file), or the old rows of updated ones (MVCC: an
        update writes a new row, and a page of old ones is free once vacuumed)."""
        with contextlib.closing(Postgres(self.target(name)).connect()) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_freespacemap SCHEMA public")
            conn.execute("SELECT set_config('search_path', current_schema() || ', public', FALSE)")
            for _ in range(2):  # the free space map up to date: an index page emptied by one VACUUM is
                conn.execute("VACUUM")  # put in it by the next
            relations = conn.execute(
                "SELECT c.relname, pg_table_size(c.oid), current_setting('block_size')::bigint * "
                "(SELECT COUNT(*) FROM pg_freespace(c.oid) WHERE avail >= 8000) FROM pg_class AS c JOIN "
                "pg_namespace AS n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND "
                "c.relkind IN ('r', 'i') AND c.relname != 'bench_meta'").fetchall()
            in_use = {relation: size - empty for relation, size, empty in relations}
            parts = dict(sorted(((r, size) for r, size in in_use.items() if size > 1000000), key=lambda p: -p[1]))
            return Sizes(conn.execute("SELECT COUNT(*) FROM version_states").fetchone()[0], sum(in_use.values()),
                         sum(size for _, size, _ in relations), parts)

    def close(self) -> None:
        procs.stop_all(self.bed)


Place = SQLitePlace | PostgresPlace


def _timed(calls: list[Callable[[], object]]) -> dict[str, float]:
    times = []
    for call in calls:
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p99_ms": times[int(len(times) * 0.99) - 1], "max_ms": times[-1],
            "lookups": len(times)}


def lookups(path: Path | PostgresURL, total: int, count: int) -> dict[str, dict[str, float]]:
    catalog = Catalog(path)
    rng = random.Random(2)
    sample = [rng.randrange(total) for _ in range(count)]
    changed = [rng.randrange(0, total, 50) for _ in range(count // 2)]
    # arguments made before the clock starts: only the lookups are timed
    titles = [_title(_title_of(i)) for i in sample]
    as_of = [(rng.randrange(1, RUNS + 1), _earlier_title(i)) for i in changed] + \
        [(rng.randrange(1, RUNS + 1), title) for title in titles[:count // 2]]
    results = {
        "title": _timed([partial(catalog.find, title=title) for title in titles]),
        "sha1": _timed([partial(catalog.find, sha1=hashlib.sha1(i.to_bytes(8, "big")).hexdigest()) for i in sample]),
        "sha256": _timed([partial(catalog.find, sha256=sha256_of(i)) for i in sample]),
        # half on versions with an earlier state (by the title they had, moved or not), half on others
        "as_of_title": _timed([partial(snapshots.find_as_of, catalog, run, title=title) for run, title in as_of]),
    }
    # what `backup --list-split 16` asks once a run: the catalog's titles of the wiki, and 15 quantiles of them
    began = time.perf_counter()
    titles_known = catalog.title_count("commons")
    cuts = catalog.titles_at("commons", title_ranges.quantile_positions(titles_known, 16))
    results["split_16_cuts"] = {"seconds": time.perf_counter() - began, "titles": titles_known, "cuts": len(cuts)}
    found = [len(catalog.find(title=_title(_title_of(i)))) for i in sample[:100]]
    assert min(found) >= 1, "a lookup found nothing: the synthetic catalog is not what it should be"
    catalog.close()
    return results


def rate_of(rows: int, wall: float, cpu: float) -> dict[str, float]:
    return {"rows": rows, "seconds": wall, "rows_per_s": rows / wall, "rows_per_cpu_s": rows / cpu}


def clock(work: Callable[[], None]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def batches(rows: list[Version]) -> Iterator[list[Version]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start:start + BATCH]


def _record(catalog: Catalog, run: int, rows: list[Version]) -> None:
    """As a full run records its listing: batch by batch, each batch's pending versions handed on
    (to the downloads) and dropped, not kept: a million of them alive would time the garbage collector."""
    for batch in batches(rows):
        catalog.record_versions(run, batch)


def writes(place: Place, count: int, big: Path | PostgresURL | None, big_total: int) -> dict[str, dict[str, float]]:
    """record_versions as a full run calls it, against plain executemany of the same rows."""
    # in the order a full run records them: allimages lists titles by name
    rows = sorted((synthetic_version(i, wiki="writes") for i in range(count)), key=lambda v: v.title)
    catalog = Catalog(place.fresh("writes"))
    first, second = catalog.start_run("writes", "full"), None
    results = {"record_versions, new": rate_of(count, *clock(
        lambda: _record(catalog, first, rows)))}
    second = catalog.start_run("writes", "full")
    results["record_versions, seen again"] = rate_of(count, *clock(
        lambda: _record(catalog, second, rows)))
    # the end of a full run: what it saw nowhere (none here), each version judged by last_run or its seen ranges
    results["unseen(), the end of a full run"] = rate_of(count, *clock(
        lambda: catalog.unseen("writes", second, ("current", "old", "deleted"))))
    # Each title's description page, as the same listing reads it (revision ids in no relation to titles)
    rng = random.Random(3)
    pages = [{"wiki": "writes", "title": title, "page_id": n + 1, "rev_id": rng.randrange(1, 900_000_000),
              "rev_timestamp": "2024-01-01T00:00:00Z", "text": _PAGE_TEXT}
             for n, title in enumerate(dict.fromkeys(v.title for v in rows))]
    for name, run in (("new", first), ("seen again", second)):
        results[f"record_pages, {name}"] = rate_of(len(pages), *clock(
            lambda: [catalog.record_pages(run, pages[i:i + BATCH]) for i in range(0, len(pages), BATCH)]))
    # A backup marks a version stored once its bytes are (one transaction a file, from the download
    # pool); that is when it enters the sha1 and sha256 indexes.
    stored = min(count, 20_000)
    results["stored(), a transaction a version"] = rate_of(stored, *clock(lambda: [
        catalog.stored(i, sha256_of(i), rows[i - 1].sha1, rows[i - 1].size, True, second)
        for i in range(1, stored + 1)]))
    catalog.close()
    sizes = place.sizes("writes")
    results["catalog_bytes_per_version"] = {"bytes": sizes.in_use / count, "allocated": sizes.files / count}

    catalog = Catalog(place.fresh("plain"))
    run = catalog.start_run("writes", "full")
    def plain_inserts() -> None:  # the engine's bulk insert (executemany, COPY), nothing else
        for batch in batches(rows):
            with catalog.conn:
                catalog.engine.insert_rows(catalog.conn, "versions", (*VERSION_FIELDS, "first_run", "last_run"), [
                    (v.wiki, v.title, time_in(v.timestamp), bytes.fromhex(v.sha1), None, *v[5:len(VERSION_FIELDS)],
                     run, run)
                    for v in batch])

    results["plain bulk insert, same table"] = rate_of(count, *clock(plain_inserts))
    catalog.close()

    if big is not None:  # at scale: the indexes no longer fit the page cache
        catalog = Catalog(big)
        run = catalog.start_run("writes", "full")
        # identities the catalog never held: the last run's, deleted below, would cost each insert a
        # visit to its dead duplicate's heap row (the unique index's check), which no backup meets
        extra = [v._replace(wiki=f"writes-{run}") for v in rows[:min(count, 200_000)]]
        results[f"record_versions, new, into {big_total:,}"] = rate_of(len(extra), *clock(
            lambda: _record(catalog, run, extra)))
        with catalog.conn:  # leave the reused catalog as it was
            catalog.conn.execute("DELETE FROM versions WHERE first_run = ?", (run,))
            catalog.conn.execute("DELETE FROM snapshots WHERE run = ?", (run,))
            catalog.conn.execute("DELETE FROM runs WHERE id = ?", (run,))
            catalog.conn.execute("DELETE FROM metadata_changes")  # what a metadata save would have taken
        catalog.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=10_000_000, help="versions in the synthetic catalog")
    parser.add_argument("--writes", type=int, default=1_000_000, help="versions written through record_versions")
    parser.add_argument("--lookups", type=int, default=20_000, help="lookups of each kind")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/mediarescue-bench-catalog"))
    parser.add_argument("--fresh", action="store_true", help="build the synthetic catalog again")
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    place = SQLitePlace(args.dir) if args.engine == "sqlite" else PostgresPlace(args.dir, args.fresh)
    try:
        _measure(args, place)
    finally:
        place.close()


def _measure(args: argparse.Namespace, place: Place) -> None:
    name = f"catalog_{args.versions}"
    big = place.target(name)
    reused = not args.fresh and place.built(name, args.versions)
    if not reused:
        say(f"building a synthetic {place.engine} catalog of {args.versions:,} versions in {big}")
        began = time.monotonic()
        build(place.fresh(name), args.versions)
        say(f"built in {time.monotonic() - began:.0f} s")
    else:
        say(f"reusing {big}")
    states, size, allocated, parts = place.sizes(name)
    say("writes")
    write_results = writes(place, args.writes, big, args.versions)
    say("lookups")
    lookup_results = lookups(big, args.versions, args.lookups)

    print(f"{place.engine} catalog of {args.versions:,} versions ({states:,} earlier states): {size / 2**30:.2f} GiB, "
          f"{size / args.versions:.0f} bytes per version (indexes included; files {allocated / args.versions:.0f})")
    print("size   " + ", ".join(f"{part} {part_size / args.versions:.0f} B" for part, part_size in parts.items()))
    for what, r in write_results.items():
        if "rows" in r:
            print(f"write  {what:42} {r['rows_per_s']:>9,.0f} rows/s ({r['rows_per_cpu_s']:,.0f} per CPU second), "
                  f"{r['rows']:,} rows in {r['seconds']:.1f} s")
    per_version = write_results["catalog_bytes_per_version"]
    print(f"write  catalog size per version, its description page included (writes.db): {per_version['bytes']:.0f} "
          f"bytes (files {per_version['allocated']:.0f})")
    cuts = lookup_results.pop("split_16_cuts")
    print(f"split  quantile cuts of {cuts['titles']:,} titles for --list-split 16: {cuts['seconds']:.1f} s")
    for what, r in lookup_results.items():
        print(f"lookup {what:12} p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  max {r['max_ms']:.2f} ms "
              f"({r['lookups']:,} lookups)")
    RESULTS.parent.mkdir(exist_ok=True)
    results = RESULTS.with_name(f"catalog-{place.engine}-{args.versions}.json")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    results.write_text(json.dumps({
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": commit,
        "engine": place.engine,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
                    "load_average": os.getloadavg()},
        "catalog": {"versions": args.versions, "earlier_states": states, "bytes": size, "allocated": allocated,
                    "parts": parts,
                    "bytes_per_version": size / args.versions, "reused": reused},
        "writes": write_results, "lookups": lookup_results, "split_16_cuts": cuts}, indent=1) + "\n")


if __name__ == "__main__":
    main()
