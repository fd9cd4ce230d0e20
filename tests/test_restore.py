"""Restore as a bot, on the real test bed: seed, back up, damage every restorable case, restore,
read everything back, audit the wiki's logs; kill -9 at the worst moments and resume."""
from __future__ import annotations

import hashlib
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mediarescue.mediawiki import MediaWiki, archive_path, public_path
from testbed.bed import TestBed
from testbed.media import write_media
from testbed.seed import SAME_TITLE_GAP, SeedResult, seed
from testbed.storage import BedStorage
from tests.conftest import _running_bed, mediarescue, seeder_api
from tests.proxies import HoldingProxy

pytestmark = pytest.mark.integration
OLD_LOST = [f"File:Restore kill {n}.png" for n in range(4)]


class Bed:
    def __init__(self, test_bed: TestBed, seeded: SeedResult, config: Path, work: Path):
        self.bed, self.seeded, self.config, self.work = test_bed, seeded, config, work
        self.api = MediaWiki(test_bed.api_url)
        self.titles: dict[str, str] = {}

    def versions(self, title: str) -> list[dict]:
        return self.api.get(action="query", titles=title, prop="imageinfo", iilimit="max",
                            iiprop="timestamp|user|sha1|url|archivename")["query"]["pages"][0].get("imageinfo", [])

    def bot_log(self, title: str) -> list[tuple[str, str]]:
        events = next(self.api.query(list="logevents", letitle=title, leuser=self.bed.bot_user.split("@")[0],
                                     lelimit=50))["logevents"]
        return [(e["type"], e["action"]) for e in events]

    def serves(self, url: str, sha1: str) -> bool:
        response = requests.get(url, timeout=60)
        return response.status_code == 200 and hashlib.sha1(response.content).hexdigest() == sha1


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    for test_bed in _running_bed("pytest-restore", "swift"):
        api = seeder_api(test_bed)
        seeded = seed(api, count=10)
        work = tmp_path_factory.mktemp("restore")
        for n, title in enumerate(OLD_LOST):  # old versions to lose, one per kill point
            for v in range(2):
                write_media(work / "v.png", "png", 5000 + 10 * n + v, 6_000)
                assert api.upload(work / "v.png", title[5:], ignore_warnings=True)["result"] == "Success"
                time.sleep(SAME_TITLE_GAP if v == 0 else 0)
        config = test_bed.write_config(work / "mediarescue.toml", work / "catalog.db", work / "blobs")
        assert mediarescue(config, "backup").returncode == 0
        bed = Bed(test_bed, seeded, config, work)
        storage = BedStorage(test_bed)
        plain = [t for t in seeded.files if not t.startswith("File:Seed") and len(seeded.files[t]) == 1]
        t = {"current-missing": plain[0], "current-corrupt": plain[1], "gone": plain[2], "renamed-from": plain[3],
             "renamed-to": "File:Renamed before restore." + plain[3].rsplit(".", 1)[1], "gone-killed": plain[4],
             "old-missing": seeded.roles["history"], "healthy": plain[5], "large-missing": seeded.roles["large"]}
        storage.lose("public", public_path(t["current-missing"][5:]))
        storage.lose("public", public_path(t["large-missing"][5:]))  # put back by a chunked identical upload
        storage.corrupt("public", public_path(t["current-corrupt"][5:]))
        storage.lose_file_records(t["gone"][5:])
        storage.lose_file_records(t["gone-killed"][5:])
        api.post(action="move", **{"from": t["renamed-from"]}, to=t["renamed-to"], reason="renamed")
        storage.lose("public", public_path(t["renamed-to"][5:]))
        for title in (t["old-missing"], *OLD_LOST):
            storage.lose("public", archive_path(bed.versions(title)[-1]["archivename"]))
        bed.titles = t
        yield bed


def _titles_file(bed: Bed, *titles: str) -> Path:
    path = bed.work / f"titles-{time.monotonic_ns()}.txt"
    path.write_text("# broken after the incident\n" + "\n".join(titles) + "\n")
    return path


def test_without_yes_restore_is_the_dry_run_and_writes_nothing(broken: Bed) -> None:
    t = broken.titles
    done = mediarescue(broken.config, "restore", str(_titles_file(broken, t["current-missing"], t["old-missing"])))
    assert done.returncode == 0, done.stderr
    assert "repair-current" in done.stdout and "restore-old-version" in done.stdout and "--yes" in done.stdout
    assert broken.bot_log(t["old-missing"]) == [] and broken.bot_log(t["current-missing"]) == []


