"""The outage probe on real test beds of its own (Swift-backed and filesystem-backed): a large
partial loss is a loss, never mistaken for an outage, while a real outage still stops every verdict.
The files lost are neighbours in the catalog (one upload batch), as losses often are in life."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mediarescue.mediawiki import public_path
from testbed.bed import TestBed
from testbed.media import write_media
from testbed.storage import BedStorage
from tests.conftest import _running_bed, mediarescue, seeder_api

pytestmark = pytest.mark.integration
FILES, LOST = 30, 27  # 90 % lost, in one block of consecutive ids


@dataclass
class Lossy:
    bed: TestBed
    config: Path
    titles: list[str]


@pytest.fixture(scope="module", params=["swift", "fs"])
def lossy(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lossy]:
    for test_bed in _running_bed(f"pytest-probe-{request.param}", request.param):
        api, work = seeder_api(test_bed), tmp_path_factory.mktemp("probe")
        titles = [f"File:Probe batch {n:02d}.png" for n in range(FILES)]
        for n, title in enumerate(titles):
            write_media(work / "upload.png", "png", 6_000 + n, 4_000)
            assert api.upload(work / "upload.png", title.removeprefix("File:"))["result"] == "Success"
        config = test_bed.write_config(work / "m.toml", work / "catalog.db", work / "blobs")
        assert mediarescue(config, "backup").returncode == 0
        storage = BedStorage(test_bed)
        for title in titles[1:LOST + 1]:  # the first and the last two stay
            storage.lose("public", public_path(title.removeprefix("File:")))
        yield Lossy(test_bed, config, titles)


def _verify_all(lossy: Lossy) -> tuple[int, dict, str]:
    done = mediarescue(lossy.config, "verify", "--all", "--json")
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}, done.stderr


def test_a_large_partial_loss_is_a_loss_not_an_outage(lossy: Lossy) -> None:
    for _ in range(3):  # the sample is random: every draw must tell it apart
        code, result, stderr = _verify_all(lossy)
        assert code == 1, stderr
        assert sorted(f["title"] for f in result["findings"]) == lossy.titles[1:LOST + 1]
        assert {f["problem"] for f in result["findings"]} == {"current-missing"}
    planned = mediarescue(lossy.config, "plan", "-", "--json", stdin="\n".join(lossy.titles[1:LOST + 1]))
    assert planned.returncode in (0, 1), planned.stderr  # not 3: the bot may repair them
    assert {d["decision"] for d in json.loads(planned.stdout)["decisions"]} == {"repair-current"}


def test_a_real_outage_is_still_an_outage(lossy: Lossy) -> None:
    if lossy.bed.swift_auth_url:
        with BedStorage(lossy.bed).object_server_hung(public_path(lossy.titles[0].removeprefix("File:"))):
            code, _result, stderr = _verify_all(lossy)
    else:
        images, hidden = lossy.bed.images_dir, lossy.bed.images_dir.with_name("images-hidden")
        images.rename(hidden)  # the storage behind the file server is gone: every file answers 404
        images.mkdir()
        try:
            code, _result, stderr = _verify_all(lossy)
        finally:
            images.rmdir()
            hidden.rename(images)
    assert code == 3 and "storage outage" in stderr and "nothing was declared lost" in stderr, stderr
    code, _result, stderr = _verify_all(lossy)
    assert code == 1, stderr  # back up: the loss again, and only it


def test_with_swift_configured_even_a_total_loss_is_a_loss(lossy: Lossy) -> None:
    """Swift itself answers: its containers are there and say 404 for each file. Without Swift a
    wiki whose every file answers 404 cannot be told from an outage (test_plan's file-server case)."""
    if not lossy.bed.swift_auth_url:
        pytest.skip("only Swift can say that a 404 is real")
    storage = BedStorage(lossy.bed)
    for title in (lossy.titles[0], *lossy.titles[LOST + 1:]):
        storage.lose("public", public_path(title.removeprefix("File:")))
    code, result, stderr = _verify_all(lossy)
    assert code == 1, stderr
    assert len(result["findings"]) == FILES
