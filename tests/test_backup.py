"""Full backups of the seeded history on the real, production-shaped test bed, through the real
`mediarescue` command: what they capture, HTTP against Swift, kill -9 and resume, corruption."""
from __future__ import annotations

import hashlib
import http.server
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
import requests

from mediarescue.catalog import Catalog
from mediarescue.mediawiki import archive_path, public_path
from testbed.bed import TestBed
from testbed.seed import SeedResult
from testbed.storage import BedStorage
from tests.conftest import mediarescue

pytestmark = pytest.mark.integration
IDENTITY = ("id", "title", "title_at_upload", "timestamp", "user", "size", "sha1", "sha256", "status",
            "archive_name", "private", "backup_status")


def _backup(test_bed: TestBed, where: Path, swift: bool, workers: int = 4, wait: bool = True,
            url_rewrite: str | None = None) -> subprocess.Popen | subprocess.CompletedProcess:
    config = test_bed.write_config(where / "mediarescue.toml", where / "catalog.db", where / "blobs", swift=swift,
                                   workers=workers)
    if url_rewrite:  # file URLs through a proxy of the test's
        config.write_text(config.read_text().replace(f"workers = {workers}\n",
                                                     f"workers = {workers}\nurl_rewrite = \"{url_rewrite}\"\n"))
    return mediarescue(config, "backup", wait=wait)


def _rows(catalog_path: Path, columns: tuple[str, ...] = IDENTITY) -> list[tuple]:
    with sqlite3.connect(catalog_path) as db:
        return db.execute(f"SELECT {', '.join(columns)} FROM versions ORDER BY id").fetchall()


def test_full_backup_from_swift_captures_every_version_once(collector_bed: TestBed, seeded: SeedResult,
                                                            tmp_path: Path) -> None:
    done = _backup(collector_bed, tmp_path, swift=True)
    assert done.returncode == 0, done.stdout + done.stderr
    catalog = Catalog(tmp_path / "catalog.db")
    for title, sha1s in seeded.files.items():
        rows = [r for r in catalog.find(title=title) if r["status"] != "deleted"]
        assert [r["sha1"] for r in rows] == sha1s, title
        assert [r["status"] for r in rows] == ["current"] + ["old"] * (len(sha1s) - 1)
        assert all(r["backup_status"] == "ok" and r["private"] == 0 for r in rows)
        assert "cc-by-sa-4.0" in catalog.page_text("testbed", title)
    for title, sha1s in seeded.deleted.items():
        deleted = [r for r in catalog.find(title=title) if r["status"] == "deleted"]
        assert sorted(r["sha1"] for r in deleted) == sorted(sha1s)
        assert all(r["private"] == 1 and r["backup_status"] == "ok" for r in deleted)
    everything = catalog.find(wiki="testbed")
    assert len(everything) == sum(map(len, seeded.files.values())) + sum(map(len, seeded.deleted.values()))

    blobs = tmp_path / "blobs"
    for row in everything:  # every stored blob re-hashes to its sha256 and to the wiki's sha1
        data = (blobs / row["sha256"][:2] / row["sha256"][2:4] / row["sha256"]).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), hashlib.sha1(data).hexdigest()) == (row["sha256"], row["sha1"])
    stored = [p for p in blobs.rglob("*") if p.is_file() and p.relative_to(blobs).parts[0] not in ("tmp", "metadata")]
    assert len(stored) == len({r["sha256"] for r in everything}) == len(everything) - 1  # the duplicate, once
    copy, original = (catalog.find(title=seeded.roles[r])[0] for r in ("duplicate_copy", "duplicate_original"))
    assert copy["sha256"] == original["sha256"] and copy["id"] != original["id"]
    assert catalog.find(title=seeded.roles["large"])[0]["size"] > 20 * 2**20
    run = catalog.run(everything[0]["first_run"])
    assert (run["status"], run["errors"], run["new_blobs"]) == ("done", 0, len(stored))

    found = mediarescue(tmp_path / "mediarescue.toml", "find", "--json",
                        seeded.roles["deleted"].removeprefix("File:").replace(" ", "_"))
    assert found.returncode == 0 and '"status": "deleted"' in found.stdout and "local-deleted" not in found.stdout


def test_backup_over_http_matches_backup_from_swift(collector_bed: TestBed, seeded: SeedResult,
                                                    tmp_path: Path) -> None:
    (tmp_path / "http").mkdir()
    (tmp_path / "swift").mkdir()
    over_http = _backup(collector_bed, tmp_path / "http", swift=False)
    from_swift = _backup(collector_bed, tmp_path / "swift", swift=True)
    assert over_http.returncode == from_swift.returncode == 0
    assert "3 deleted versions not backed up" in over_http.stdout
    http_rows, swift_rows = _rows(tmp_path / "http" / "catalog.db"), _rows(tmp_path / "swift" / "catalog.db")
    live = IDENTITY.index("status")
    assert [r for r in http_rows if r[live] != "deleted"] == [r for r in swift_rows if r[live] != "deleted"]
    assert {r[-1] for r in http_rows if r[live] == "deleted"} == {"unreachable"}
    assert len(http_rows) == len(swift_rows)


