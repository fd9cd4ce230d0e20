"""The backup survives the loss of its catalog (issue 11), on a real test bed of its own, through the
real `mediarescue` command, with the blobs (and so the metadata) in a local store and in Swift, an
encryption key configured: seed, full backup, changes, incremental backup, forget; the catalog is
lost; `catalog recover` rebuilds it from the store alone, equal row for row; the wiki is damaged and
restored from the recovered catalog. A kill -9 during the metadata write at each point leaves a
store that still recovers exactly; a damaged catalog stops every verb with one line.

The tests of one store share one catalog and run in file order: each builds on the last.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from mediarescue.catalog.dump import table_rows
from mediarescue.catalog.schema import DUMPED_TABLES
from mediarescue.mediawiki import MediaWiki, public_path
from mediarescue.swift import SwiftStore
from testbed.bed import TestBed
from testbed.media import write_media
from testbed.seed import SAME_TITLE_GAP, seed
from testbed.storage import BedStorage
from tests.conftest import _running_bed, mediarescue, seeder_api

pytestmark = pytest.mark.integration
CRASH_POINTS = ("metadata-writing", "metadata-written", "metadata-installed", "metadata-recorded")


@pytest.fixture(scope="module")
def wiki() -> Iterator[TestBed]:
    for test_bed in _running_bed("pytest-metadata", "swift"):
        seed(seeder_api(test_bed), count=6)
        yield test_bed


@dataclass
class Story:
    bed: TestBed
    kind: str                     # local | swift: where the blobs and the metadata are kept
    config: Path
    catalog: Path
    work: Path
    titles: dict[str, str]
    runs: dict[str, int] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)  # what the catalog answered before it was lost
    lost: Path | None = None      # a copy of the catalog as it was when it was lost


def _cli(config: Path, *args: str, ok: bool = True, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess:
    done = mediarescue(config, *args, env={"COLUMNS": "200", **(env or {})})
    if ok:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def _json(config: Path, *args: str) -> Any:
    return json.loads(_cli(config, *args, "--json").stdout)


def _upload(api: MediaWiki, work: Path, title: str, variant: int) -> str:
    path = work / "upload.png"
    write_media(path, "png", 70_000 + variant, 9_000)
    result = api.upload(path, title.removeprefix("File:"), comment="metadata test", ignore_warnings=True,
                        text="A metadata test.\n{{self|cc-by-sa-4.0}}")
    assert result["result"] == "Success", result
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _config(test_bed: TestBed, work: Path, kind: str) -> Path:
    """The bed's config with a key, and for `swift` the blobs in the bed's Swift account."""
    config = test_bed.write_config(work / "mediarescue.toml", work / "catalog.db", work / "blobs")
    key = work / "blob-key"
    assert mediarescue(None, "keygen", str(key)).returncode == 0
    text = config.read_text().replace(f'blobs = "{work / "blobs"}"\n', f'encryption_key_file = "{key}"\n')
    if kind == "swift":
        (work / "blobs-swift-key").write_text(test_bed.swift_key)
        text += (f'\n[blobs_swift]\nauth_url = "{test_bed.swift_auth_url}"\nuser = "{test_bed.swift_user}"\n'
                 f'key_file = "{work / "blobs-swift-key"}"\ncontainer_prefix = "metadata-test-{os.getpid()}"\n'
                 f'spool = "{work / "spool"}"\n')
    else:
        text = text.replace(f'encryption_key_file = "{key}"\n',
                            f'encryption_key_file = "{key}"\nblobs = "{work / "blobs"}"\n')
    config.write_text(text)
    return config


@pytest.fixture(scope="module", params=["local", "swift"])
def story(request: pytest.FixtureRequest, wiki: TestBed, tmp_path_factory: pytest.TempPathFactory) -> Story:
    kind = request.param
    work = tmp_path_factory.mktemp(f"metadata-{kind}")
    api = seeder_api(wiki)
    titles = {role: f"File:Metadata {kind} {role}.png" for role in ("changed", "deleted", "moved", "kept")}
    titles["moved_to"] = f"File:Metadata {kind} moved here.png"
    for n, role in enumerate(("changed", "deleted", "moved", "kept")):
        _upload(api, work, titles[role], n + (10 if kind == "swift" else 0))
    s = Story(wiki, kind, _config(wiki, work, kind), work / "catalog.db", work, titles)
    s.runs["full"] = _json(s.config, "backup")["run"]["id"]
    time.sleep(SAME_TITLE_GAP)
    _upload(api, work, titles["changed"], 20 + (10 if kind == "swift" else 0))
    api.post(action="delete", title=titles["deleted"], reason="metadata test")
    api.post(action="move", **{"from": titles["moved"]}, to=titles["moved_to"], reason="metadata test")
    incremental = _json(s.config, "backup", "--incremental")
    assert incremental["metadata"]["kind"] == "delta", incremental["metadata"]
    s.runs["incremental"] = incremental["run"]["id"]
    s.runs["unchanged"] = _json(s.config, "backup", "--incremental")["run"]["id"]
    _upload(api, work, titles["changed"], 40 + (10 if kind == "swift" else 0))  # its version of run 2 becomes old
    s.runs["last"] = _json(s.config, "backup", "--incremental")["run"]["id"]
    _cli(s.config, "forget", "--keep-last", "3", "--yes")  # the full run is forgotten
    return s


def _answers(s: Story) -> dict[str, Any]:
    """What the verbs that read the catalog answer, for every title and point in time of the story."""
    def find(*args: str) -> tuple[int, Any]:
        done = _cli(s.config, "find", *args, "--json", ok=False)
        assert done.returncode in (0, 1), done.stderr
        return done.returncode, json.loads(done.stdout)

    found = {title: find(title) for title in s.titles.values()}
    as_of = {title: find(title, "--as-of", str(s.runs["incremental"])) for title in s.titles.values()}
    assert found[s.titles["moved"]] == (1, []) and found[s.titles["moved_to"]][0] == 0
    refused = _cli(s.config, "find", s.titles["kept"], "--as-of", str(s.runs["full"]), ok=False)
    plan = _json(s.config, "plan", "--title", s.titles["changed"], "--title", s.titles["kept"])
    return {"find": found, "as_of": as_of, "refused": (refused.returncode, refused.stderr),
            "snapshots": _json(s.config, "snapshots", "--all"), "plan": plan["decisions"]}


def _rows(catalog: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(catalog) as db:
        rows = {table: table_rows(db, table) for table in DUMPED_TABLES}
        rows["sqlite_sequence"] = db.execute("SELECT name, seq FROM sqlite_sequence ORDER BY name").fetchall()
        rows["catalog_identity"] = db.execute("SELECT id FROM catalog_identity").fetchall()
    return rows


def _copy(catalog: Path, to: Path) -> Path:
    with sqlite3.connect(catalog) as source, sqlite3.connect(to) as target:
        source.backup(target)
    return to


def _metadata_bytes(s: Story) -> dict[str, bytes]:
    """Every metadata object as stored, by name, read behind mediarescue's back."""
    if s.kind == "local":
        root = s.work / "blobs" / "metadata"
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    swift = SwiftStore(s.bed.swift_auth_url, s.bed.swift_user, s.bed.swift_key)
    container = f"metadata-test-{os.getpid()}-metadata"
    return {name: b"".join(swift.stream(container, name)) for name in swift.names(container)}


