"""Detect and plan on the real test bed: seed, back up, then damage Swift objects and wiki state
covering every case of the plan; `verify` finds exactly the damaged titles, `plan` decides right
for each, and a Swift outage is reported as an outage, not as loss."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediarescue.mediawiki import archive_path, deleted_path, public_path
from testbed.bed import TestBed
from testbed.media import write_media
from testbed.seed import SAME_TITLE_GAP, SeedResult, seed
from testbed.storage import BedStorage
from tests.conftest import _running_bed, mediarescue, seeder_api

pytestmark = pytest.mark.integration


class Damaged:
    """The bed after the backup, with one title per case."""

    def __init__(self, test_bed: TestBed, seeded: SeedResult, config: Path):
        self.bed, self.seeded, self.config = test_bed, seeded, config
        self.titles: dict[str, str] = {}


def _ordinary(seeded: SeedResult, n: int) -> list[str]:
    return [t for t in seeded.files if not t.startswith("File:Seed") and len(seeded.files[t]) == 1][:n]


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Damaged]:
    for test_bed in _running_bed("pytest-plan", "swift"):
        api = seeder_api(test_bed)
        seeded = seed(api, count=16)
        storage = BedStorage(test_bed)
        work = tmp_path_factory.mktemp("plan")
        config = test_bed.write_config(work / "mediarescue.toml", work / "catalog.db", work / "blobs")
        a, b, c, d, e, f, g, h, i = _ordinary(seeded, 9)
        t = {"current-missing": a, "current-corrupt": b, "gone": c, "newer-healthy": d, "newer-broken": e,
             "renamed-from": f, "renamed-to": "File:Renamed after backup." + f.rsplit(".", 1)[1], "deleted": g,
             "backup-failed": h,
             "healthy": i, "old-missing": seeded.roles["history"], "deleted-lost": seeded.roles["deleted"]}
        original_h = storage.read("public", public_path(h[5:]))
        storage.corrupt("public", public_path(h[5:]))          # 8: the backup of h fails on its sha1
        assert mediarescue(config, "backup").returncode == 1
        storage.corrupt("public", public_path(h[5:]), original_h)

        storage.lose("public", public_path(a[5:]))                                   # 1
        storage.corrupt("public", public_path(b[5:]))                                # 1
        storage.lose_file_records(c[5:])                                              # 2
        history = api.get(action="query", titles=t["old-missing"], prop="imageinfo", iilimit="max",
                          iiprop="archivename")["query"]["pages"][0]["imageinfo"]
        storage.lose("public", archive_path(history[-1]["archivename"]))             # 3
        for n, title in enumerate((d, e)):                                            # 4
            path = work / f"newer{n}.{title.rsplit('.', 1)[1]}"
            write_media(path, title.rsplit(".", 1)[1], 900 + n, 9_000)
            assert api.upload(path, title[5:], ignore_warnings=True)["result"] == "Success"
        storage.lose("public", public_path(e[5:]))                                    # 4, broken newer
        api.post(action="move", **{"from": f}, to=t["renamed-to"], reason="after the backup")  # 5
        storage.lose("public", public_path(t["renamed-to"][5:]))
        api.post(action="delete", title=g, reason="a community decision")            # 6
        lost = next(row for row in next(api.query(list="filearchive", falimit="max", faprop="sha1"))["filearchive"]
                    if row["title"] == t["deleted-lost"])
        storage.lose("deleted", deleted_path(lost["sha1"], lost["name"]))             # 7
        storage.corrupt("public", public_path(h[5:]))                                 # 8
        time.sleep(SAME_TITLE_GAP)
        result = Damaged(test_bed, seeded, config)
        result.titles = t
        yield result


def test_verify_finds_exactly_the_damaged_titles(damaged: Damaged) -> None:
    done = mediarescue(damaged.config, "verify", "--all", "--json")
    assert done.returncode == 1, done.stderr
    found = {(f["title"], f["problem"]) for f in json.loads(done.stdout)["findings"]}
    t = damaged.titles
    assert found == {
        (t["current-missing"], "current-missing"), (t["current-corrupt"], "current-corrupt"),
        (t["gone"], "file-gone"), (t["old-missing"], "old-missing"), (t["newer-broken"], "current-missing"),
        (t["renamed-to"], "current-missing"), (t["deleted-lost"], "deleted-missing"),
        (t["backup-failed"], "current-corrupt")}
    titles = mediarescue(damaged.config, "verify", "-", "--titles", stdin="\n".join(t.values()))
    assert titles.returncode == 1
    assert set(titles.stdout.splitlines()) == {title for title, _ in found}


def test_plan_decides_each_case(damaged: Damaged) -> None:
    t = damaged.titles
    lines = [t[k] for k in ("healthy", "current-missing", "current-corrupt", "gone", "old-missing", "newer-healthy",
                            "newer-broken", "renamed-from", "deleted", "deleted-lost", "backup-failed")]
    lines[1] = lines[1].removeprefix("File:").replace(" ", "_")  # any spelling will do
    lines += ["# a comment", "", "Bad<title>.png", "File:Never uploaded here.png"]
    done = mediarescue(damaged.config, "plan", "-", "--json", stdin="\n".join(lines))
    assert done.returncode == 1, done.stderr  # some cannot be restored
    plan = json.loads(done.stdout)
    decided = {(d["asked"], d["decision"]) for d in plan["decisions"]}
    assert decided == {
        (t["healthy"], "nothing-to-do"), (t["current-missing"], "repair-current"),
        (t["current-corrupt"], "repair-current"), (t["gone"], "reupload-file"),
        (t["old-missing"], "restore-old-version"), (t["newer-healthy"], "skip"),
        (t["newer-broken"], "cannot-restore"), (t["renamed-from"], "repair-current"),
        (t["deleted"], "skip"), (t["deleted-lost"], "report-to-admin"), (t["backup-failed"], "cannot-restore"),
        ("Bad<title>.png", "input-error"), ("File:Never uploaded here.png", "input-error")}
    by_asked = {d["asked"]: d for d in plan["decisions"]}
    assert by_asked[t["renamed-from"]]["title"] == t["renamed-to"]
    repair = by_asked[t["current-missing"]]["version"]
    assert repair["sha1"] == damaged.seeded.files[t["current-missing"]][0] and len(repair["sha256"]) == 64
    old = by_asked[t["old-missing"]]
    assert old["version"]["sha1"] == damaged.seeded.files[t["old-missing"]][-1] and old["revert_to"]
    actions = [d["decision"] for d in plan["decisions"]]
    assert actions.index("repair-current") < actions.index("restore-old-version")  # current versions first
    assert plan["totals"]["repair-current"] == 3


def test_plan_renders_for_people_and_wikis(damaged: Damaged) -> None:
    t = damaged.titles
    table = mediarescue(damaged.config, "plan", "--title", t["current-missing"], "--title", t["healthy"])
    assert table.returncode == 0 and "repair-current" in table.stdout and "nothing-to-do" in table.stdout
    assert "dry run" in table.stdout
    wikitext = mediarescue(damaged.config, "plan", "--title", t["current-missing"], "--wikitext")
    assert wikitext.stdout.startswith('{| class="wikitable sortable"') and f"[[:{t['current-missing']}]]" in \
        wikitext.stdout
    csv_out = mediarescue(damaged.config, "plan", "--sha1", damaged.seeded.files[t["current-corrupt"]][0], "--csv")
    assert csv_out.returncode == 0 and csv_out.stdout.splitlines()[0].startswith("title,version,decision")
    assert "repair-current" in csv_out.stdout
    verified = mediarescue(damaged.config, "verify", "-", stdin=t["current-missing"])
    assert verified.returncode == 1
    from_verify = mediarescue(damaged.config, "plan", "--from-verify", "--json")
    assert [d["asked"] for d in json.loads(from_verify.stdout)["decisions"]] == [t["current-missing"]]


def test_usage_errors_exit_2(damaged: Damaged, tmp_path: Path) -> None:
    assert mediarescue(damaged.config, "plan").returncode == 2
    assert mediarescue(damaged.config, "plan", str(tmp_path / "missing.txt")).returncode == 2
    assert mediarescue(damaged.config, "verify").returncode == 2
    both = mediarescue(damaged.config, "plan", "--title", "A.png", "--json", "--csv")
    assert both.returncode == 2 and "one output format" in both.stderr


def test_swift_outage_during_verify_is_an_outage_not_a_loss(damaged: Damaged) -> None:
    healthy = damaged.titles["healthy"]
    with BedStorage(damaged.bed).object_server_hung(public_path(healthy[5:])):
        done = mediarescue(damaged.config, "verify", "-", stdin=healthy)
    assert done.returncode == 3
    assert "storage outage" in done.stderr and "nothing was declared lost" in done.stderr
    again = mediarescue(damaged.config, "verify", "-", stdin=healthy)
    assert again.returncode == 0, again.stdout + again.stderr


def test_404s_everywhere_behind_a_file_server_are_an_outage(fs_bed: TestBed, tmp_path: Path) -> None:
    api = seeder_api(fs_bed)
    for n in range(3):
        write_media(tmp_path / f"p{n}.png", "png", 700 + n, 3_000)
        api.upload(tmp_path / f"p{n}.png", f"Probe {n}.png", ignore_warnings=True)
    config = fs_bed.write_config(tmp_path / "m.toml", tmp_path / "c.db", tmp_path / "blobs")
    mediarescue(config, "backup")  # other tests on this shared bed may have left a broken file: not ours to judge
    found = mediarescue(config, "find", "Probe 0.png", "--json")
    assert json.loads(found.stdout)[0]["backup_status"] == "ok"
    images, hidden = fs_bed.images_dir, fs_bed.images_dir.with_name("images-hidden")
    images.rename(hidden)  # the storage behind the file server is gone: every file answers 404
    images.mkdir()
    try:
        done = mediarescue(config, "verify", "-", stdin="Probe 0.png")
    finally:
        images.rmdir()
        hidden.rename(images)
    assert done.returncode == 3 and "looks like a storage outage" in done.stderr
