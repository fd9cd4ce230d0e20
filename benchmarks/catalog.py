"""Catalog speed: the write rate of a backup through the real Catalog.record_versions, and lookups
on a synthetic catalog of 10 million versions by title, sha1, sha256 and as of a snapshot (goals:
100,000 rows/s; p99 under 1 ms), with the catalog's size per version.

    ./scripts/bench catalog [--versions N] [--writes N] [--lookups N] [--dir DIR] [--fresh]

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
import hashlib
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path

from mediarescue.catalog import VERSION_FIELDS, Catalog, Version, snapshots

RESULTS = Path(__file__).resolve().parent / "results" / "catalog.json"
RUNS = 30
BUILD = 2  # what the synthetic catalog holds changed: a catalog built before is built again
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


def _sha256(i: int) -> str:
    return hashlib.sha256(i.to_bytes(8, "big")).hexdigest()


def build(path: Path, total: int) -> None:
    """The synthetic catalog, fast: rows first (no indexes, no journal), then the schema's indexes."""
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
        for run in range(1, RUNS + 1):
            started = (_BASE + timedelta(days=run)).strftime("%Y-%m-%dT%H:%M:%SZ")
            db.execute("INSERT INTO runs (id, wiki, kind, started, ended, status) VALUES (?, 'commons', ?, ?, ?, "
                       "'done')", (run, "full" if run == 1 else "incremental", started, started))
            db.execute("INSERT INTO snapshots (run) VALUES (?)", (run,))
    insert = (f"INSERT INTO versions (id, {', '.join(VERSION_FIELDS)}, sha256, first_run, last_run, backup_status) "
              f"VALUES ({', '.join('?' * (len(VERSION_FIELDS) + 4))}, 'ok')")
    for start in range(0, total, 1_000_000):
        with db:
            db.executemany(insert, ((i + 1, *synthetic_version(i)[:len(VERSION_FIELDS)], _sha256(i),
                                     1 + i * RUNS // total, RUNS) for i in range(start, min(total, start + 1_000_000))))
        say(f"  {min(total, start + 1_000_000):,} versions")
    rng = random.Random(1)
    with db:  # 2 % of versions changed once: half of them moved, half changed status
        db.executemany("INSERT OR IGNORE INTO version_states VALUES (?, ?, ?, ?, NULL)", (
            (i + 1, min(RUNS, 2 + i * RUNS // total + rng.randrange(5)), _earlier_title(i),
             "current" if _moved(i) else "old") for i in range(0, total, 50)))
    db.execute("CREATE TABLE bench_meta (versions INTEGER, build INTEGER)")
    with db:
        db.execute("INSERT INTO bench_meta VALUES (?, ?)", (total, BUILD))
    db.close()
    say("indexing (the catalog's own schema)")
    Catalog(path).close()


def _timed(calls: list[Callable[[], object]]) -> dict[str, float]:
    times = []
    for call in calls:
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p99_ms": times[int(len(times) * 0.99) - 1], "max_ms": times[-1],
            "lookups": len(times)}


def lookups(path: Path, total: int, count: int) -> dict[str, dict[str, float]]:
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
        "sha256": _timed([partial(catalog.find, sha256=_sha256(i)) for i in sample]),
        # half on versions with an earlier state (by the title they had, moved or not), half on others
        "as_of_title": _timed([partial(snapshots.find_as_of, catalog, run, title=title) for run, title in as_of]),
    }
    found = [len(catalog.find(title=_title(_title_of(i)))) for i in sample[:100]]
    assert min(found) >= 1, "a lookup found nothing: the synthetic catalog is not what it should be"
    catalog.close()
    return results


def _rate(rows: int, wall: float, cpu: float) -> dict[str, float]:
    return {"rows": rows, "seconds": wall, "rows_per_s": rows / wall, "rows_per_cpu_s": rows / cpu}


def _clock(work: Callable[[], None]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def _batches(rows: list[Version]) -> Iterator[list[Version]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start:start + BATCH]


def _record(catalog: Catalog, run: int, rows: list[Version]) -> None:
    """As a full run records its listing: batch by batch, each batch's pending versions handed on
    (to the downloads) and dropped, not kept: a million of them alive would time the garbage collector."""
    for batch in _batches(rows):
        catalog.record_versions(run, batch)


def writes(directory: Path, count: int, big: Path | None, big_total: int) -> dict[str, dict[str, float]]:
    """record_versions as a full run calls it, against plain executemany of the same rows."""
    # in the order a full run records them: allimages lists titles by name
    rows = sorted((synthetic_version(i, wiki="writes") for i in range(count)), key=lambda v: v.title)
    path = directory / "writes.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    catalog = Catalog(path)
    first, second = catalog.start_run("writes", "full"), None
    results = {"record_versions, new": _rate(count, *_clock(
        lambda: _record(catalog, first, rows)))}
    second = catalog.start_run("writes", "full")
    results["record_versions, seen again"] = _rate(count, *_clock(
        lambda: _record(catalog, second, rows)))
    # Each title's description page, as the same listing reads it (revision ids in no relation to titles)
    rng = random.Random(3)
    pages = [{"wiki": "writes", "title": title, "page_id": n + 1, "rev_id": rng.randrange(1, 900_000_000),
              "rev_timestamp": "2024-01-01T00:00:00Z", "text": _PAGE_TEXT}
             for n, title in enumerate(dict.fromkeys(v.title for v in rows))]
    for name, run in (("new", first), ("seen again", second)):
        results[f"record_pages, {name}"] = _rate(len(pages), *_clock(
            lambda: [catalog.record_pages(run, pages[i:i + BATCH]) for i in range(0, len(pages), BATCH)]))
    # A backup marks a version stored once its bytes are (one transaction a file, from the download
    # pool); that is when it enters the sha1 and sha256 indexes.
    stored = min(count, 20_000)
    results["stored(), a transaction a version"] = _rate(stored, *_clock(lambda: [
        catalog.stored(i, _sha256(i), rows[i - 1].sha1, rows[i - 1].size, True, second) for i in range(1, stored + 1)]))
    results["catalog_bytes_per_version"] = {"bytes": _size(catalog, path) / count}
    catalog.close()

    plain = directory / "plain.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{plain}{suffix}").unlink(missing_ok=True)
    catalog = Catalog(plain)
    run = catalog.start_run("writes", "full")
    insert = (f"INSERT INTO versions ({', '.join(VERSION_FIELDS)}, first_run, last_run) "
              f"VALUES ({', '.join('?' * len(VERSION_FIELDS))}, {run}, {run})")

    def plain_inserts() -> None:
        for batch in _batches(rows):
            with catalog.conn:
                catalog.conn.executemany(insert, [v[:len(VERSION_FIELDS)] for v in batch])

    results["plain executemany, same table"] = _rate(count, *_clock(plain_inserts))
    catalog.close()

    if big is not None:  # at scale: the indexes no longer fit the page cache
        catalog = Catalog(big)
        run = catalog.start_run("writes", "full")
        extra = rows[:min(count, 200_000)]
        results[f"record_versions, new, into {big_total:,}"] = _rate(len(extra), *_clock(
            lambda: _record(catalog, run, extra)))
        with catalog.conn:  # leave the reused catalog as it was
            catalog.conn.execute("DELETE FROM versions WHERE first_run = ?", (run,))
            catalog.conn.execute("DELETE FROM snapshots WHERE run = ?", (run,))
            catalog.conn.execute("DELETE FROM runs WHERE id = ?", (run,))
        catalog.close()
    return results


def _size(catalog: Catalog, path: Path) -> int:
    catalog.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=10_000_000, help="versions in the synthetic catalog")
    parser.add_argument("--writes", type=int, default=1_000_000, help="versions written through record_versions")
    parser.add_argument("--lookups", type=int, default=20_000, help="lookups of each kind")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/mediarescue-bench-catalog"))
    parser.add_argument("--fresh", action="store_true", help="build the synthetic catalog again")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    big = args.dir / f"catalog-{args.versions}.db"
    reused = False
    if not args.fresh and big.exists():
        with sqlite3.connect(big) as db:
            try:
                reused = db.execute("SELECT versions, build FROM bench_meta").fetchone() == (args.versions, BUILD)
            except sqlite3.OperationalError:
                reused = False
    if not reused:
        say(f"building a synthetic catalog of {args.versions:,} versions in {big}")
        began = time.monotonic()
        build(big, args.versions)
        say(f"built in {time.monotonic() - began:.0f} s")
    else:
        say(f"reusing {big}")
    with sqlite3.connect(big) as db:
        states = db.execute("SELECT COUNT(*) FROM version_states").fetchone()[0]
        # pages in use: rows deleted by an earlier run's writes leave free pages in the file
        size = db.execute("SELECT (page_count - freelist_count) * page_size FROM pragma_page_count, "
                          "pragma_freelist_count, pragma_page_size").fetchone()[0]
    say("writes")
    write_results = writes(args.dir, args.writes, big, args.versions)
    say("lookups")
    lookup_results = lookups(big, args.versions, args.lookups)

    print(f"catalog of {args.versions:,} versions ({states:,} earlier states): {size / 2**30:.2f} GiB, "
          f"{size / args.versions:.0f} bytes per version (indexes included)")
    for what, r in write_results.items():
        if "rows" in r:
            print(f"write  {what:42} {r['rows_per_s']:>9,.0f} rows/s ({r['rows_per_cpu_s']:,.0f} per CPU second), "
                  f"{r['rows']:,} rows in {r['seconds']:.1f} s")
    per_version = write_results["catalog_bytes_per_version"]["bytes"]
    print(f"write  catalog size per version, its description page included (writes.db): {per_version:.0f} bytes")
    for what, r in lookup_results.items():
        print(f"lookup {what:12} p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  max {r['max_ms']:.2f} ms "
              f"({r['lookups']:,} lookups)")
    RESULTS.parent.mkdir(exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    RESULTS.write_text(json.dumps({
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": commit,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
                    "load_average": os.getloadavg()},
        "catalog": {"versions": args.versions, "earlier_states": states, "bytes": size,
                    "bytes_per_version": size / args.versions, "reused": reused},
        "writes": write_results, "lookups": lookup_results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
