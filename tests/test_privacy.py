"""Never republish what the wiki hid, on the real wiki (Swift-backed and filesystem-backed): a file
an oversighter deleted (its log entry suppressed, or only hidden), or whose old version's content
is hidden, is never uploaded again, whatever the bot's account may see; a file the wiki really lost
(file rows gone, description page kept) still is."""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediarescue.mediawiki import MediaWiki
from testbed.bed import TestBed
from testbed.media import write_media
from testbed.seed import SAME_TITLE_GAP
from testbed.storage import BedStorage
from tests.conftest import _running_bed, mediarescue, seeder_api

pytestmark = pytest.mark.integration
BOT = "MediarescueBot"


class Wiki:
    def __init__(self, test_bed: TestBed, work: Path):
        self.bed, self.work = test_bed, work
        self.seeder = seeder_api(test_bed)
        self.oversighter = MediaWiki(test_bed.api_url)
        self.oversighter.login(test_bed.oversight_user, test_bed.oversight_password)
        self.anonymous = MediaWiki(test_bed.api_url)
        self.sha1: dict[str, str] = {}

    def upload(self, title: str, seed: int) -> None:
        write_media(self.work / "f.png", "png", seed, 8_000)
        self.sha1[title] = hashlib.sha1((self.work / "f.png").read_bytes()).hexdigest()
        assert self.seeder.upload(self.work / "f.png", title[5:], ignore_warnings=True)["result"] == "Success"

    def delete(self, title: str, suppress: bool) -> None:
        """An oversighter's deletion whose log entry is then hidden (and, with `suppress`, suppressed)."""
        logid = self.oversighter.post(action="delete", title=title, reason="private")["delete"]["logid"]
        reply = self.oversighter.post(action="revisiondelete", type="logging", ids=logid,
                                      hide="content|comment|user", suppress="yes" if suppress else "nochange",
                                      reason="oversight")
        assert reply["revisiondelete"]["status"] == "Success"

    def versions(self, title: str) -> list[dict]:
        return self.anonymous.get(action="query", titles=title, prop="imageinfo", iilimit="max",
                                  iiprop="timestamp|user|sha1|archivename")["query"]["pages"][0].get("imageinfo", [])

    def bot_uploads(self, title: str) -> list[dict]:
        return list(next(self.anonymous.query(list="logevents", letype="upload", letitle=title, leuser=BOT,
                                              lelimit=50))["logevents"])


@pytest.fixture(scope="module", params=["swift", "fs"])
def hidden(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Wiki, dict]]:
    """Backed up, then: one file deleted with a suppressed log entry, one with a hidden one, one old
    version hidden, two files lost by the database (their description pages kept)."""
    for test_bed in _running_bed(f"pytest-privacy-{request.param}", request.param):
        wiki = Wiki(test_bed, tmp_path_factory.mktemp("privacy"))
        t = {k: f"File:Privacy {k}.png" for k in ("suppressed", "hidden-log", "hidden-old", "lost", "lost-2")}
        for n, title in enumerate(t.values()):
            wiki.upload(title, 10 * n)
        time.sleep(SAME_TITLE_GAP)
        wiki.upload(t["hidden-old"], 99)
        config = test_bed.write_config(wiki.work / "m.toml", wiki.work / "c.db", wiki.work / "blobs")
        assert mediarescue(config, "backup").returncode == 0
        wiki.delete(t["suppressed"], suppress=True)
        wiki.delete(t["hidden-log"], suppress=False)
        old = wiki.versions(t["hidden-old"])[1]
        assert wiki.oversighter.post(action="revisiondelete", type="oldimage", target=t["hidden-old"],
                                     ids=old["archivename"].split("!")[0],
                                     hide="content", reason="private")["revisiondelete"]["status"] == "Success"
        storage = BedStorage(test_bed)
        storage.lose_file_records(t["lost"][5:])
        storage.lose_file_records(t["lost-2"][5:])
        yield wiki, {"config": config, **t}


