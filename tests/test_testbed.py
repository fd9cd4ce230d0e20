"""The test bed as its users meet it: scripts/testbed's verbs, bad input, beds side by side, and
no process left behind by a killed run."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from mediarescue.mediawiki import MediaLayout, MediaWiki, public_path, sha1_base36
from mediarescue.swift import SwiftStore
from testbed import bed, procs
from testbed.media import write_media
from tests.conftest import seeder_api

ROOT = Path(__file__).resolve().parents[1]


def run_testbed(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "testbed", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def _one_line_error(done: subprocess.CompletedProcess, rc: int, text: str) -> None:
    assert done.returncode == rc
    assert done.stderr.count("\n") == 1 and text in done.stderr, done.stderr


def test_unknown_verb_is_a_usage_error() -> None:
    done = subprocess.run([str(ROOT / "scripts" / "testbed"), "frobnicate"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("testbed: error: argument")
    assert "invalid choice: 'frobnicate'" in done.stderr


def test_busy_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_testbed("start", str(tmp_path / "bed"), "--port", str(port))
    _one_line_error(done, 1, f"port {port} on 127.0.0.1 is busy")
    assert not (tmp_path / "bed").exists()


def test_missing_folders_and_foreign_folders_are_refused(tmp_path: Path) -> None:
    _one_line_error(run_testbed("status", str(tmp_path / "nothing")), 1, "no test bed in")
    _one_line_error(run_testbed("stop", str(tmp_path / "nothing")), 1, "does not exist")
    _one_line_error(run_testbed("start", str(tmp_path / "no" / "such" / "bed")), 1, "does not exist")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("precious")
    _one_line_error(run_testbed("start", str(tmp_path / "mine")), 1, "holds no test bed")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "precious"


@pytest.mark.integration
def test_killed_run_leaves_nothing_after_stop_while_another_bed_runs_beside_it(
        swift_bed: bed.TestBed, tmp_path: Path) -> None:
    beds = tmp_path / "beds"
    beds.mkdir()
    bed_dir = beds / "killed"
    # a test run that starts a bed and is then killed -9, as CI or an impatient developer would
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                              "from testbed import bed; bed.start(Path(sys.argv[1]), 'swift-flat'); "
                              "print('up', flush=True); time.sleep(600)", str(bed_dir)],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "up"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    records = json.loads((bed_dir / procs.RECORDS).read_text())
    left = procs.running(bed_dir)
    assert set(left) == {"memcached", "swift-account", "swift-container", "swift-object", "swift-proxy", "php"}

    # both beds answer, on ports of their own; the flat one serves file URLs straight from Swift
    killed = bed.load(bed_dir)
    assert killed.api_url != swift_bed.api_url
    for test_bed in (killed, swift_bed):
        assert requests.get(test_bed.api_url, params={"action": "query", "meta": "siteinfo", "format": "json"},
                            timeout=10).ok
    api = seeder_api(killed)
    write_media(tmp_path / "flat.png", "png", 11, 5_000)
    assert api.upload(tmp_path / "flat.png", "Flat profile.png")["result"] == "Success"
    url = api.get(action="query", titles="File:Flat profile.png", prop="imageinfo",
                  iiprop="url")["query"]["pages"][0]["imageinfo"][0]["url"]
    assert url == f"{killed.swift_auth_url.removesuffix('/auth/v1.0')}/v1/AUTH_test/wikipedia-commons-local-public/" \
                  f"{public_path('Flat profile.png')}"
    assert hashlib.sha1(requests.get(url, timeout=10).content).hexdigest() == \
        hashlib.sha1((tmp_path / "flat.png").read_bytes()).hexdigest()

    done = run_testbed("stop", env={"MEDIARESCUE_TESTBEDS": str(beds)})
    assert done.returncode == 0, done.stderr
    assert "stopped memcached, php, swift-account" in done.stdout
    assert procs.running(bed_dir) == {}
    for record in records.values():
        assert not Path(f"/proc/{record['pid']}").exists() or \
            Path(f"/proc/{record['pid']}/stat").read_text().split(")")[1].split()[0] == "Z"
    assert MediaWiki(swift_bed.api_url).get(action="query", meta="siteinfo")["query"]  # the other bed lives on


@pytest.mark.integration
def test_production_shaped_profile_shards_containers_and_serves_upload_style_urls(
        swift_bed: bed.TestBed, tmp_path: Path) -> None:
    api = seeder_api(swift_bed)
    write_media(tmp_path / "s.png", "png", 12, 5_000)
    sha1 = hashlib.sha1((tmp_path / "s.png").read_bytes()).hexdigest()
    assert api.upload(tmp_path / "s.png", "Sharded layout.png")["result"] == "Success"
    url = api.get(action="query", titles="File:Sharded layout.png", prop="imageinfo",
                  iiprop="url")["query"]["pages"][0]["imageinfo"][0]["url"]
    rel = public_path("Sharded layout.png")
    assert url == f"{swift_bed.upload_url}/{rel}" and "/wikipedia/commons/" in url
    store = SwiftStore(swift_bed.swift_auth_url, swift_bed.swift_user, swift_bed.swift_key)
    container, name = MediaLayout("wikipedia-commons", sharded=True).locate("public", rel)
    assert container == f"wikipedia-commons-local-public.{rel[2:4]}"
    assert store.head(container, name)["x-object-meta-sha1base36"] == sha1_base36(sha1)
    assert requests.head(url, timeout=10).status_code == 200
    assert requests.put(url, data=b"x", timeout=10).status_code == 405  # the rewrite only reads
    assert requests.get(url.replace(rel, "0/0f/No such file.png"), timeout=10).status_code == 404


@pytest.mark.integration
def test_postgres_catalog_server_runs_unprivileged_takes_its_password_and_stops_with_the_bed() -> None:
    bed.BEDS.mkdir(exist_ok=True)
    # not conftest's session bed (this test stops its bed), nor tmp_path (0700: closed to the server's account)
    bed_dir = bed.BEDS / "pytest-postgres-bed"
    if (bed_dir / bed.INFO).exists():
        bed.stop(bed_dir)
    done = run_testbed("start", str(bed_dir), "--profile", "fs", "--catalog", "postgres")
    try:
        assert done.returncode == 0, done.stderr
        test_bed = bed.load(bed_dir)
        assert f"catalog         {test_bed.catalog_url}" in done.stdout
        assert test_bed.catalog_url.startswith("postgresql://mediarescue@127.0.0.1:")
        assert test_bed.catalog_password not in test_bed.catalog_url
        env_file = (bed_dir / "testbed.env").read_text()
        assert f"MEDIARESCUE_CATALOG_URL='{test_bed.catalog_url}'" in env_file
        assert (bed_dir / "testbed.env").stat().st_mode & 0o777 == 0o600

        import psycopg

        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(test_bed.catalog_url, password="wrong", connect_timeout=5).close()
        with psycopg.connect(test_bed.catalog_url, password=test_bed.catalog_password, connect_timeout=5) as conn:
            conn.execute("CREATE TABLE probe (id bigint PRIMARY KEY)")
            conn.execute("INSERT INTO probe VALUES (1), (2)")
            assert conn.execute("SELECT count(*) FROM probe").fetchone() == (2,)
            backend_uid = Path(f"/proc/{conn.execute('SELECT pg_backend_pid()').fetchone()[0]}").stat().st_uid
        server_uid = Path(f"/proc/{procs.running(bed_dir)['postgres'][0]}").stat().st_uid
        assert server_uid != 0  # PostgreSQL refuses root: as root, the bed runs it as an unprivileged account
        assert backend_uid == server_uid
    finally:
        stopped = run_testbed("stop", str(bed_dir))
    assert "postgres" in stopped.stdout
    assert procs.running(bed_dir) == {}
    port = int(test_bed.catalog_url.rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
