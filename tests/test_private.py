"""What the wiki deletes or hides after a backup becomes private in the catalog, and its blob sealed
by the very run that learns of it, on a real test bed of its own (Swift-backed), through the real
`mediarescue` command with an encryption key: deletions an incremental or a full run reads in the
log, a deletion whose log entry an oversighter suppressed, a filearchive row whose content is
hidden from the bot, a revision-deleted old version. No run makes any of them public again.

The tests share one wiki and one catalog and run in file order: each builds on the last.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mediarescue.blobstore.crypto import generate_key, parse_key
from mediarescue.blobstore.local import LocalBlobStore
from mediarescue.catalog.base import records
from mediarescue.mediawiki import MediaWiki
from testbed.bed import TestBed
from testbed.media import write_media
from testbed.seed import SAME_TITLE_GAP
from tests.conftest import _running_bed, mediarescue, seeder_api

pytestmark = pytest.mark.integration
ROLES = ("incremental", "full", "suppressed", "hidden_row", "hidden_row_logged", "history", "kept", "corrupt")


@dataclass
class Bed:
    bed: TestBed
    config: Path
    catalog: Path
    blobs: Path
    titles: dict[str, str]
    data: dict[str, bytes] = field(default_factory=dict)  # title -> its current bytes at the first backup
    old_data: bytes = b""  # the history file's old version


def _cli(config: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess:
    done = mediarescue(config, *args)
    assert done.returncode == code, done.stdout + done.stderr
    return done


def _backup(bed: Bed, *args: str) -> dict[str, Any]:
    done = json.loads(_cli(bed.config, "backup", *args, "--json").stdout)
    assert done["run"]["status"] == "done" and done["errors"] == [], done
    return done


def _rows(bed: Bed, title: str) -> list[dict[str, Any]]:
    with sqlite3.connect(bed.catalog) as db:  # hashes and times as the catalog's callers get them
        return records(db.execute("SELECT v.*, b.encrypted FROM versions AS v LEFT JOIN blobs AS b "
                                  "ON b.sha256 = v.sha256 WHERE title = ? ORDER BY timestamp", (title,)))


def _assert_sealed(bed: Bed, row: dict[str, Any], plaintext: bytes) -> None:
    """The blob is on disk sealed only, the catalog says so, and `find` still shows the version."""
    folder = bed.blobs / row["sha256"][:2] / row["sha256"][2:4]
    assert not (folder / row["sha256"]).exists()
    sealed = (folder / f"{row['sha256']}.enc").read_bytes()
    assert plaintext[100:164] not in sealed and row["encrypted"] == 1
    found = json.loads(_cli(bed.config, "find", row["title"], "--json").stdout)
    assert any(f["id"] == row["id"] and f["status"] == row["status"] and f["private"] == 1 for f in found)


def _logged_in(api_url: str, user: str, password: str) -> MediaWiki:
    api = MediaWiki(api_url, contact="mediarescue tests")
    api.login(user, password)
    return api


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    for test_bed in _running_bed("pytest-private", "swift"):
        where = tmp_path_factory.mktemp("private")
        config = test_bed.write_config(where / "mediarescue.toml", where / "catalog.db", where / "blobs")
        (where / "key").write_text(generate_key() + "\n")
        config.write_text(f'encryption_key_file = "{where / "key"}"\n' + config.read_text())
        bed = Bed(test_bed, config, where / "catalog.db", where / "blobs",
                  {role: f"File:Private {role.replace('_', ' ')}.png" for role in ROLES})
        api = seeder_api(test_bed)
        for n, (role, title) in enumerate(bed.titles.items()):
            path = where / f"{role}.png"
            write_media(path, "png", 4_000 + n, 12_000)
            assert api.upload(path, title.removeprefix("File:"))["result"] == "Success"
            bed.data[title] = path.read_bytes()
        bed.old_data = bed.data[bed.titles["history"]]
        time.sleep(SAME_TITLE_GAP)
        write_media(where / "newer.png", "png", 4_100, 12_000)
        assert api.upload(where / "newer.png", bed.titles["history"].removeprefix("File:"),
                          ignore_warnings=True)["result"] == "Success"
        _backup(bed)
        assert all(r["encrypted"] == 0 and r["private"] == 0 for t in bed.titles.values() for r in _rows(bed, t))
        time.sleep(SAME_TITLE_GAP)
        yield bed


def test_a_deletion_an_incremental_run_reads_seals_the_blob(private: Bed) -> None:
    title = private.titles["incremental"]
    seeder_api(private.bed).post(action="delete", title=title, reason="a community decision")
    _backup(private, "--incremental")
    [row] = _rows(private, title)
    assert (row["status"], row["private"], row["backup_status"]) == ("deleted", 1, "ok")
    _assert_sealed(private, row, private.data[title])


def test_a_deletion_a_full_run_reads_seals_the_blob(private: Bed) -> None:
    title = private.titles["full"]
    seeder_api(private.bed).post(action="delete", title=title, reason="a community decision")
    _backup(private, "--full")
    [row] = _rows(private, title)
    assert (row["status"], row["private"]) == ("deleted", 1)
    _assert_sealed(private, row, private.data[title])
    checked = json.loads(_cli(private.config, "check", "--read-data", "--json").stdout)
    assert checked["ok"] and checked["sealed"] == 0 and checked["unsealed_private"] == 0  # nothing left to check


def test_a_suppressed_deletion_is_recorded_deleted_private_and_sealed_by_the_next_full_run(private: Bed) -> None:
    title, bed = private.titles["suppressed"], private.bed
    oversighter = _logged_in(bed.api_url, bed.oversight_user, bed.oversight_password)
    logid = oversighter.post(action="delete", title=title, reason="doxxing")["delete"]["logid"]
    reply = oversighter.post(action="revisiondelete", type="logging", ids=logid, hide="content|comment|user",
                             suppress="yes", reason="oversight")
    assert reply["revisiondelete"]["status"] == "Success"
    bot = _logged_in(bed.api_url, bed.bot_user, bed.bot_password)
    seen = next(bot.query(list="logevents", letitle=title), {}).get("logevents", [])
    assert not any(e.get("type") == "delete" for e in seen)  # the bot cannot see the deletion in the log

    # An incremental run learns only from the log: it cannot know (the README says so).
    _backup(private, "--incremental")
    assert [(r["status"], r["private"]) for r in _rows(private, title)] == [("current", 0)]
    _backup(private, "--full")  # the filearchive says it plainly
    [row] = _rows(private, title)
    assert (row["status"], row["private"]) == ("deleted", 1)
    _assert_sealed(private, row, private.data[title])
    for kind in ("--incremental", "--full"):  # and no later run makes it public again
        _backup(private, kind)
        assert [(r["status"], r["private"], r["encrypted"]) for r in _rows(private, title)] == [("deleted", 1, 1)]


def _hide_archived_content(oversighter: MediaWiki, title: str) -> None:
    [row] = next(oversighter.query(list="filearchive", fafrom=title.removeprefix("File:").replace(" ", "_"),
                                   fato=title.removeprefix("File:").replace(" ", "_"), faprop="sha1"))["filearchive"]
    reply = oversighter.post(action="revisiondelete", type="filearchive", target=title, ids=row["id"],
                             hide="content", suppress="yes", reason="oversight")
    assert reply["revisiondelete"]["status"] == "Success"


def test_filearchive_rows_hidden_from_the_bot_are_matched_by_name_and_time(private: Bed) -> None:
    bed, logged, silent = private.bed, private.titles["hidden_row_logged"], private.titles["hidden_row"]
    oversighter = _logged_in(bed.api_url, bed.oversight_user, bed.oversight_password)
    oversighter.post(action="delete", title=logged, reason="copyright")  # the bot sees this deletion in the log
    _hide_archived_content(oversighter, logged)
    logid = oversighter.post(action="delete", title=silent, reason="doxxing")["delete"]["logid"]
    oversighter.post(action="revisiondelete", type="logging", ids=logid, hide="content|comment|user", suppress="yes")
    _hide_archived_content(oversighter, silent)  # ... and neither this one nor its content
    bot = _logged_in(bed.api_url, bed.bot_user, bed.bot_password)
    archived = {r["title"]: r for reply in bot.query(list="filearchive", faprop="sha1|size")
                for r in reply["filearchive"]}
    assert "sha1" not in archived[logged] and "sha1" not in archived[silent] and archived[silent]["filehidden"]

    _backup(private, "--incremental")
    [row] = _rows(private, logged)
    assert (row["status"], row["private"]) == ("deleted", 1)
    _assert_sealed(private, row, private.data[logged])
    _backup(private, "--full")
    [row] = _rows(private, silent)  # not left current and public, nor vanished
    assert (row["status"], row["private"]) == ("deleted", 1)
    _assert_sealed(private, row, private.data[silent])


def test_a_revision_deleted_old_version_becomes_private_and_sealed(private: Bed) -> None:
    title = private.titles["history"]
    api = seeder_api(private.bed)
    old = next(v for v in api.get(action="query", titles=title, prop="imageinfo", iilimit="max",
                                  iiprop="archivename")["query"]["pages"][0]["imageinfo"] if "archivename" in v)
    reply = api.post(action="revisiondelete", type="oldimage", target=title, ids=old["archivename"].split("!")[0],
                     hide="content", reason="a personal detail")
    assert reply["revisiondelete"]["status"] == "Success"
    _backup(private, "--full")
    old_row, current = _rows(private, title)
    assert (old_row["status"], old_row["private"], current["status"], current["private"]) == ("old", 1, "current", 0)
    assert old_row["sha1"] == hashlib.sha1(private.old_data).hexdigest()
    _assert_sealed(private, old_row, private.old_data)
    assert current["encrypted"] == 0  # the current version stays as it was
    kept = _rows(private, private.titles["kept"])
    assert [(r["status"], r["private"], r["encrypted"]) for r in kept] == [("current", 0, 0)]


def test_a_backup_sweeps_what_killed_runs_left_but_never_a_live_writers_file(private: Bed) -> None:
    store = LocalBlobStore(private.blobs, encryption_key=parse_key((private.config.parent / "key").read_text()))
    leftovers = [store.tmp / f"incoming-killed{n}" for n in range(3)]  # no writer holds them any more
    for leftover in leftovers:
        leftover.write_bytes(b"half a file")
    writing, go_on, stored = threading.Event(), threading.Event(), []

    def slow_chunks() -> Iterator[bytes]:
        yield b"another catalog's run, "
        writing.set()
        go_on.wait(120)
        yield b"writing to the same store"

    live = threading.Thread(target=lambda: stored.append(store.put(slow_chunks())))
    live.start()
    try:
        assert writing.wait(30)
        [live_file] = [f for f in store.tmp.glob("incoming-*") if f not in leftovers]
        _backup(private, "--incremental")
        assert not any(f.exists() for f in leftovers) and live_file.exists()
    finally:
        go_on.set()
        live.join(30)
    assert store.open(stored[0].sha256).read() == b"another catalog's run, writing to the same store"
    assert list(store.tmp.glob("incoming-*")) == []


def test_a_blob_that_cannot_be_sealed_is_an_error_of_the_run_and_check_takes_it_from_there(private: Bed) -> None:
    title = private.titles["corrupt"]
    [row] = _rows(private, title)
    blob = private.blobs / row["sha256"][:2] / row["sha256"][2:4] / row["sha256"]
    blob.write_bytes(b"rotted on the backup disk")
    seeder_api(private.bed).post(action="delete", title=title, reason="a community decision")
    done = _cli(private.config, "backup", "--incremental", code=1)
    assert "could not be sealed" in done.stdout and "Traceback" not in done.stdout + done.stderr
    [row] = _rows(private, title)
    assert (row["status"], row["private"], row["encrypted"]) == ("deleted", 1, 0)  # recorded, not sealed
    assert not blob.with_name(blob.name + ".enc").exists()  # nothing half-written
    checked = json.loads(_cli(private.config, "check", "--repair", "--yes", "--json", code=1).stdout)
    assert [p["sha256"] for p in checked["corrupt"]] == [row["sha256"]] and not blob.exists()  # quarantined
