"""Incident rollback on the real test bed: back up, let a vandal loose (overwrites, one twice;
deletions of files and of an old version; moves; junk uploads), let someone else build on one of
the vandalised files, lose some bytes in storage on top; then the dry run, kill -9 mid-rollback at
the worst moments, the rollback itself, and a second run that does nothing."""
from __future__ import annotations

import hashlib
import json
import signal
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from mediarescue.mediawiki import MediaWiki, archive_path, deleted_path
from testbed.bed import TestBed
from testbed.media import write_media
from testbed.seed import SAME_TITLE_GAP, SeedResult, seed
from testbed.storage import BedStorage
from tests.conftest import _running_bed, mediarescue, seeder_api
from tests.proxies import HoldingProxy

pytestmark = pytest.mark.integration
BOT = "MediarescueBot"
REASON = "INC-7 [[Special:Nuke]] {{subst:x}} ~~~~"


class Incident:
    def __init__(self, test_bed: TestBed, seeded: SeedResult, config: Path, work: Path):
        self.bed, self.seeded, self.config, self.work = test_bed, seeded, config, work
        self.api = MediaWiki(test_bed.api_url)
        self.since = ""
        self.expected: dict[str, str] = {}     # title -> decision
        self.as_of: dict[str, str] = {}        # title -> sha1 current as of the backup
        self.roles: dict[str, str] = {}

    def versions(self, title: str) -> list[dict]:
        return self.api.get(action="query", titles=title, prop="imageinfo", iilimit="max",
                            iiprop="timestamp|user|sha1|url|archivename")["query"]["pages"][0].get("imageinfo", [])

    def bot_log(self, title: str) -> list[tuple[str, str, str]]:
        events = next(self.api.query(list="logevents", letitle=title, leuser=BOT, lelimit=50))["logevents"]
        return [(e["type"], e["action"], e.get("comment", "")) for e in events]

    def back(self, title: str) -> bool:
        """The title's current version is its as-of one, and its URL serves those bytes."""
        versions = self.versions(title)
        if not versions or versions[0]["sha1"] != self.as_of[title]:
            return False
        response = requests.get(versions[0]["url"], timeout=60)
        return response.status_code == 200 and hashlib.sha1(response.content).hexdigest() == self.as_of[title]

    def rollback(self, *args: str, config: Path | None = None, wait: bool = True):  # noqa: ANN201
        return mediarescue(config or self.config, "rollback", "--since", self.since, "--user", "Vandal", *args,
                           wait=wait)


def _upload(api: MediaWiki, work: Path, name: str, variant: int) -> None:
    path = work / f"junk{Path(name).suffix}"
    write_media(path, Path(name).suffix[1:], variant, 4_000)
    assert api.upload(path, name, ignore_warnings=True, comment="junk")["result"] == "Success"


@pytest.fixture(scope="module", params=["swift", "fs"])
def incident(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Incident]:
    """The same incident on the Swift-backed and on the filesystem-backed wiki."""
    for test_bed in _running_bed(f"pytest-rollback-{request.param}", request.param):
        seeder = seeder_api(test_bed)
        seeded = seed(seeder, count=16, large_size=300_000)
        work = tmp_path_factory.mktemp("rollback")
        config = test_bed.write_config(work / "mediarescue.toml", work / "catalog.db", work / "blobs")
        assert mediarescue(config, "backup").returncode == 0
        inc = Incident(test_bed, seeded, config, work)
        time.sleep(1.5)
        inc.since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        time.sleep(1.1)
        plain = [t for t in seeded.files if not t.startswith("File:Seed") and len(seeded.files[t]) == 1]
        inc.as_of = {t: shas[0] for t, shas in seeded.files.items()}
        _vandalise(inc, test_bed, seeder, plain, work)
        yield inc