def _decisions(config: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    done = mediarescue(config, "plan", *args, "--json", env=env)
    return {d["asked"]: (d["decision"], d["reason"]) for d in json.loads(done.stdout)["decisions"]}


def test_a_suppressed_or_hidden_deletion_is_never_republished_while_a_real_loss_is(hidden: tuple[Wiki, dict]) -> None:
    wiki, t = hidden
    config = t["config"]
    verified = mediarescue(config, "verify", "--all", "--json")
    findings = {f["title"]: f["problem"] for f in json.loads(verified.stdout)["findings"]}
    assert findings == {t["lost"]: "file-gone", t["lost-2"]: "file-gone"}, findings

    asked = [t[k] for k in ("suppressed", "hidden-log", "hidden-old")]
    decided = _decisions(config, *(arg for title in asked for arg in ("--title", title)))
    assert decided[t["suppressed"]][0] == "report-to-admin" and "filearchive" in decided[t["suppressed"]][1]
    assert decided[t["hidden-log"]][0] == "skip"  # the bot sees the hidden entry: a deletion, not a loss
    assert decided[t["hidden-old"]][0] == "nothing-to-do"  # the hidden old version is no broken version

    restored = mediarescue(config, "restore", "--from-verify", "--yes", "--json")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert {o["asked"]: o["result"] for o in json.loads(restored.stdout)["outcomes"]} == {
        t["lost"]: "restored", t["lost-2"]: "restored"}
    refused = mediarescue(config, "restore", *(arg for title in asked for arg in ("--title", title)), "--yes",
                          "--report-page", "Project:Privacy report")
    assert refused.returncode == 1  # a decision for an administrator is one the bot could not carry out
    for title in asked:
        assert wiki.bot_uploads(title) == [], title
    assert wiki.versions(t["suppressed"]) == [] and wiki.versions(t["hidden-log"]) == []
    assert [v.get("sha1") for v in wiki.versions(t["hidden-old"])] == [wiki.sha1[t["hidden-old"]], None]
    report = wiki.anonymous.get(action="query", titles="Project:Privacy report", prop="revisions", rvprop="content",
                                rvslots="main")["query"]["pages"][0]["revisions"][0]["slots"]["main"]["content"]
    assert "suppressed" not in report and "hidden-log" not in report  # deleted files are named on no public page
    assert "2 decisions about deleted content are left out" in report


def test_an_account_that_cannot_read_deletions_uploads_nothing_gone_unless_told(hidden: tuple[Wiki, dict]) -> None:
    wiki, t = hidden
    env = {"MEDIARESCUE_TESTBED_PASSWORD": wiki.bed.bot_no_deleted_password}
    config = t["config"].with_name("no-deleted.toml")
    config.write_text(t["config"].read_text().replace(wiki.bed.bot_user, wiki.bed.bot_no_deleted_user))
    planned = mediarescue(config, "plan", "--title", t["suppressed"], "--title", t["hidden-log"], "--title",
                          t["lost-2"], "--json", env=env)
    assert planned.stderr.count("cannot read deletions") == 1  # said once, up front
    decided = {d["asked"]: d["decision"] for d in json.loads(planned.stdout)["decisions"]}
    assert set(decided.values()) <= {"report-to-admin", "nothing-to-do"}  # lost-2 was restored in the test above
    refused = mediarescue(config, "restore", "--title", t["suppressed"], "--title", t["hidden-log"], "--yes", env=env)
    assert refused.returncode == 1 and wiki.bot_uploads(t["suppressed"]) == wiki.bot_uploads(t["hidden-log"]) == []

    storage = BedStorage(wiki.bed)
    storage.lose_file_records(t["lost-2"][5:])
    assert _decisions(config, "--title", t["lost-2"], env=env)[t["lost-2"]][0] == "report-to-admin"
    told = mediarescue(config, "restore", "--assume-lost", t["lost-2"], "--yes", "--json", env=env)
    assert told.returncode == 0, told.stdout + told.stderr
    [outcome] = json.loads(told.stdout)["outcomes"]
    assert (outcome["decision"], outcome["result"], outcome["assumed_lost"]) == ("reupload-file", "restored", True)
    assert "--assume-lost" in wiki.bot_uploads(t["lost-2"])[0]["comment"]
    assert wiki.versions(t["lost-2"])[0]["sha1"] == wiki.sha1[t["lost-2"]]
    # --assume-lost never overrides a deletion the wiki shows: the bot's own account reads the filearchive
    again = mediarescue(t["config"], "restore", "--assume-lost", t["suppressed"], "--yes", "--json")
    assert again.returncode == 1 and wiki.bot_uploads(t["suppressed"]) == []


def test_deleted_content_is_never_the_input_of_a_restore_by_hash(hidden: tuple[Wiki, dict]) -> None:
    wiki, t = hidden
    mediarescue(t["config"], "backup")  # learns of the deletions: those versions become deleted and private
    found = json.loads(mediarescue(t["config"], "find", t["suppressed"], "--json").stdout)
    assert [(r["status"], r["private"]) for r in found] == [("deleted", 1)]
    done = mediarescue(t["config"], "restore", "--sha1", wiki.sha1[t["suppressed"]], "--yes")
    assert done.returncode == 2 and "never republished" in done.stderr
    assert wiki.bot_uploads(t["suppressed"]) == []
