"""Every upload the bot makes is byte-exact: files ending in CR, LF, CRLF or NUL, and chunked uploads
whose chunk boundaries fall after a CR, go up through every restoring action and read back with
their sha1, on the Swift-backed and on the filesystem-backed wiki. Also: what an earlier, byte-losing
bot left behind is repaired by the next restore, never taken for somebody's newer upload."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from mediarescue.mediawiki import CHUNK_SIZE, MediaWiki, archive_path, public_path
from restorer.bot import form_data
from testbed.bed import TestBed
from testbed.media import write_media
from testbed.seed import SAME_TITLE_GAP
from testbed.storage import BedStorage
from tests.conftest import mediarescue

TAILS = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n", "nul": b"\x00"}


def _jpeg(path: Path, seed: int, size: int, tail: bytes, cr_at: int | None = None) -> str:
    """A valid JPEG of `size` bytes ending in `tail` (JPEG readers stop at EOI: the rest is
    padding), with a CR at `cr_at` too; returns its sha1."""
    write_media(path, "jpg", seed, size)
    with open(path, "r+b") as f:
        f.truncate(size)
        if cr_at is not None:
            f.seek(cr_at)
            f.write(b"\r")
        f.seek(size - len(tail))
        f.write(tail)
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _versions(api: MediaWiki, title: str) -> list[dict]:
    return api.get(action="query", titles=title, prop="imageinfo", iilimit="max",
                   iiprop="timestamp|user|sha1|url|size|archivename")["query"]["pages"][0].get("imageinfo", [])


def _served_sha1(url: str) -> str | None:
    response = requests.get(url, timeout=60)
    return hashlib.sha1(response.content).hexdigest() if response.status_code == 200 else None


def test_the_upload_body_keeps_every_byte_and_drops_only_pywikibots_own_padding() -> None:
    _, body = form_data({"action": "upload"}, {"file": (b"data\r", ("image", "jpeg"), {"filename": "F"})})
    assert b"\r\n\r\ndata\r\r\n--" in body  # the part's bytes, then the CRLF delimiter
    padded = (b"end\n" + b"\r", ("application", "octet-stream"), {"filename": "F"})  # pywikibot's T132676 CR
    _, body = form_data({"offset": "96", "filesize": "100"}, {"chunk": padded})
    assert b"\r\n\r\nend\n\r\n--" in body
    _, body = form_data({"offset": "95", "filesize": "100"}, {"chunk": padded})  # a real CR: kept
    assert b"\r\n\r\nend\n\r\r\n--" in body


@pytest.mark.integration
def test_every_restoring_action_uploads_files_byte_exact(any_bed: TestBed, api: MediaWiki, tmp_path: Path,
                                                         unique_name: str) -> None:
    storage = BedStorage(any_bed)
    sha1s: dict[str, str] = {}  # title -> the sha1 that must be served again
    newer_sha1s = set()  # what the old versions' titles show as current
    lose: list[tuple[str, str]] = []
    gone: list[str] = []
    for n, (name, tail) in enumerate(TAILS.items()):
        current, whole, old = (f"File:{unique_name} {kind} {name}.jpg" for kind in ("current", "gone", "old"))
        for title in (current, whole):
            sha1s[title] = _jpeg(tmp_path / "f.jpg", 100 * n + len(title), 3000 + n, tail)
            assert api.upload(tmp_path / "f.jpg", title[5:], ignore_warnings=True)["result"] == "Success"
        sha1s[old] = _jpeg(tmp_path / "f.jpg", 100 * n + 7, 3500 + n, tail)
        assert api.upload(tmp_path / "f.jpg", old[5:], ignore_warnings=True)["result"] == "Success"
        time.sleep(SAME_TITLE_GAP)
        newer = _jpeg(tmp_path / "f.jpg", 100 * n + 8, 3600 + n, b"\xd9")
        assert api.upload(tmp_path / "f.jpg", old[5:], ignore_warnings=True)["result"] == "Success"
        newer_sha1s.add(newer)
        lose.append(("public", public_path(current[5:])))
        gone.append(whole)
    # Chunked: a chunk that ends in CR, a full last chunk ending in CR, a short last chunk ending in LF.
    chunked = {f"File:{unique_name} chunked current.jpg": (2 * CHUNK_SIZE, b"\r"),
               f"File:{unique_name} chunked gone.jpg": (CHUNK_SIZE + 5000, b"\n")}
    for title, (size, tail) in chunked.items():
        sha1s[title] = _jpeg(tmp_path / "f.jpg", size, size, tail, cr_at=CHUNK_SIZE - 1)
        assert api.upload(tmp_path / "f.jpg", title[5:], ignore_warnings=True)["result"] == "Success"
    lose.append(("public", public_path(f"{unique_name} chunked current.jpg")))
    gone.append(f"File:{unique_name} chunked gone.jpg")

    config = any_bed.write_config(tmp_path / "m.toml", tmp_path / "c.db", tmp_path / "blobs")
    assert mediarescue(config, "backup").returncode == 0
    for zone, path in lose:
        storage.lose(zone, path)
    for title in gone:
        storage.lose_file_records(title[5:])
    olds = [t for t in sha1s if " old " in t]
    for title in olds:
        storage.lose("public", archive_path(_versions(api, title)[-1]["archivename"]))

    titles = tmp_path / "titles.txt"
    titles.write_text("\n".join(sha1s) + "\n")
    # Most files here are lost on purpose, and the storage is known to be up: no outage probe.
    done = mediarescue(config, "restore", str(titles), "--yes", "--json", "--bot-workers", "4", "--no-outage-probe")
    assert done.returncode == 0, done.stdout + done.stderr
    outcomes = {o["asked"]: (o["decision"], o["result"]) for o in json.loads(done.stdout)["outcomes"]}
    assert set(outcomes.values()) == {("repair-current", "restored"), ("reupload-file", "restored"),
                                      ("restore-old-version", "restored")}, outcomes
    for title, sha1 in sha1s.items():
        served = [v for v in _versions(api, title) if v["sha1"] == sha1]
        assert served and _served_sha1(served[0]["url"]) == sha1, title
        bots = {v["sha1"] for v in _versions(api, title) if v.get("user") == "MediarescueBot"}
        assert bots <= {sha1, *newer_sha1s}, title  # the bot put up no bytes the wiki never had (the revert's)

    again = mediarescue(config, "restore", str(titles), "--yes", "--json", "--no-outage-probe")
    assert again.returncode == 0, again.stdout + again.stderr
    assert {o["result"] for o in json.loads(again.stdout)["outcomes"]} == {"not-attempted"}


@pytest.mark.integration
def test_a_truncated_upload_by_an_earlier_bot_is_repaired_not_taken_for_a_newer_version(
        fs_bed: TestBed, tmp_path: Path, unique_name: str) -> None:
    """The journal of the old, byte-losing code knows the bot uploaded and that its read-back failed."""
    api = MediaWiki(fs_bed.api_url)
    api.login(fs_bed.seed_user, fs_bed.seed_password)
    title = f"File:{unique_name}.jpg"
    sha1 = _jpeg(tmp_path / "f.jpg", 1, 30_000, b"\r")
    assert api.upload(tmp_path / "f.jpg", title[5:])["result"] == "Success"
    config = fs_bed.write_config(tmp_path / "m.toml", tmp_path / "c.db", tmp_path / "blobs")
    mediarescue(config, "backup")  # the shared bed may hold other tests' broken files: this title is what counts
    assert json.loads(mediarescue(config, "find", title, "--json").stdout)[0]["backup_status"] == "ok"
    BedStorage(fs_bed).lose("public", public_path(title[5:]))

    old_code = ("import sys, restorer.bot as bot; e = bot.engine(); "  # the upload body as pywikibot builds it
                "e.request._build_mime_request = e.pywikibot_form_data; "
                "from mediarescue.cli import main; sys.exit(main(sys.argv[1:]))")
    damaged = subprocess.run([sys.executable, "-c", old_code, "--config", str(config), "restore", "--title", title,
                              "--yes"], capture_output=True, text=True, timeout=300)
    assert damaged.returncode == 1, damaged.stdout + damaged.stderr
    current = _versions(api, title)[0]
    assert current["user"] == "MediarescueBot" and current["size"] == 29_999  # the defect, as it was

    planned = mediarescue(config, "plan", "--title", title, "--json")
    [decision] = json.loads(planned.stdout)["decisions"]
    assert decision["decision"] == "replace-bad-upload", decision
    done = mediarescue(config, "restore", "--title", title, "--yes", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    current = _versions(api, title)[0]
    assert current["sha1"] == sha1 and _served_sha1(current["url"]) == sha1
    again = mediarescue(config, "restore", "--title", title, "--yes", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["outcomes"][0]["result"] == "not-attempted"
