"""Deleted versions on a wiki without Swift (issue 13): with `upload_dir` the collector reads the
wiki's upload directory (public, archive and deleted zone, as MediaWiki lays them out), so a full
backup holds every deleted version with its sha1 verified, and `verify --all` finds a deleted-zone
file that is gone. On a filesystem-backed test bed of its own."""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediarescue.catalog.base import records
from mediarescue.mediawiki import deleted_path
from testbed.bed import TestBed
from testbed.media import write_media
from testbed.seed import SAME_TITLE_GAP
from testbed.storage import BedStorage
from tests.conftest import _running_bed, mediarescue, seeder_api

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fs_wiki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestBed, Path, dict[str, list[str]]]]:
    for test_bed in _running_bed("pytest-uploaddir", "fs"):
        work = tmp_path_factory.mktemp("upload-dir")
        api = seeder_api(test_bed)
        sha1s: dict[str, list[str]] = {}
        for n, (title, versions) in enumerate((("Kept.png", 2), ("Deleted whole.png", 2), ("Deleted once.gif", 1),
                                               ("Old version deleted.png", 2))):
            for v in range(versions):
                path = work / f"{n}-{v}.{title.rsplit('.', 1)[1]}"
                write_media(path, title.rsplit(".", 1)[1], 4000 + 10 * n + v, 12_000)
                assert api.upload(path, title, ignore_warnings=True)["result"] == "Success"
                sha1s.setdefault(f"File:{title}", []).insert(0, hashlib.sha1(path.read_bytes()).hexdigest())
                time.sleep(SAME_TITLE_GAP)
        api.post(action="delete", title="File:Deleted whole.png", reason="test")
        api.post(action="delete", title="File:Deleted once.gif", reason="test")
        old = api.get(action="query", titles="File:Old version deleted.png", prop="imageinfo", iilimit="max",
                      iiprop="archivename")["query"]["pages"][0]["imageinfo"][1]["archivename"]
        api.post(action="delete", title="File:Old version deleted.png", oldimage=old, reason="test")
        config = test_bed.write_config(work / "mediarescue.toml", work / "catalog.db", work / "blobs")
        config.write_text(config.read_text() + f'upload_dir = "{test_bed.images_dir}"\n')
        yield test_bed, config, sha1s


def test_a_full_backup_with_upload_dir_holds_every_deleted_version_verified(fs_wiki: tuple) -> None:
    test_bed, config, sha1s = fs_wiki
    done = mediarescue(config, "backup", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["unreachable"] == 0
    with sqlite3.connect(config.parent / "catalog.db") as db:
        deleted = [tuple(row.values()) for row in records(db.execute(  # records(): the hashes as hex
            "SELECT v.title, v.sha1, v.backup_status, b.sha1 AS stored_sha1 FROM versions AS v LEFT JOIN blobs AS b "
            "ON b.sha256 = v.sha256 WHERE v.status = 'deleted'"))]
    expected = {("File:Deleted whole.png", s) for s in sha1s["File:Deleted whole.png"]} | \
        {("File:Deleted once.gif", sha1s["File:Deleted once.gif"][0]),
         ("File:Old version deleted.png", sha1s["File:Old version deleted.png"][1])}
    assert {(title, sha1) for title, sha1, _, _ in deleted} == expected
    # stored, and the sha1 of the bytes read from the upload directory is the one the wiki recorded
    assert all(status == "ok" and stored_sha1 == sha1 for _, sha1, status, stored_sha1 in deleted), deleted


def test_verify_all_reports_a_lost_deleted_zone_file(fs_wiki: tuple) -> None:
    test_bed, config, sha1s = fs_wiki
    assert mediarescue(config, "verify", "--all").returncode == 0
    lost = sha1s["File:Deleted whole.png"][0]
    BedStorage(test_bed).lose("deleted", deleted_path(lost, "Deleted whole.png"))
    done = mediarescue(config, "verify", "--all", "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    findings = json.loads(done.stdout)["findings"]
    assert [(f["title"], f["problem"], f["sha1"]) for f in findings] == [("File:Deleted whole.png", "deleted-missing",
                                                                         lost)]
