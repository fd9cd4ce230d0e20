"""The MediaWiki behaviours the restorer relies on, proven on the real wiki, Swift-backed and
filesystem-backed. If a MediaWiki upgrade changes any of them, these fail first.
See docs/mediawiki-facts.md."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
import requests

from mediarescue.mediawiki import APIError, MediaWiki, archive_path, deleted_path, public_path
from testbed.bed import TestBed
from testbed.media import write_media
from testbed.seed import SAME_TITLE_GAP
from testbed.storage import BedStorage
from tests.conftest import mediarescue

pytestmark = pytest.mark.integration


def _make(tmp_path: Path, kind: str, variant: int) -> tuple[Path, str]:
    path = tmp_path / f"{variant}.{kind}"
    write_media(path, kind, variant, 20_000)
    return path, hashlib.sha1(path.read_bytes()).hexdigest()


def _versions(api: MediaWiki, title: str) -> list[dict]:
    page = api.get(action="query", titles=title, prop="imageinfo", iilimit="max",
                   iiprop="sha1|url|archivename|timestamp|size")["query"]["pages"][0]
    return page.get("imageinfo", [])


def _fetch_sha1(url: str) -> tuple[int, str]:
    response = requests.get(url, timeout=30)
    return response.status_code, hashlib.sha1(response.content).hexdigest()


def test_lost_current_version_is_404_but_still_listed_and_identical_reupload_brings_it_back(
        api: MediaWiki, storage: BedStorage, tmp_path: Path, unique_name: str) -> None:
    path, sha1 = _make(tmp_path, "png", 1)
    name = f"{unique_name}.png"
    assert api.upload(path, name, text="pinned fact")["result"] == "Success"
    [current] = _versions(api, f"File:{name}")
    assert _fetch_sha1(current["url"]) == (200, sha1)

    storage.lose("public", public_path(name))
    assert storage.sha1("public", public_path(name)) is None
    assert requests.get(current["url"], timeout=30).status_code == 404
    assert [v["sha1"] for v in _versions(api, f"File:{name}")] == [sha1]  # the database still lists it

    with pytest.raises(APIError) as refused:
        api.upload(path, name, ignore_warnings=True)
    assert refused.value.code == "fileexists-no-change"
    # ...yet the bytes were published before the refusal: the object is back, whole.
    assert storage.sha1("public", public_path(name)) == sha1
    assert _fetch_sha1(current["url"]) == (200, sha1)
    assert len(_versions(api, f"File:{name}")) == 1  # and no new version was recorded


def test_filerevert_to_lost_old_version_fails_and_reuploading_its_bytes_makes_a_new_current_version(
        api: MediaWiki, storage: BedStorage, tmp_path: Path, unique_name: str) -> None:
    name = f"{unique_name}.jpg"
    old_path, old_sha1 = _make(tmp_path, "jpg", 2)
    new_path, new_sha1 = _make(tmp_path, "jpg", 3)
    assert api.upload(old_path, name)["result"] == "Success"
    time.sleep(SAME_TITLE_GAP)
    assert api.upload(new_path, name, ignore_warnings=True)["result"] == "Success"
    current, old = _versions(api, f"File:{name}")
    assert (current["sha1"], old["sha1"]) == (new_sha1, old_sha1)
    assert storage.sha1("public", archive_path(old["archivename"])) == old_sha1

    storage.lose("public", archive_path(old["archivename"]))
    assert requests.get(old["url"], timeout=30).status_code == 404
    time.sleep(SAME_TITLE_GAP)
    reply = api.post(action="filerevert", filename=name, archivename=old["archivename"], comment="pinned fact")
    assert reply["filerevert"]["result"] == "Failure"
    assert [e["code"] for e in reply["filerevert"]["errors"]] == ["backend-fail-notexists"]

    warned = api.upload(old_path, name)
    assert warned["result"] == "Warning"
    assert "duplicateversions" in warned["warnings"]
    time.sleep(SAME_TITLE_GAP)
    assert api.upload(old_path, name, ignore_warnings=True)["result"] == "Success"
    history = _versions(api, f"File:{name}")
    assert [v["sha1"] for v in history] == [old_sha1, new_sha1, old_sha1]
    assert _fetch_sha1(history[0]["url"]) == (200, old_sha1)
    assert requests.get(old["url"], timeout=30).status_code == 404  # the lost history row stays lost


def test_undelete_with_lost_deleted_bytes_succeeds_and_leaves_a_404(
        api: MediaWiki, storage: BedStorage, tmp_path: Path, unique_name: str) -> None:
    name = f"{unique_name}.gif"
    path, sha1 = _make(tmp_path, "gif", 4)
    assert api.upload(path, name)["result"] == "Success"
    [current] = _versions(api, f"File:{name}")
    time.sleep(SAME_TITLE_GAP)
    api.post(action="delete", title=f"File:{name}", reason="pinned fact")
    assert storage.sha1("deleted", deleted_path(sha1, name)) == sha1  # content-addressed deleted zone
    assert storage.sha1("public", public_path(name)) is None

    storage.lose("deleted", deleted_path(sha1, name))
    time.sleep(SAME_TITLE_GAP)
    reply = api.post(action="undelete", title=f"File:{name}", reason="pinned fact")
    assert reply["undelete"]["fileversions"] == 0
    assert [v["sha1"] for v in _versions(api, f"File:{name}")] == [sha1]
    assert requests.get(current["url"], timeout=30).status_code == 404


def test_corrupt_current_version_is_served_as_is(
        api: MediaWiki, storage: BedStorage, tmp_path: Path, unique_name: str) -> None:
    """MediaWiki never checks stored bytes against its sha1: only a reader who hashes sees it."""
    name = f"{unique_name}.svg"
    path, sha1 = _make(tmp_path, "svg", 5)
    assert api.upload(path, name)["result"] == "Success"
    [current] = _versions(api, f"File:{name}")
    storage.corrupt("public", public_path(name))
    try:
        status, served = _fetch_sha1(current["url"])
        assert status == 200 and served != sha1
        assert _versions(api, f"File:{name}")[0]["sha1"] == sha1
    finally:
        storage.corrupt("public", public_path(name), path.read_bytes())  # leave the shared wiki whole


def test_a_revision_deleted_old_version_is_listed_without_its_sha1_and_a_backup_keeps_it(
        any_bed: TestBed, api: MediaWiki, storage: BedStorage, tmp_path: Path, unique_name: str) -> None:
    """Hiding a file version's content (revision deletion) takes its sha1 and URL out of imageinfo
    for every account, bot included, and moves its bytes to the deleted zone. The collector must
    not take such a version for one the wiki no longer has."""
    name, title = f"{unique_name}.png", f"File:{unique_name}.png"
    old_path, old_sha1 = _make(tmp_path, "png", 6)
    new_path, new_sha1 = _make(tmp_path, "png", 7)
    assert api.upload(old_path, name)["result"] == "Success"
    time.sleep(SAME_TITLE_GAP)
    assert api.upload(new_path, name, ignore_warnings=True)["result"] == "Success"
    config = any_bed.write_config(tmp_path / "m.toml", tmp_path / "c.db", tmp_path / "blobs")
    mediarescue(config, "backup")  # the shared bed may hold other tests' broken files: this title is what counts
    current, old = _versions(api, title)

    time.sleep(SAME_TITLE_GAP)
    reply = api.post(action="revisiondelete", type="oldimage", target=title, ids=old["archivename"].split("!")[0],
                     hide="content", reason="pinned fact")
    assert reply["revisiondelete"]["status"] == "Success"
    listed = _versions(api, title)
    assert [v.get("sha1") for v in listed] == [new_sha1, None] and listed[1]["filehidden"]
    assert listed[1]["timestamp"] == old["timestamp"] and "url" not in listed[1]  # it is still seen, by its time
    assert storage.sha1("public", archive_path(old["archivename"])) is None
    assert storage.sha1("deleted", deleted_path(old_sha1, name)) == old_sha1

    mediarescue(config, "backup")
    found = json.loads(mediarescue(config, "find", title, "--json").stdout)
    assert [(r["sha1"], r["status"], r["backup_status"], r["private"]) for r in found] == [
        (new_sha1, "current", "ok", 0), (old_sha1, "old", "ok", 1)]  # seen, kept, never called vanished; hidden


def _bot(test_bed: TestBed, no_deleted: bool = False) -> MediaWiki:
    bot = MediaWiki(test_bed.api_url)
    bot.login(*((test_bed.bot_no_deleted_user, test_bed.bot_no_deleted_password) if no_deleted
                else (test_bed.bot_user, test_bed.bot_password)))
    return bot


def _delete_events(api: MediaWiki, title: str) -> list[dict]:
    events = next(api.query(list="logevents", letitle=title, lelimit=50))["logevents"]
    return [e for e in events if e.get("type") == "delete"]


@pytest.mark.parametrize("suppress", [True, False], ids=["suppressed", "hidden"])
def test_a_deletion_whose_log_entry_is_hidden_still_leaves_its_filearchive_row(
        any_bed: TestBed, api: MediaWiki, tmp_path: Path, unique_name: str, suppress: bool) -> None:
    """The ground of 'never republish what the wiki hid': the log can hide a deletion from the bot,
    the filearchive cannot; and an account without deletedhistory does not find it in the log."""
    name, title = f"{unique_name}.png", f"File:{unique_name}.png"
    path, sha1 = _make(tmp_path, "png", 11 + suppress + 2 * (any_bed.profile == "fs"))
    assert api.upload(path, name)["result"] == "Success"
    oversighter = MediaWiki(any_bed.api_url)
    oversighter.login(any_bed.oversight_user, any_bed.oversight_password)
    logid = oversighter.post(action="delete", title=title, reason="private")["delete"]["logid"]
    assert oversighter.post(action="revisiondelete", type="logging", ids=logid, hide="content|comment|user",
                            suppress="yes" if suppress else "nochange")["revisiondelete"]["status"] == "Success"

    bot, blind = _bot(any_bed), _bot(any_bed, no_deleted=True)
    assert bool(_delete_events(bot, title)) is not suppress  # suppressed: gone from the bot's view of the log
    assert _delete_events(blind, title) == []  # without deletedhistory, a hidden entry is not found by title
    rows = list(bot.filearchive([name.replace(" ", "_")], "sha1|timestamp", 10))
    assert [r["sha1"] for r in rows] == [sha1]  # ...but the filearchive still says 'deleted'
    # MediaWiki 1.39 lists the filearchive to any account (only descriptions need deletedhistory);
    # mediarescue does not count on it: without deletedhistory, it rules no deletion out.
    assert [r["sha1"] for r in blind.filearchive([name.replace(" ", "_")], "sha1|timestamp", 10)] == [sha1]
    page = bot.get(action="query", titles=title, prop="imageinfo")["query"]["pages"][0]
    assert page.get("missing") and "imageinfo" not in page  # the description page went with the file


def test_a_hidden_old_version_answers_404_and_a_full_loss_keeps_its_page(
        any_bed: TestBed, api: MediaWiki, storage: BedStorage, tmp_path: Path, unique_name: str) -> None:
    name, title = f"{unique_name}.png", f"File:{unique_name}.png"
    for variant in (9, 10):
        path, _ = _make(tmp_path, "png", variant)
        assert api.upload(path, name, ignore_warnings=True)["result"] == "Success"
        time.sleep(SAME_TITLE_GAP)
    old = _versions(api, title)[1]
    assert _fetch_sha1(old["url"])[0] == 200
    assert api.post(action="revisiondelete", type="oldimage", target=title, ids=old["archivename"].split("!")[0],
                    hide="content")["revisiondelete"]["status"] == "Success"
    assert _fetch_sha1(old["url"])[0] == 404
    assert _versions(_bot(any_bed), title)[1].get("filehidden") is True

    storage.lose_file_records(name)  # a full loss: the database forgets the file, the page stays
    page = _bot(any_bed).get(action="query", titles=title, prop="imageinfo")["query"]["pages"][0]
    assert not page.get("missing") and page.get("pageid") and "imageinfo" not in page
    assert list(_bot(any_bed).filearchive([name.replace(" ", "_")], "sha1|timestamp", 10)) == []


def test_an_undeleted_file_whose_deleted_bytes_were_lost_is_repaired_by_an_identical_reupload(
        api: MediaWiki, storage: BedStorage, tmp_path: Path, unique_name: str) -> None:
    """What rollback's undelete-reupload relies on: the undeletion lists the version with its sha1
    but serves 404; re-uploading the same bytes answers fileexists-no-change and publishes them."""
    name = f"{unique_name}.png"
    path, sha1 = _make(tmp_path, "png", 5)
    assert api.upload(path, name)["result"] == "Success"
    time.sleep(SAME_TITLE_GAP)
    api.post(action="delete", title=f"File:{name}", reason="pinned fact")
    storage.lose("deleted", deleted_path(sha1, name))
    time.sleep(SAME_TITLE_GAP)
    api.post(action="undelete", title=f"File:{name}", reason="pinned fact")
    [current] = _versions(api, f"File:{name}")
    assert current["sha1"] == sha1 and requests.get(current["url"], timeout=30).status_code == 404
    time.sleep(SAME_TITLE_GAP)
    with pytest.raises(APIError) as refused:
        api.upload(path, name, ignore_warnings=True)
    assert refused.value.code == "fileexists-no-change"
    assert _fetch_sha1(current["url"]) == (200, sha1) and len(_versions(api, f"File:{name}")) == 1


def test_a_file_moves_back_over_the_redirect_its_move_left_and_that_redirect_is_deleted(
        api: MediaWiki, tmp_path: Path, unique_name: str) -> None:
    """What rollback's move-back relies on: moving B back to A, where A is the one-revision redirect
    the move A -> B left, needs no extra step; MediaWiki deletes the redirect itself and logs
    delete/delete_redir at A. With noredirect (suppressredirect) B is left empty. File redirects are
    followed by imageinfo, so A's versions are the file's until then: only prop=info tells a redirect."""
    a, b = f"File:{unique_name}.png", f"File:{unique_name} moved.png"
    path, sha1 = _make(tmp_path, "png", 6)
    assert api.upload(path, a[5:])["result"] == "Success"
    api.post(action="move", **{"from": a}, to=b, reason="pinned fact")
    page = api.get(action="query", titles=a, prop="imageinfo|info", iiprop="sha1")["query"]["pages"][0]
    assert page.get("redirect") and page["imageinfo"][0]["sha1"] == sha1  # the redirect shows B's file
    time.sleep(SAME_TITLE_GAP)
    api.post(action="move", **{"from": b}, to=a, reason="pinned fact: back", noredirect=1)
    page = api.get(action="query", titles=a, prop="imageinfo|info", iiprop="sha1")["query"]["pages"][0]
    assert not page.get("redirect") and page["imageinfo"][0]["sha1"] == sha1
    assert api.get(action="query", titles=b)["query"]["pages"][0].get("missing")
    log = next(api.query(list="logevents", letitle=a, lelimit=10))["logevents"]
    assert ("delete", "delete_redir") in [(e["type"], e["action"]) for e in log]
