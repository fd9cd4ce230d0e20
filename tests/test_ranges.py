"""A full run's listing split by title ranges (`backup --list-split`, `--split-at`): where the cuts
fall (pure), that the ranges of the real wiki's listing neither overlap nor leave a gap (allimages'
and filearchive's `to` is inclusive), that recorders working at once on PostgreSQL give no id twice,
and a whole split run by a lister and two joined processes, one killed -9 while it lists a range,
whose catalog equals a single SQLite run's. On SQLite, --list-split is refused in one line."""
from __future__ import annotations

import contextlib
import random
import threading
from pathlib import Path

import pytest

from collector import ranges
from mediarescue.catalog import Catalog, Version
from mediarescue.catalog.engine import Postgres, PostgresURL
from policies import title_ranges
from policies.title_ranges import name_key
from testbed.bed import TestBed
from testbed.seed import SeedResult
from tests.conftest import Catalogs, kill_one_then_finish, mediarescue, seeder_api, slow_api
from tests.test_join import _wait_until_waiting

ODD = ["File:A", "File:A b.png", "File:A_c.png", "File:Ab.png", "File:Äpfel.jpg", "File:Zz.png", "File:ß.svg",
       "File:0 zero.png", "File:!bang.png", "File:(paren).png", "File:Émile, 1900.tif", "File:日本.png",
       "File:A b.png.old", "File:Z", "File:~tilde.png", "File:Apfel – Dash.png"]


# --- pure: the cuts ---
def test_quantile_positions_cut_equal_parts_and_never_before_the_first() -> None:
    assert title_ranges.quantile_positions(10, 3) == [3, 6]
    assert title_ranges.quantile_positions(100, 4) == [25, 50, 75]
    assert title_ranges.quantile_positions(2, 5) == [1]  # fewer titles than parts: fewer cuts
    assert title_ranges.quantile_positions(0, 3) == []
    assert title_ranges.quantile_positions(7, 1) == []


def test_first_character_cuts_are_spread_and_at_most_one_a_character() -> None:
    assert title_ranges.first_character_bounds(3) == ["File:C", "File:O"]
    assert title_ranges.first_character_bounds(2) == ["File:I"]
    assert title_ranges.first_character_bounds(1) == []
    many = title_ranges.first_character_bounds(500)
    assert [c[-1] for c in many] == list(title_ranges.FIRST_CHARACTERS[1:])


def test_cuts_are_put_in_mediawikis_byte_order_each_once() -> None:
    cuts = title_ranges.ordered_bounds(ODD + ["File:A_b.png", "File:Zz.png"])
    keys = [name_key(c) for c in cuts]
    assert keys == sorted(set(keys)) and len(cuts) == len(ODD)  # "A b.png" and "A_b.png" are one name
    assert name_key("File:A b.png") == b"A_b.png" < name_key("File:A_c.png") < name_key("File:Ab.png")
    assert keys[0] == b"!bang.png" and keys[-1] == "日本.png".encode()
    assert title_ranges.ranges(["File:B", "File:M"]) == [(None, "File:B"), ("File:B", "File:M"), ("File:M", None)]


def _served(titles: list[str], first: str | None, next_first: str | None) -> list[str]:
    """What the API serves for from/to: both ends included (ApiQueryBase::addWhereRange), byte order."""
    low, high = (name_key(first) if first else None), (name_key(next_first) if next_first else None)
    return [t for t in sorted(titles, key=name_key) if (low is None or name_key(t) >= low)
            and (high is None or name_key(t) <= high)]


def test_ranges_of_any_cuts_cover_every_title_once() -> None:
    rng = random.Random(7)
    for _ in range(200):
        titles = rng.sample(ODD, rng.randint(1, len(ODD)))
        cuts = title_ranges.ordered_bounds(rng.sample(ODD + ["File:B", "File:0"], rng.randint(0, 8)))
        listed = [t for first, nxt in title_ranges.ranges(cuts) for t in _served(titles, first, nxt)
                  if not title_ranges.next_ranges(t, nxt)]
        assert sorted(listed, key=name_key) == sorted(titles, key=name_key), cuts


# --- the real wiki: its from/to, its normalization ---
class _Collected:
    """Stands in for the recorder: the titles a listing hands over, in order."""

    def __init__(self) -> None:
        self.live: list[str] = []
        self.deleted: list[tuple[str, str]] = []

    def live_versions(self, page: dict) -> tuple[list, list, list]:
        self.live.append(page["title"])
        return [], [], []

    def deleted_version(self, row: dict) -> None:
        self.deleted.append((row["title"], row["timestamp"]))

    def record(self, *args: object, **kwargs: object) -> None:
        pass