def _vandalise(inc: Incident, test_bed: TestBed, seeder: MediaWiki, plain: list[str], work: Path) -> None:
    vandal = MediaWiki(test_bed.api_url)
    vandal.login(test_bed.vandal_user, test_bed.vandal_password)
    storage = BedStorage(test_bed)
    overwritten, deleted, moved = plain[:10], plain[10:13], plain[13:15]
    for n, title in enumerate(overwritten):
        _upload(vandal, work, title[5:], 90_000 + n)
        inc.expected[title] = "revert"
    time.sleep(SAME_TITLE_GAP)
    _upload(vandal, work, overwritten[0][5:], 91_000)  # overwritten twice
    for title in deleted:
        vandal.post(action="delete", title=title, reason="vandalism")
        inc.expected[title] = "undelete"
    history = inc.seeded.roles["history"]
    middle = inc.versions(history)[1]
    vandal.post(action="delete", title=history, oldimage=middle["archivename"], reason="vandalism")
    inc.expected[history] = "undelete"
    for n, title in enumerate(moved):
        target = f"File:Vandalised name {n}{Path(title).suffix}"
        vandal.post(action="move", **{"from": title}, to=target, reason="vandalism")
        inc.expected[title] = "move-back"
        inc.roles[f"moved-{n}"] = target
    for n in range(3):
        _upload(vandal, work, f"Junk by the vandal {n}.png", 95_000 + n)
        inc.expected[f"File:Junk by the vandal {n}.png"] = "list-new"
    time.sleep(SAME_TITLE_GAP)
    _upload(seeder, work, overwritten[1][5:], 97_000)  # someone else builds on a vandalised file
    inc.expected[overwritten[1]] = "skip"
    # storage damage: the deleted zone loses one deleted file; one overwritten file's as-of archive is lost
    storage.lose("deleted", deleted_path(inc.as_of[deleted[0]], deleted[0][5:]))
    # With the wiki's Swift configured the plan sees the loss; without, the bot finds it after the undelete.
    inc.expected[deleted[0]] = "undelete-reupload" if test_bed.swift_auth_url else "undelete"
    if not test_bed.swift_auth_url:  # the kill test takes deleted[0]: this one goes through a whole run
        storage.lose("deleted", deleted_path(inc.as_of[deleted[2]], deleted[2][5:]))
    archived = next(v for v in inc.versions(overwritten[2]) if v["sha1"] == inc.as_of[overwritten[2]])
    storage.lose("public", archive_path(archived["archivename"]))
    inc.expected[overwritten[2]] = "reupload"
    inc.roles |= {"twice": overwritten[0], "conflict": overwritten[1], "archive-lost": overwritten[2],
                  "reverted": overwritten[3], "deleted-lost": deleted[0], "deleted": deleted[1],
                  "moved-from-0": moved[0], "moved-from-1": moved[1], "old-deleted": history}


def _titles_file(inc: Incident, *titles: str) -> Path:
    path = inc.work / f"titles-{time.monotonic_ns()}.txt"
    path.write_text("\n".join(titles) + "\n")
    return path


def test_the_dry_run_names_every_title_of_the_incident_with_its_decision_and_writes_nothing(
        incident: Incident) -> None:
    done = incident.rollback("--json")
    assert done.returncode == 0, done.stdout + done.stderr
    plan = json.loads(done.stdout)
    assert {d["title"]: d["decision"] for d in plan["decisions"]} == incident.expected, plan["decisions"]
    assert plan["snapshot"] == 1 and plan["users"] == ["Vandal"]
    conflict = next(d for d in plan["decisions"] if d["title"] == incident.roles["conflict"])
    assert "Seeder" in conflict["reason"] and "--force" in conflict["reason"]
    for title in incident.expected:
        assert incident.bot_log(title) == []
    table = incident.rollback()
    assert "backup run 1" in table.stdout and "dry run" in table.stdout
    as_of = json.loads(incident.rollback("--json", "--as-of", "1").stdout)
    assert as_of["snapshot"] == 1 and as_of["decisions"] == plan["decisions"]