class _SlowFileServer:
    """Serves file URLs through a delay, as a far-away wiki does, and remembers what was asked."""

    def __init__(self, target: str, delay: float):
        self.requested: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requested.append(self.path)
                time.sleep(delay)
                with requests.get(target + self.path, stream=True, timeout=30) as upstream:
                    self.send_response(upstream.status_code)
                    self.send_header("Content-Length", upstream.headers.get("Content-Length", "0"))
                    self.end_headers()
                    try:
                        for chunk in upstream.iter_content(1 << 16):
                            self.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the collector was killed mid-download: that is the point

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def slow_files(collector_bed: TestBed) -> Iterator[_SlowFileServer]:
    origin = collector_bed.upload_url.split("/wikipedia/")[0]
    server = _SlowFileServer(origin, delay=0.25)
    yield server
    server.server.shutdown()


def test_backup_killed_mid_run_resumes_to_the_same_catalog(collector_bed: TestBed, seeded: SeedResult,
                                                           tmp_path: Path, slow_files: _SlowFileServer) -> None:
    (tmp_path / "whole").mkdir()
    (tmp_path / "killed").mkdir()
    assert _backup(collector_bed, tmp_path / "whole", swift=False).returncode == 0
    origin = collector_bed.upload_url.split("/wikipedia/")[0]
    running = _backup(collector_bed, tmp_path / "killed", swift=False, workers=1, wait=False,
                      url_rewrite=f"{origin}={slow_files.url}")
    catalog_path = tmp_path / "killed" / "catalog.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if catalog_path.exists() and len([r for r in _rows(catalog_path) if r[-1] == "ok"]) >= 3:
                break
        except sqlite3.OperationalError:
            pass  # the file is there, its schema not yet
        time.sleep(0.02)
    running.send_signal(signal.SIGKILL)
    running.wait()
    after_kill = _rows(catalog_path)
    stored_before = {r[0] for r in after_kill if r[-1] == "ok"}
    assert 3 <= len(stored_before) < len(after_kill)  # killed halfway, not before or after
    with sqlite3.connect(catalog_path) as db:  # where the wiki keeps each version's file
        path_of = {i: archive_path(archived) if archived else public_path(title) for i, title, archived in
                   db.execute("SELECT id, title, archive_name FROM versions WHERE status != 'deleted'")}
    asked_before = len(slow_files.requested)

    resumed = _backup(collector_bed, tmp_path / "killed", swift=False, workers=2,
                      url_rewrite=f"{origin}={slow_files.url}")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _rows(catalog_path) == _rows(tmp_path / "whole" / "catalog.db")
    asked_again = {unquote(path).split("/", 3)[-1] for path in slow_files.requested[asked_before:]}
    assert asked_again and asked_again <= set(path_of.values())  # /wikipedia/commons/PATH, each a catalogued one
    assert not {path_of[i] for i in stored_before if i in path_of} & asked_again  # nothing fetched twice
    with sqlite3.connect(catalog_path) as db:
        assert [s for (s,) in db.execute("SELECT status FROM runs ORDER BY id")] == ["interrupted", "done"]


def test_corrupt_object_is_reported_as_a_sha1_error_and_the_run_fails(collector_bed: TestBed, seeded: SeedResult,
                                                                       tmp_path: Path) -> None:
    storage = BedStorage(collector_bed)
    title = next(t for t in seeded.files if t.endswith(".png") and len(seeded.files[t]) == 1)
    rel = public_path(title.removeprefix("File:"))
    original = storage.read("public", rel)
    storage.corrupt("public", rel)
    try:
        done = _backup(collector_bed, tmp_path, swift=True)
    finally:
        storage.corrupt("public", rel, original)  # put the real bytes back for the other tests
    assert done.returncode == 1
    expected, actual = seeded.files[title][0], hashlib.sha1(b"not the file you stored").hexdigest()
    assert f"error: {title}" in done.stdout and expected in done.stdout and actual in done.stdout
    [row] = Catalog(tmp_path / "catalog.db").find(title=title)
    assert row["backup_status"] == "error" and "sha1 mismatch" in row["error"] and row["sha256"] is None
    others = [r for r in Catalog(tmp_path / "catalog.db").find(wiki="testbed") if r["id"] != row["id"]]
    assert {r["backup_status"] for r in others} == {"ok"}