def test_ranges_of_the_real_wikis_listing_neither_overlap_nor_leave_a_gap(
        postgres_bed: TestBed, postgres_seeded: SeedResult) -> None:
    api = seeder_api(postgres_bed)
    whole = _Collected()
    assert ranges.list_titles(api, whole, 7, True)  # type: ignore[arg-type]
    assert len(whole.live) > 20 and whole.deleted
    # cut at titles the wiki holds (live and deleted: their ends are where `to` includes them), and
    # at a name between two titles; each range lists its first title and not its next range's first
    deleted_titles = sorted({t for t, _ in whole.deleted})
    cuts = title_ranges.ordered_bounds([whole.live[5], whole.live[11], deleted_titles[0], whole.live[-1],
                                        whole.live[17] + " zz"])
    parts = []
    for first, next_first in title_ranges.ranges(cuts):
        part = _Collected()
        assert ranges.list_titles(api, part, 3, True, first, next_first)  # type: ignore[arg-type]
        parts.append(part)
    assert sorted(t for p in parts for t in p.live) == sorted(whole.live)  # once each (a batch is in page order)
    assert sorted(d for p in parts for d in p.deleted) == sorted(whole.deleted)
    for (first, next_first), part in zip(title_ranges.ranges(cuts), parts):
        assert all(title_ranges.name_key(t) < title_ranges.name_key(next_first or "\uffff")
                   for t in part.live + [d for d, _ in part.deleted])
        if first in whole.live:
            assert first in part.live


def test_cuts_given_are_spelled_as_the_wiki_spells_them_and_bad_ones_refused(
        postgres_bed: TestBed, tmp_path: Path) -> None:
    api = seeder_api(postgres_bed)
    catalog = Catalog(Catalogs("postgres", tmp_path, postgres_bed).new("cuts"))
    assert ranges.bounds(api, catalog, "testbed", 3, ["seed_b", "File:apple pie", "Seed b"]) == \
        ["File:Apple pie", "File:Seed b"]
    assert ranges.bounds(api, catalog, "testbed", 3) == ["File:C", "File:O"]  # nothing known: first characters
    with pytest.raises(ranges.BadSplit, match="not a file title"):
        ranges.bounds(api, catalog, "testbed", 2, ["a[b]"])


def test_cuts_of_a_catalog_that_knows_titles_are_its_quantiles(postgres_bed: TestBed, tmp_path: Path) -> None:
    catalog = Catalog(Catalogs("postgres", tmp_path, postgres_bed).new("quantiles"))
    run = catalog.start_run("testbed", "full")
    titles = [f"File:{c}{i:02}.png" for c in "QBA!ÄZ" for i in range(10)]
    catalog.record_versions(run, [_version(t, n) for n, t in enumerate(titles)] + [_version(titles[0], 99)])
    assert catalog.title_count("testbed") == len(titles)
    in_order = sorted(titles, key=name_key)  # PostgreSQL's collation aside: byte order
    assert catalog.titles_at("testbed", [0, 35, 59]) == [in_order[0], in_order[35], in_order[59]]
    api = seeder_api(postgres_bed)
    assert ranges.bounds(api, catalog, "testbed", 4) == [in_order[15], in_order[30], in_order[45]]


# --- PostgreSQL: recorders at once ---
def _version(title: str, n: int) -> Version:
    return Version("testbed", title, f"2024-01-01T00:{n // 60 % 60:02}:{n % 60:02}Z", f"{n:040x}", title, n, "current")


