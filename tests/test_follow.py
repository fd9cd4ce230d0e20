"""`backup --follow` as a service on a real test bed of its own: the follower runs as a subprocess
with a short interval while the seeder account uploads, overwrites, deletes and moves files; each
change must be in the catalog within the interval plus its download time. Then SIGTERM in the
middle of a pass and a restart: nothing lost, nothing fetched twice (the file server in front of
the wiki's media counts every GET). The metrics endpoint and the textfile are read back with
prometheus_client's own parser; `status` exits 1 after a run with errors.

The tests share one wiki, one catalog and one follower, and run in file order."""
from __future__ import annotations

import calendar
import hashlib
import http.server
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from mediarescue.mediawiki import MediaWiki, public_path
from testbed.bed import TestBed
from testbed.media import write_media
from testbed.seed import SAME_TITLE_GAP
from testbed.storage import BedStorage
from tests.conftest import _running_bed, mediarescue, seeder_api

pytestmark = pytest.mark.integration
INTERVAL = 2.0


class CountingProxy:
    """The file server in front of the wiki's media, as the collector sees it (url_rewrite): every
    GET counted by the sha1 of what it served, each delayed by `delay` seconds when set (so a pass
    lasts long enough to be cut), bytes streamed through."""

    def __init__(self, upstream: str):
        self.upstream, self.gets, self.delay = upstream, Counter(), 0.0
        self.first_get = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                proxy.first_get.set()
                time.sleep(proxy.delay)
                digest = hashlib.sha1()
                with requests.get(proxy.upstream + self.path, stream=True, timeout=60) as answer:
                    self.send_response(answer.status_code)
                    self.send_header("Content-Length", answer.headers.get("Content-Length", "0"))
                    self.end_headers()
                    for chunk in answer.iter_content(1 << 16):
                        digest.update(chunk)
                        self.wfile.write(chunk)
                proxy.gets[digest.hexdigest()] += 1

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Follow:
    def __init__(self, test_bed: TestBed, work: Path):
        self.bed, self.work = test_bed, work
        self.api: MediaWiki = seeder_api(test_bed)
        self.catalog = work / "catalog.db"
        self.config = test_bed.write_config(work / "mediarescue.toml", self.catalog, work / "blobs", swift=False)
        media = test_bed.upload_url
        self.proxy = CountingProxy(media)
        self.config.write_text(self.config.read_text().replace(
            "[wiki.testbed]\n", f'metrics_file = "{work / "mediarescue.prom"}"\n\n[wiki.testbed]\n'
                                f'url_rewrite = "{media}={self.proxy.url}"\n'))
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self._last: dict[str, float] = {}

    def start(self) -> None:
        self.process = mediarescue(self.config, "backup", "--follow", "--interval", str(INTERVAL),
                                   "--metrics-port", str(self.port), wait=False)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 120) -> tuple[int, str, str]:
        self.process.send_signal(sig)
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, err

    def query(self, sql: str, *params: Any) -> list[tuple]:
        with sqlite3.connect(self.catalog, timeout=30) as db:
            return db.execute(sql, params).fetchall()

    def wait_for(self, what: str, sql: str, *params: Any, timeout: float = 90) -> float:
        """Seconds until `sql` answers a row; fails after `timeout`."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            try:
                if self.catalog.exists() and self.query(sql, *params):
                    return time.monotonic() - began
            except sqlite3.OperationalError:  # the follower is making the catalog this instant
                pass
            assert self.process is None or self.process.poll() is None, self.process.communicate()
            time.sleep(0.1)
        raise AssertionError(f"{what}: not in the catalog after {timeout} s")

    def upload(self, title: str, variant: int, size: int = 20_000) -> str:
        time.sleep(max(0.0, self._last.get(title, 0) + SAME_TITLE_GAP - time.monotonic()))
        path = self.work / f"upload-{variant}.png"
        write_media(path, "png", 77_000 + variant, size)
        result = self.api.upload(path, title.removeprefix("File:"), comment="follow test", ignore_warnings=True)
        assert result["result"] == "Success", result
        self._last[title] = time.monotonic()
        return hashlib.sha1(path.read_bytes()).hexdigest()

    def metrics(self, text: str) -> dict[tuple[str, tuple], float]:
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture(scope="module")
def follow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Follow]:
    for test_bed in _running_bed("pytest-follow", "swift"):
        f = Follow(test_bed, tmp_path_factory.mktemp("follow"))
        f.upload("File:Follow before.png", 0)
        f.start()
        try:
            yield f
        finally:
            if f.process and f.process.poll() is None:
                f.process.kill()
                f.process.wait()
            f.proxy.server.shutdown()


def _ok(title: str, sha1: str) -> tuple[str | bytes, ...]:
    """A query for the version `sha1` (hex) of `title`, stored: the catalog keeps sha1 as 20 bytes."""
    return ("SELECT 1 FROM versions WHERE title = ? AND sha1 = ? AND backup_status = 'ok'", title, bytes.fromhex(sha1))


def test_changes_by_another_account_are_backed_up_within_the_interval(follow: Follow) -> None:
    follow.wait_for("the first (full) run", "SELECT 1 FROM runs WHERE kind = 'full' AND status = 'done'")
    bound = INTERVAL + 10  # a pass: log in, the log, the titles again, the download (small files, this machine)
    sha1 = follow.upload("File:Follow new.png", 1)
    assert follow.wait_for("an upload", *_ok("File:Follow new.png", sha1)) < bound
    sha1_old = sha1
    sha1 = follow.upload("File:Follow new.png", 2)
    assert follow.wait_for("an overwrite", *_ok("File:Follow new.png", sha1)) < bound
    assert follow.query("SELECT status FROM versions WHERE sha1 = ?", bytes.fromhex(sha1_old)) == [("old",)]
    follow.api.post(action="delete", title="File:Follow before.png", reason="follow test")
    assert follow.wait_for("a deletion", "SELECT 1 FROM versions WHERE title = 'File:Follow before.png' AND "
                                         "status = 'deleted' AND private = 1") < bound
    follow.api.post(action="move", **{"from": "File:Follow new.png"}, to="File:Follow moved.png", reason="test",
                    noredirect=1)
    assert follow.wait_for("a move", "SELECT 1 FROM versions WHERE title = 'File:Follow moved.png' GROUP BY title "
                                     "HAVING COUNT(*) = 2") < bound
    assert follow.query("SELECT COUNT(*) FROM versions WHERE title = 'File:Follow new.png'") == [(0,)]
    # A pass writes its lag when it ends, a moment after the rows the waits above look for
    follow.wait_for("the move's pass to end", "SELECT COUNT(*) FROM runs WHERE lag_seconds IS NOT NULL "
                                             "HAVING COUNT(*) >= 4", timeout=bound)
    lags = [lag for (lag,) in follow.query("SELECT lag_seconds FROM runs WHERE lag_seconds IS NOT NULL")]
    assert max(lags) < bound
    assert all(count == 1 for count in follow.proxy.gets.values()), follow.proxy.gets


def test_one_follower_per_catalog(follow: Follow) -> None:
    second = mediarescue(follow.config, "backup", "--follow", "--interval", "2", timeout=60)
    assert second.returncode == 1 and "another backup is writing" in second.stderr, second.stderr
    assert follow.process.poll() is None  # the first one goes on


def test_the_metrics_endpoint_and_textfile_carry_the_figures(follow: Follow) -> None:
    figures = follow.metrics(requests.get(f"http://127.0.0.1:{follow.port}/metrics", timeout=10).text)
    wiki = (("wiki", "testbed"),)
    blobs = follow.query("SELECT COUNT(*), SUM(size) FROM blobs")[0]
    assert figures[("mediarescue_store_blobs", ())] == blobs[0] == 3
    assert figures[("mediarescue_store_bytes", ())] == blobs[1]
    assert figures[("mediarescue_versions", (("backup_status", "pending"), *wiki))] == 0
    assert figures[("mediarescue_follow_change_lag_seconds_count", wiki)] >= 4
    assert figures[("mediarescue_follow_new_blobs_total", wiki)] == 3  # the full run's one, then two
    assert figures[("mediarescue_follow_versions_stored_total", wiki)] == 3
    assert figures[("mediarescue_follow_passes_total", (("kind", "incremental"), ("result", "ok"), *wiki))] >= 4
    assert figures[("mediarescue_attention", wiki)] == 0
    last_lag = follow.query("SELECT lag_seconds FROM runs WHERE lag_seconds IS NOT NULL ORDER BY id DESC LIMIT 1")
    assert figures[("mediarescue_follow_lag_seconds", wiki)] == pytest.approx(last_lag[0][0])
    done = follow.query("SELECT MAX(ended) FROM runs WHERE kind = 'incremental' AND status = 'done'")[0][0]
    success = figures[("mediarescue_last_success_timestamp_seconds", (("kind", "incremental"), *wiki))]
    assert abs(success - calendar.timegm(time.strptime(done, "%Y-%m-%dT%H:%M:%SZ"))) < 30
    textfile = follow.metrics((follow.work / "mediarescue.prom").read_text())
    assert textfile[("mediarescue_store_blobs", ())] == 3
    assert textfile[("mediarescue_versions", (("backup_status", "error"), *wiki))] == 0


def test_sigterm_mid_pass_then_restart_loses_nothing_and_fetches_nothing_twice(follow: Follow) -> None:
    time.sleep(3 * INTERVAL)  # passes that find nothing to do
    code, out, err = follow.stop(signal.SIGTERM)  # between passes: at once
    assert code == 0 and "Traceback" not in err and "stopped after" in out, out + err
    # every pass is a line, except those that changed nothing: those are counted, and said once an hour
    passes, quiet = map(int, re.search(r"stopped after (\d+) passes \((\d+) quiet", out).groups())
    logged = re.findall(r"(full|incremental) run \d+ done: (\d+) log entries, (\d+) versions stored", out)
    assert quiet >= 1 and len(logged) + quiet == passes, out
    assert all(kind == "full" or int(entries) or int(stored) for kind, entries, stored in logged), out
    titles = [f"File:Follow burst {n}.png" for n in range(12)]
    sha1s = {title: follow.upload(title, 100 + n, size=200_000) for n, title in enumerate(titles)}
    follow.proxy.delay = 1.0  # each download slower: the pass is still downloading when SIGTERM comes
    follow.proxy.first_get.clear()
    follow.start()
    assert follow.proxy.first_get.wait(60)
    code, out, err = follow.stop(signal.SIGTERM)
    assert code == 0 and "Traceback" not in err, out + err
    marks = ", ".join("?" * len(titles))
    stored = follow.query(f"SELECT COUNT(*) FROM versions WHERE title IN ({marks}) AND backup_status = 'ok'",
                          *titles)[0][0]
    assert 1 <= stored < 12  # cut mid-pass: what was in flight was stored, the rest was not started
    assert follow.query(f"SELECT COUNT(*) FROM versions WHERE title IN ({marks}) AND backup_status = 'pending'",
                        *titles)[0][0] == 12 - stored
    assert follow.query("SELECT status FROM runs ORDER BY id DESC LIMIT 1") == [("interrupted",)]
    assert not follow.query("SELECT 1 FROM runs WHERE status = 'running'")
    follow.proxy.delay = 0.0
    follow.start()
    for title, sha1 in sha1s.items():
        follow.wait_for(title, *_ok(title, sha1))
    assert all(count == 1 for count in follow.proxy.gets.values()), follow.proxy.gets
    assert len(follow.proxy.gets) == 3 + 12
    code, out, err = follow.stop(signal.SIGINT)  # Ctrl-C: the same clean stop
    assert code == 0, out + err


def test_status_exits_1_after_a_run_with_errors(follow: Follow) -> None:
    assert mediarescue(follow.config, "status").returncode == 0
    sha1 = follow.upload("File:Follow lost.png", 500)
    BedStorage(follow.bed).lose("public", public_path("Follow lost.png"))
    done = mediarescue(follow.config, "backup", "--incremental")
    assert done.returncode == 1
    status = mediarescue(follow.config, "status")
    assert status.returncode == 1 and "had 1 errors" in status.stdout, status.stdout
    assert follow.query("SELECT backup_status FROM versions WHERE sha1 = ?", bytes.fromhex(sha1)) == [("error",)]
    figures = follow.metrics((follow.work / "mediarescue.prom").read_text())  # the batch run wrote it
    assert figures[("mediarescue_last_run_errors", (("kind", "incremental"), ("wiki", "testbed")))] == 1