def test_restore_brings_back_every_restorable_version_and_audits_it(broken: Bed) -> None:
    t = broken.titles
    asked = [t[k] for k in ("current-missing", "current-corrupt", "gone", "renamed-from", "old-missing", "healthy",
                            "large-missing")]
    done = mediarescue(broken.config, "restore", str(_titles_file(broken, *asked)), "--yes", "--json",
                       "--bot-workers", "3", "--reason", "INC-42 media outage",
                       "--report-page", "Project:Media recovery/INC-42")
    assert done.returncode == 0, done.stdout + done.stderr
    assert broken.bed.bot_password not in done.stdout + done.stderr
    # an expected answer is no error on the operator's screen; no deprecated call warns; no chatter (issue 13)
    for noise in ("fileexists-no-change", "FutureWarning", "DeprecationWarning", "Logging in", "WARNING"):
        assert noise not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    results = {o["asked"]: (o["decision"], o["result"]) for o in report["outcomes"]}
    status = json.loads(mediarescue(broken.config, "status", "--json").stdout)  # what status and metrics show
    last_restore = next(w for w in status["wikis"] if w["wiki"] == "testbed")["last_restore"]
    assert (last_restore["status"], last_restore["restored"], last_restore["failed"]) == ("done", 6, 0)
    assert results == {
        t["current-missing"]: ("repair-current", "restored"), t["current-corrupt"]: ("repair-current", "restored"),
        t["gone"]: ("reupload-file", "restored"), t["renamed-from"]: ("repair-current", "restored"),
        t["old-missing"]: ("restore-old-version", "restored"), t["healthy"]: ("nothing-to-do", "not-attempted"),
        t["large-missing"]: ("repair-current", "restored")}

    files = broken.seeded.files
    for key in ("current-missing", "current-corrupt", "gone", "large-missing"):  # every restored version reads back
        current = broken.versions(t[key])[0]
        assert current["sha1"] == files[t[key]][0] and broken.serves(current["url"], current["sha1"])
    renamed = broken.versions(t["renamed-to"])[0]
    assert broken.serves(renamed["url"], files[t["renamed-from"]][0])
    history = broken.versions(t["old-missing"])
    lost_sha1 = files[t["old-missing"]][-1]
    restored = next(v for v in history if v["sha1"] == lost_sha1 and v["user"] == "MediarescueBot")
    assert broken.serves(restored["url"], lost_sha1)
    assert history[0]["sha1"] == files[t["old-missing"]][0]  # the version that was current is current again

    # the community's record: upload log entries by the bot for the old-version and full-loss cases
    assert broken.bot_log(t["old-missing"]).count(("upload", "overwrite")) == 2  # the upload and the revert
    assert broken.bot_log(t["gone"]) == [("upload", "upload")]
    gone_page = broken.api.get(action="query", titles=t["gone"], prop="revisions", rvprop="content",
                               rvslots="main")["query"]["pages"][0]["revisions"][0]["slots"]["main"]["content"]
    assert "cc-by-sa-4.0" in gone_page  # the description page the loss left behind is kept as it was
    assert broken.bot_log(t["current-missing"]) == []  # MediaWiki logs nothing here: hence the report page
    page = broken.api.get(action="query", titles="Project:Media recovery/INC-42", prop="revisions",
                          rvprop="content|user", rvslots="main")["query"]["pages"][0]["revisions"][0]
    assert page["user"] == "MediarescueBot"
    for title in asked:
        assert title in page["slots"]["main"]["content"]
    assert "INC-42 media outage" in page["slots"]["main"]["content"]
    comment = next(broken.api.query(list="logevents", letitle=t["gone"], lelimit=1))["logevents"][0]["comment"]
    assert "INC-42" in comment and files[t["gone"]][0] in comment and "by Seeder" in comment
    local = sorted((broken.work / "reports").glob("restore-*.json"))
    assert local and json.loads(local[-1].read_text())["run"] == report["run"]
    for written in (broken.work / "reports").iterdir():  # secrets stay out of every report
        assert broken.bed.bot_password not in written.read_text()

    again = mediarescue(broken.config, "restore", str(_titles_file(broken, *asked)), "--yes", "--json")
    assert again.returncode == 0
    assert {o["result"] for o in json.loads(again.stdout)["outcomes"]} == {"not-attempted"}
    assert "already restored" in again.stdout
    assert broken.bot_log(t["old-missing"]).count(("upload", "overwrite")) == 2  # nothing uploaded twice
    assert broken.bot_log(t["gone"]) == [("upload", "upload")]
    gone_page = broken.api.get(action="query", titles=t["gone"], prop="revisions", rvprop="content",
                               rvslots="main")["query"]["pages"][0]["revisions"][0]["slots"]["main"]["content"]
    assert "cc-by-sa-4.0" in gone_page  # the description page the loss left behind is kept as it was




