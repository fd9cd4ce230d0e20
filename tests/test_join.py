"""Collectors on many processes sharing a PostgreSQL catalog, on the real test bed: one lister and
three `backup --join` processes, one of them killed -9 while it holds claims; the run completes,
every version is stored once, and the catalog equals the one a single SQLite run makes of the same
wiki. Then verify and restore work from the PostgreSQL catalog. And on SQLite, --join is refused."""
from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path

import pytest

from mediarescue.catalog import Catalog
from mediarescue.catalog.engine import Postgres, PostgresURL
from mediarescue.mediawiki import public_path
from testbed.bed import TestBed
from testbed.seed import SeedResult
from testbed.storage import BedStorage
from tests.conftest import Catalogs, kill_one_then_finish, mediarescue, slow_api

pytestmark = pytest.mark.integration
COMPARED = ("id", "title", "title_at_upload", "timestamp", "user", "comment", "size", "mime", "media_type", "sha1",
            "sha256", "status", "archive_name", "filearchive_id", "private", "backup_status", "error")


def _versions(catalog: Catalog) -> list[tuple]:
    return [tuple(row[c] for c in COMPARED) for row in sorted(catalog.find(wiki="testbed"), key=lambda r: r["id"])]


def _claims_of(target: PostgresURL, pid: int) -> int:
    with contextlib.closing(Postgres(target).connect()) as conn:
        return conn.execute("SELECT COUNT(*) FROM fetch_queue WHERE owner LIKE ?", (f"%:{pid}:%",)).fetchone()[0]


def _wait_until_waiting(target: PostgresURL, count: int, timeout: float = 60) -> None:
    """Until `count` sessions are polling the catalog for a run to join (Catalog.running_run is
    their last statement): the joined processes, up. Not any session: a closed one stays in
    pg_stat_activity until its server process has exited, a moment after its client went."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception), contextlib.closing(Postgres(target).connect()) as conn:
            polling = conn.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND query LIKE 'SELECT MAX(id) FROM runs WHERE wiki = $1 AND status = %'"
                                   ).fetchone()[0]
            if polling >= count:
                return
        time.sleep(0.1)
    raise AssertionError(f"{count} joined processes did not connect within {timeout:.0f} s")


def test_one_lister_and_three_joined_processes_one_killed_store_every_version_once(
        postgres_bed: TestBed, postgres_seeded: SeedResult, tmp_path: Path) -> None:
    seeded = postgres_seeded
    target = Catalogs("postgres", tmp_path, postgres_bed).new("joined")
    config = postgres_bed.write_config(tmp_path / "pg.toml", target.url, tmp_path / "blobs", workers=1)
    # The joined processes first, waiting for a run (up to 60 s): a lister started with them can
    # finish a wiki this small before they are up, and none of them would hold a claim to be killed.
    joiners = [mediarescue(config, "backup", "--join", "--lease", "3", "--workers", "1", wait=False)
               for _ in range(3)]
    _wait_until_waiting(target, len(joiners))
    # The lister asks its wiki through a proxy that delays each request 0.2 s: it enqueues batch by batch
    # while the joined processes claim, rather than all at once before they look (1 failure in a full suite).
    proxy, slow = slow_api(postgres_bed, config, 0.2)
    lister = mediarescue(slow, "backup", "--lease", "3", wait=False)
    held = kill_one_then_finish(lister, joiners, proxy, lambda pid: _claims_of(target, pid), "a claim")

    catalog = Catalog.open_existing(target)
    rows = catalog.find(wiki="testbed")
    assert len(rows) == len({r["id"] for r in rows}) == \
        sum(map(len, seeded.files.values())) + sum(map(len, seeded.deleted.values()))
    assert {r["backup_status"] for r in rows} == {"ok"}
    assert catalog.work_left(1) == 0 and catalog.run(1)["status"] == "done"
    blobs = [p for p in (tmp_path / "blobs").rglob("*") if re.fullmatch(r"[0-9a-f]{64}(\.enc)?", p.name)]
    assert sorted(p.name.removesuffix(".enc") for p in blobs) == sorted({r["sha256"] for r in rows})  # once each
    # a blob the killed process stored but never recorded is found in the store by its successor: not new
    assert len(blobs) - held <= catalog.run(1)["new_blobs"] <= len(blobs)

    single = postgres_bed.write_config(tmp_path / "sqlite.toml", tmp_path / "single.db", tmp_path / "single-blobs")
    done = mediarescue(single, "backup")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _versions(catalog) == _versions(Catalog.open_existing(tmp_path / "single.db"))

    # verify and restore, from the PostgreSQL catalog: a current version lost, found, put back by the bot
    lost = next(t for t in seeded.files if t.startswith("File:Seed") and len(seeded.files[t]) == 1)
    BedStorage(postgres_bed).lose("public", public_path(lost[5:]))
    found = mediarescue(config, "verify", "--all", "--titles")
    assert found.returncode == 1 and lost.removeprefix("File:") in found.stdout.replace("_", " "), \
        found.stdout + found.stderr
    restored = mediarescue(config, "restore", "--from-verify", "--yes", "--reason", "test")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    again = mediarescue(config, "verify", "--all", "--titles")
    assert again.returncode == 0 and again.stdout.strip() == "", again.stdout + again.stderr


def test_joining_an_sqlite_catalog_is_refused_in_one_line(tmp_path: Path, postgres_bed: TestBed) -> None:
    config = postgres_bed.write_config(tmp_path / "m.toml", tmp_path / "c.db", tmp_path / "blobs")
    done = mediarescue(config, "backup", "--join")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "PostgreSQL catalog" in done.stderr
    assert not (tmp_path / "c.db").exists()


def test_join_with_follow_is_refused_in_one_line(tmp_path: Path, postgres_bed: TestBed) -> None:
    target = Catalogs("postgres", tmp_path, postgres_bed).new("follow")
    config = postgres_bed.write_config(tmp_path / "pg.toml", target.url, tmp_path / "blobs")
    done = mediarescue(config, "backup", "--join", "--follow")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--follow" in done.stderr, done.stderr