def test_the_recovered_catalog_equals_the_lost_one_row_for_row(story: Story) -> None:
    s = story
    s.answers = _answers(s)
    s.lost = _copy(s.catalog, s.work / "lost.db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{s.catalog}{suffix}").unlink(missing_ok=True)
    assert _cli(s.config, "find", s.titles["kept"], ok=False).returncode == 2  # no catalog: nothing to answer
    recovered = _json(s.config, "catalog", "recover")
    assert recovered["run"] == s.runs["last"] and recovered["objects"][0].split("-")[1] == "full"
    lost, found = _rows(s.lost), _rows(s.catalog)
    for table in lost:
        assert found[table] == lost[table], table
    assert len(lost["versions"]) > 20 and lost["version_states"] and lost["pages"] and lost["blobs"]
    assert _answers(s) == s.answers
    again = _cli(s.config, "catalog", "recover", ok=False)
    assert again.returncode == 2 and "never overwritten" in again.stderr
    check = _json(s.config, "check", "--read-data")
    assert check["metadata"]["problems"] == [] and check["metadata"]["read"] == check["metadata"]["objects"] > 1


def test_recover_as_of_an_earlier_run_gives_the_catalog_that_run_left(story: Story) -> None:
    s = story
    path = s.work / "as-of-full.db"
    _cli(s.config, "catalog", "recover", "--as-of", str(s.runs["full"]), str(path))
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT MAX(id) FROM runs").fetchone()[0] == s.runs["full"]
        titles = {t for (t,) in db.execute("SELECT title FROM versions WHERE status = 'current'")}
        assert s.titles["moved"] in titles and s.titles["deleted"] in titles and s.titles["moved_to"] not in titles


def test_no_deleted_title_can_be_read_in_the_stored_metadata(story: Story) -> None:
    s = story
    stored = _metadata_bytes(s)
    assert stored and all(name.endswith(".jsonl.gz.enc") for name in stored)
    for data in stored.values():
        assert s.titles["deleted"].encode() not in data
        assert b"Seed deleted later" not in data  # the seed's deleted file
        assert s.bed.bot_password.encode() not in data and s.bed.swift_key.encode() not in data
    with sqlite3.connect(s.catalog) as db:  # the catalog does hold it: the test could fail
        assert db.execute("SELECT COUNT(*) FROM versions WHERE title = ? AND status = 'deleted'",
                          (s.titles["deleted"],)).fetchone()[0] == 1