@pytest.mark.parametrize("title, action, after", [
    (OLD_LOST[0], b"upload", False),       # killed before the upload reached the wiki
    (OLD_LOST[1], b"upload", True),        # the wiki took the upload; the bot never heard back
    (OLD_LOST[2], b"filerevert", False),   # between the upload and the filerevert
    (OLD_LOST[3], b"filerevert", True),    # the wiki reverted; the bot never heard back
    ("gone-killed", b"upload", True),      # a full-loss re-upload the bot never heard back from
], ids=["before-upload", "after-upload", "before-revert", "after-revert", "reupload-after-upload"])
def test_kill_9_mid_restore_then_rerun_ends_the_same_with_no_duplicate_log_entries(
        broken: Bed, title: str, action: bytes, after: bool) -> None:
    title = broken.titles.get(title, title)
    origin = broken.bed.api_url.removesuffix("/api.php")
    proxy = HoldingProxy(origin, action, after)
    through = broken.config.with_name(f"through-proxy-{action.decode()}-{after}.toml")
    through.write_text(broken.config.read_text().replace(broken.bed.api_url, proxy.url + "/api.php"))
    running = mediarescue(through, "restore", "--title", title, "--yes", wait=False)
    try:
        assert proxy.held.wait(120), "the restore never reached the write to interrupt"
        time.sleep(0.3 if after else 0)
    finally:
        running.send_signal(signal.SIGKILL)
        running.wait()
        proxy.server.shutdown()

    resumed = mediarescue(broken.config, "restore", "--title", title, "--yes", "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    [outcome] = json.loads(resumed.stdout)["outcomes"]
    assert outcome["result"] == "restored", outcome
    log = broken.bot_log(title)
    if outcome["decision"] == "restore-old-version":
        assert log.count(("upload", "overwrite")) == 2, log  # one upload, one revert: nothing twice
    else:
        assert log == [("upload", "upload")], log
    lost_sha1 = outcome["version"]["sha1"]
    ours = [v for v in broken.versions(title) if v["sha1"] == lost_sha1 and v.get("user") == "MediarescueBot"]
    assert len(ours) == 1 and broken.serves(ours[0]["url"], lost_sha1)


def test_a_lost_old_version_whose_bytes_the_current_version_serves_is_no_failure(
        any_bed: TestBed, tmp_path: Path, unique_name: str) -> None:
    """A filerevert leaves an archived version with the current version's bytes; when that archived
    object is lost, nothing of the content is lost and no API call can put the row back."""
    api = seeder_api(any_bed)
    name = f"{unique_name}.png"
    for variant in (1, 2):
        write_media(tmp_path / "f.png", "png", variant, 5_000)
        assert api.upload(tmp_path / "f.png", name, ignore_warnings=True)["result"] == "Success"
        time.sleep(SAME_TITLE_GAP)
    first = MediaWiki(any_bed.api_url).get(action="query", titles=f"File:{name}", prop="imageinfo", iilimit="max",
                                           iiprop="archivename|sha1")["query"]["pages"][0]["imageinfo"][-1]
    assert api.post(action="filerevert", filename=name, archivename=first["archivename"],
                    comment="revert")["filerevert"]["result"] == "Success"
    config = any_bed.write_config(tmp_path / "m.toml", tmp_path / "c.db", tmp_path / "blobs")
    mediarescue(config, "backup")  # the shared bed may hold other tests' broken files: this title is what counts
    BedStorage(any_bed).lose("public", archive_path(first["archivename"]))

    done = mediarescue(config, "restore", "--title", name, "--yes", "--json", "--no-outage-probe")
    assert done.returncode == 0, done.stdout + done.stderr
    [outcome] = json.loads(done.stdout)["outcomes"]
    assert (outcome["decision"], outcome["result"]) == ("history-row-lost", "not-attempted")
    assert outcome["version"]["sha1"] == first["sha1"] and "history row" in outcome["reason"]
    assert next(api.query(list="logevents", letitle=f"File:{name}", leuser="MediarescueBot"))["logevents"] == []