def test_recorders_at_once_on_postgresql_give_no_id_twice(postgres_bed: TestBed, tmp_path: Path) -> None:
    target = Catalogs("postgres", tmp_path, postgres_bed).new("racing")
    run = Catalog(target).start_run("testbed", "full")
    failures: list[BaseException] = []
    shared = [_version(f"File:Shared {n}.png", n) for n in range(300)]  # a range listed twice at once

    def record(worker: int) -> None:
        catalog = Catalog(target)
        try:
            for batch in range(15):
                catalog.record_versions(run, [_version(f"File:W{worker} b{batch} {n}.png", n) for n in range(200)])
                catalog.record_versions(run, shared[batch * 20:batch * 20 + 20])
        except BaseException as error:  # noqa: BLE001 - any failure of a recorder fails the test
            failures.append(error)
        finally:
            catalog.close()

    threads = [threading.Thread(target=record, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    rows = Catalog(target).find(wiki="testbed")
    assert len(rows) == 4 * 15 * 200 + 300
    assert sorted(r["id"] for r in rows) == list(range(1, len(rows) + 1))  # each id once, none skipped
    assert len({(r["title"], r["timestamp"], r["sha1"]) for r in rows}) == len(rows)


# --- the whole run, split ---
COMPARED = ("title", "title_at_upload", "timestamp", "user", "comment", "size", "mime", "media_type", "sha1",
            "sha256", "status", "archive_name", "filearchive_id", "private", "backup_status", "error")


def _versions(catalog: Catalog) -> list[tuple]:
    """Every version, without its id: a split run records ranges in another order than one lister."""
    return sorted(tuple(str(row[c]) for c in COMPARED) for row in catalog.find(wiki="testbed"))


def _ranges_of(target: PostgresURL, pid: int) -> int:
    with contextlib.closing(Postgres(target).connect()) as conn:
        return conn.execute("SELECT COUNT(*) FROM list_ranges WHERE done = 0 AND owner LIKE ?",
                            (f"%:{pid}:%",)).fetchone()[0]


def test_a_split_listing_by_a_lister_and_joined_processes_one_killed_equals_a_single_run(
        postgres_bed: TestBed, postgres_seeded: SeedResult, tmp_path: Path) -> None:
    target = Catalogs("postgres", tmp_path, postgres_bed).new("split")
    config = postgres_bed.write_config(tmp_path / "pg.toml", target.url, tmp_path / "blobs", workers=1)
    live = sorted(postgres_seeded.files, key=name_key)
    cuts = [live[len(live) * i // 5] for i in range(1, 5)]  # 5 ranges, each cut at a title the wiki holds
    joiners = [mediarescue(config, "backup", "--join", "--lease", "3", "--workers", "1", wait=False)
               for _ in range(2)]
    _wait_until_waiting(target, len(joiners))
    # The lister asks its wiki through a proxy that delays each request 0.3 s, so that the joined
    # processes (which look for a run each second) find ranges left to list, whatever the machine's speed.
    proxy, slow = slow_api(postgres_bed, config, 0.3)
    lister = mediarescue(slow, "backup", "--lease", "3", *(a for c in cuts for a in ("--split-at", c)), wait=False)
    kill_one_then_finish(lister, joiners, proxy, lambda pid: _ranges_of(target, pid), "a range")

    catalog = Catalog.open_existing(target)
    planned = catalog.ranges(1)
    assert len(planned) == 5 and all(r["done"] for r in planned)  # the victim's range too, listed again
    assert [r["first_title"] for r in planned[1:]] == cuts and catalog.run(1)["status"] == "done"
    rows = catalog.find(wiki="testbed")
    assert len(rows) == len({r["id"] for r in rows}) and {r["backup_status"] for r in rows} == {"ok"}
    assert catalog.work_left(1) == 0

    single = postgres_bed.write_config(tmp_path / "sqlite.toml", tmp_path / "single.db", tmp_path / "single-blobs")
    done = mediarescue(single, "backup")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _versions(catalog) == _versions(Catalog.open_existing(tmp_path / "single.db"))


def test_list_split_on_an_sqlite_catalog_is_refused_in_one_line(tmp_path: Path, postgres_bed: TestBed) -> None:
    config = postgres_bed.write_config(tmp_path / "m.toml", tmp_path / "c.db", tmp_path / "blobs")
    for args in (("--list-split", "3"), ("--split-at", "File:M.png")):
        done = mediarescue(config, "backup", *args)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "PostgreSQL catalog" in done.stderr, \
            done.stderr
    assert not (tmp_path / "c.db").exists()


def test_list_split_out_of_range_or_on_a_joined_process_is_refused_in_one_line(
        tmp_path: Path, postgres_bed: TestBed) -> None:
    target = Catalogs("postgres", tmp_path, postgres_bed).new("refused")
    config = postgres_bed.write_config(tmp_path / "pg.toml", target.url, tmp_path / "blobs")
    for args, said in ((("--list-split", "1"), "between 2 and"), (("--list-split", "3", "--join"), "lister only"),
                       (("--list-split", "3", "--incremental"), "lister only")):
        done = mediarescue(config, "backup", *args)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and said in done.stderr, done.stderr