def test_a_damaged_wiki_is_restored_from_the_recovered_catalog(story: Story) -> None:
    s = story
    storage, title = BedStorage(s.bed), s.titles["kept"]
    storage.lose("public", public_path(title[5:]))
    done = _cli(s.config, "restore", "--title", title, "--yes", "--json")
    outcome = json.loads(done.stdout)["outcomes"]
    assert [(o["decision"], o["result"]) for o in outcome] == [("repair-current", "restored")]
    info = MediaWiki(s.bed.api_url).get(action="query", titles=title, prop="imageinfo",
                                        iiprop="sha1|url")["query"]["pages"][0]["imageinfo"][0]
    response = requests.get(info["url"], timeout=60)
    assert response.status_code == 200 and hashlib.sha1(response.content).hexdigest() == info["sha1"]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_kill_9_during_the_metadata_write_leaves_a_store_that_recovers_exactly(story: Story, point: str) -> None:
    s = story
    before = set(_metadata_bytes(s))
    _upload(seeder_api(s.bed), s.work, f"File:Metadata {s.kind} killed at {point}.png",
            100 + CRASH_POINTS.index(point) + (10 if s.kind == "swift" else 0))
    killed = _cli(s.config, "backup", "--incremental", ok=False, env={"MEDIARESCUE_TEST_CRASH_AT": point})
    assert killed.returncode == -9, killed.stdout + killed.stderr
    after = set(_metadata_bytes(s))
    assert before <= after  # nothing earlier was touched
    installed = point in ("metadata-installed", "metadata-recorded")
    assert len(after - before) == (1 if installed else 0)  # whole, or not there at all
    if not installed:  # the recovery from what the store holds now: the catalog as of the last object
        assert _json(s.config, "catalog", "recover", str(s.work / f"before-{point}.db"))["run"] < \
            _rows(s.catalog)["runs"][-1][0]
    rerun = _json(s.config, "backup", "--incremental")
    assert "error" not in rerun["metadata"]
    path = s.work / f"after-{point}.db"
    _cli(s.config, "catalog", "recover", str(path))
    live, recovered = _rows(s.catalog), _rows(path)
    for table in live:
        assert recovered[table] == live[table], table
    assert f"File:Metadata {s.kind} killed at {point}.png" in {row[2] for row in recovered["versions"]}


def test_export_then_import_gives_the_same_catalog(story: Story) -> None:
    s = story
    exported = _json(s.config, "catalog", "export", str(s.work / "catalog.jsonl.gz"))
    assert os.stat(s.work / "catalog.jsonl.gz").st_mode & 0o777 == 0o600 and exported["rows"] > 20
    _cli(s.config, "catalog", "import", str(s.work / "catalog.jsonl.gz"), str(s.work / "imported.db"))
    live, imported = _rows(s.catalog), _rows(s.work / "imported.db")
    assert imported.pop("catalog_identity") == []  # its own chain in the store, from its first write
    live.pop("catalog_identity")
    assert imported == live
    refused = _cli(s.config, "catalog", "import", str(s.config), str(s.work / "not.db"), ok=False)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert not (s.work / "not.db").exists()


def _store_state(s: Story) -> tuple:
    if s.kind == "local":
        return tuple(sorted((str(p), p.stat().st_size) for p in (s.work / "blobs").rglob("*") if p.is_file()))
    return tuple(sorted(_metadata_bytes(s)))


def test_a_damaged_catalog_stops_every_verb_with_one_line_and_writes_nothing(story: Story) -> None:
    s = story
    damaged = _copy(s.catalog, s.work / "damaged.db")
    with open(damaged, "r+b") as data:  # a few pages garbled, as a failing disk leaves them
        for page in (2, 3, 5):
            data.seek((page - 1) * 4096)
            data.write(os.urandom(4096))
    config = s.work / "damaged.toml"
    config.write_text(s.config.read_text().replace(f'catalog = "{s.catalog}"', f'catalog = "{damaged}"'))
    api = MediaWiki(s.bed.api_url)
    log_before = next(api.query(list="logevents", lelimit=1))["logevents"][0]["logid"]
    store_before, file_before = _store_state(s), damaged.read_bytes()
    verbs = [["backup"], ["backup", "--incremental"], ["find", s.titles["kept"]], ["snapshots"],
             ["forget", "--keep-last", "1", "--yes"], ["check"], ["check", "--repair", "--yes"], ["verify", "--all"],
             ["plan", "--title", s.titles["kept"]], ["restore", "--title", s.titles["kept"], "--yes"],
             ["catalog", "save"], ["catalog", "export", str(s.work / "from-damaged.gz")]]
    for verb in verbs:
        done = _cli(config, *verb, ok=False)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, (verb, done.stdout, done.stderr)
        assert str(damaged) in lines[0] and "mediarescue catalog recover" in lines[0] and "damaged" in lines[0]
    assert next(api.query(list="logevents", lelimit=1))["logevents"][0]["logid"] == log_before
    assert _store_state(s) == store_before and damaged.read_bytes() == file_before
    assert not (s.work / "from-damaged.gz").exists()
    shutil.copy(damaged, s.work / "damaged-copy.db")  # what an operator would keep for a post-mortem
