"""The seeded history is what the seed says it is, read back from the real wiki and its storage."""
from __future__ import annotations

import hashlib

import pytest
import requests

from mediarescue.mediawiki import archive_path, deleted_path, public_path
from testbed.bed import TestBed
from testbed.describe import media_state
from testbed.seed import SeedError, seed
from testbed.storage import BedStorage
from tests.conftest import seeder_api

pytestmark = pytest.mark.integration


def test_seeded_history_is_on_the_wiki_and_in_its_storage(any_bed: TestBed) -> None:
    api = seeder_api(any_bed)
    result = seed(api, count=10, seed=7, size=12_000, large_size=21 * 2**20)
    files, deleted, redirects = media_state(api)
    seeded = {title: files[title] for title in result.files}
    assert {t: [v["sha1"] for v in versions] for t, versions in seeded.items()} == result.files
    assert {t for t in files if t.startswith("File:Seed")} == {t for t in result.files if t.startswith("File:Seed")}
    assert sorted((row["title"], row["sha1"]) for row in deleted if row["title"] in result.deleted) == \
        sorted((title, sha1) for title, sha1s in result.deleted.items() for sha1 in sha1s)
    assert redirects == {**redirects, **result.redirects}

    roles = result.roles
    assert len(result.files[roles["history"]]) == 3
    assert result.files[roles["duplicate_copy"]] == result.files[roles["duplicate_original"]]
    assert roles["deleted"] not in files and len(result.deleted[roles["deleted"]]) == 2
    assert len(result.files[roles["old_version_deleted"]]) == 1
    assert roles["moved_from"] not in files and roles["moved_to"] in files
    assert files[roles["large"]][0]["size"] >= 20 * 2**20
    mimes = {files[t][0]["mime"] for t in result.files}
    assert {"image/png", "image/jpeg", "image/gif", "image/svg+xml", "application/pdf", "image/tiff",
            "application/ogg", "video/webm"} <= mimes
    assert any(not t.isascii() for t in result.files) and any("," in t for t in result.files)

    # every stored object holds the bytes the wiki records, current, old and deleted alike
    storage = BedStorage(any_bed)
    for title, versions in seeded.items():
        name = title.split(":", 1)[1]
        for version in versions:
            path = archive_path(version["archivename"]) if "archivename" in version else public_path(name)
            assert storage.sha1("public", path) == version["sha1"], (title, path)
    for row in deleted:
        assert storage.sha1("deleted", deleted_path(row["sha1"], row["name"])) == row["sha1"]

    # description pages carry the license
    text = api.get(action="query", titles=roles["history"], prop="revisions", rvprop="content",
                   rvslots="main")["query"]["pages"][0]["revisions"][0]["slots"]["main"]["content"]
    assert "cc-by-sa-4.0" in text

    large = requests.get(files[roles["large"]][0]["url"], timeout=60)
    assert hashlib.sha1(large.content).hexdigest() == result.files[roles["large"]][0]

    with pytest.raises(SeedError, match="already holds"):
        seed(api)