def test_no_snapshot_before_the_incident_is_a_clear_error(incident: Incident) -> None:
    done = mediarescue(incident.config, "rollback", "--since", "2000-01-01T00:00:00Z")
    assert done.returncode == 2 and "no finished backup run" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("role, action, after", [
    ("deleted-lost", b"undelete", True),     # undeleted, the bot never heard back: the re-upload is still to come
    ("moved-from-0", b"move", True),         # moved back, the bot never heard back
    ("moved-from-1", b"move", False),        # killed before the move reached the wiki
    ("reverted", b"filerevert", True),       # reverted, the bot never heard back
], ids=["after-undelete", "after-move", "before-move", "after-revert"])
def test_kill_9_mid_rollback_then_rerun_ends_the_same_with_no_duplicate_log_entries(
        incident: Incident, role: str, action: bytes, after: bool) -> None:
    title = incident.roles[role]
    proxy = HoldingProxy(incident.bed.api_url.removesuffix("/api.php"), action, after)
    through = incident.config.with_name(f"rollback-proxy-{role}.toml")
    through.write_text(incident.config.read_text().replace(incident.bed.api_url, proxy.url + "/api.php"))
    running = incident.rollback(str(_titles_file(incident, title)), "--yes", config=through, wait=False)
    try:
        deadline = time.monotonic() + 120
        while not proxy.held.wait(0.2) and running.poll() is None and time.monotonic() < deadline:
            pass
        ended = running.poll() is not None
        assert proxy.held.is_set(), "the rollback never reached the write to interrupt: " + \
            (running.stdout.read() + running.stderr.read() if ended else "still running")
        time.sleep(0.3 if after else 0)
    finally:
        running.send_signal(signal.SIGKILL)
        running.wait()
        proxy.server.shutdown()

    resumed = incident.rollback(str(_titles_file(incident, title)), "--yes", "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    [outcome] = json.loads(resumed.stdout)["outcomes"]
    assert outcome["result"] == "rolled-back", outcome
    assert incident.back(title)
    log = [(kind, act) for kind, act, _ in incident.bot_log(title)]
    # moving back over the redirect deletes it: MediaWiki logs delete/delete_redir at the title
    expected = {"undelete": [("delete", "restore")], "move": [("delete", "delete_redir")],
                "filerevert": [("upload", "overwrite")]}
    assert log == expected[action.decode()], log
    if action == b"move":
        moved_log = [(k, a) for k, a, _ in incident.bot_log(incident.roles["moved-" + role[-1]])]
        assert moved_log in ([("move", "move")], [("move", "move_redir")]), moved_log


def test_rollback_puts_every_title_back_but_the_conflict_and_a_second_run_does_nothing(incident: Incident) -> None:
    done = incident.rollback("--yes", "--json", "--reason", REASON, "--report-page", "Project:Rollback/INC-7")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    results = {o["title"]: (o["decision"], o["result"]) for o in report["outcomes"]}
    roles = incident.roles
    for title, decision in incident.expected.items():
        if decision in ("skip", "list-new"):
            assert results[title] == (decision, "not-attempted")
        else:  # rolled back now, or by the kill tests before (then nothing is left to do)
            assert results[title] in ((decision, "rolled-back"), ("nothing-to-do", "not-attempted")), title
    for title, decision in incident.expected.items():
        if decision not in ("skip", "list-new"):
            assert incident.back(title), title
    assert not incident.back(roles["conflict"])  # the later upload by Seeder is left as it is
    history = [v["sha1"] for v in incident.versions(roles["old-deleted"])]
    assert history == incident.seeded.files[roles["old-deleted"]]  # the deleted old version is back
    for n in range(2):
        assert not incident.versions(roles[f"moved-{n}"])  # nothing left at the vandal's names
    for n in range(3):  # the junk is listed, not deleted
        assert incident.versions(f"File:Junk by the vandal {n}.png")

    logs = {t: incident.bot_log(t) for t in incident.expected}
    assert [(k, a) for k, a, _ in logs[roles["twice"]]] == [("upload", "overwrite")]  # the revert
    assert [(k, a) for k, a, _ in logs[roles["archive-lost"]]] == [("upload", "overwrite")]  # the upload
    assert [(k, a) for k, a, _ in logs[roles["deleted"]]] == [("delete", "restore")]
    assert [(k, a) for k, a, _ in logs[roles["old-deleted"]]] == [("delete", "restore")]
    moved_logs = [entry for n in range(2) for entry in incident.bot_log(roles[f"moved-{n}"])]
    assert sorted(kind for kind, _, _ in moved_logs) == ["move", "move"]
    for kind, action, text in [entry for log in logs.values() for entry in log] + moved_logs:
        if action != "delete_redir":  # MediaWiki's own entry for the redirect a move back goes over
            assert "mediarescue rollback run" in text and "by Vandal" in text and "backup run 1" in text, text
    comment = logs[roles["twice"]][0][2]
    assert "mediarescue rollback run" in comment and "Vandal" in comment and incident.since in comment
    assert "INC-7" in comment and "[[Special" not in comment  # the reason is in it, inert
    page = incident.api.get(action="query", titles="Project:Rollback/INC-7", prop="revisions", rvprop="content|user",
                            rvslots="main")["query"]["pages"][0]["revisions"][0]
    assert page["user"] == BOT and "<nowiki>INC-7 [[Special:Nuke]]" in page["slots"]["main"]["content"]

    again = incident.rollback("--yes", "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    second = json.loads(again.stdout)
    assert second["nothing_done"] and {o["result"] for o in second["outcomes"]} == {"not-attempted"}
    assert {t: incident.bot_log(t) for t in incident.expected} == logs  # nothing written twice


def test_delete_new_deletes_only_the_junk(incident: Incident) -> None:
    done = incident.rollback("--yes", "--json", "--delete-new")
    assert done.returncode == 0, done.stdout + done.stderr
    results = {o["title"]: (o["decision"], o["result"]) for o in json.loads(done.stdout)["outcomes"]}
    for n in range(3):
        title = f"File:Junk by the vandal {n}.png"
        assert results[title] == ("delete-new", "rolled-back")
        assert not incident.versions(title)
        assert [(k, a) for k, a, _ in incident.bot_log(title)] == [("delete", "delete")]
    assert results[incident.roles["conflict"]][0] == "skip"


def test_a_bot_without_a_right_the_rollback_needs_stops_before_its_first_write(incident: Incident) -> None:
    """The bot through its bot password without the delete grant has no undelete right."""
    weak = incident.config.with_name("weak.toml")
    secret = incident.work / "weak-password"
    secret.write_text(incident.bed.bot_no_deleted_password)
    secret.chmod(0o600)
    text = incident.config.read_text().replace(f'user = "{incident.bed.bot_user}"',
                                               f'user = "{incident.bed.bot_no_deleted_user}"')
    weak.write_text(text.replace(text.split('password_file = "')[1].split('"')[0], str(secret)))
    before = {t: incident.bot_log(t) for t in incident.expected}
    done = incident.rollback("--yes", config=weak)
    assert done.returncode == 1 and "lacks the rights" in done.stderr and "undelete" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert {t: incident.bot_log(t) for t in incident.expected} == before
