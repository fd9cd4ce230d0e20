"""`status`, its judgement (policies.health, table-tested) and the metrics textfile, on real catalogs
built here; the textfile is read back with prometheus_client's own parser."""
from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from collector import metadata as kept_metadata
from mediarescue.blobstore.local import LocalBlobStore
from mediarescue.catalog import Catalog, Version
from policies import health
from tests.conftest import mediarescue
from tests.test_hardening_files import _config

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def _run(run_id: int, kind: str, status: str = "done", errors: int = 0, ended: str = "2026-03-01T11:00:00Z") -> dict:
    return {"id": run_id, "kind": kind, "status": status, "errors": errors, "ended": ended,
            "started": "2026-03-01T10:59:00Z"}


def _wiki(last_run: dict | None = None, last_success: dict | None = None, error: int = 0, restore: dict | None = None
          ) -> dict:
    return {"last_run": {"full": None, "incremental": None, **(last_run or {})},
            "last_success": {"full": None, "incremental": None, **(last_success or {})},
            "versions": {"pending": 0, "error": error, "unreachable": 3}, "last_restore": restore}


@pytest.mark.parametrize("wiki, expected", [
    (_wiki({"full": _run(1, "full")}, {"full": _run(1, "full")}), []),
    (_wiki(), ["no backup run of this wiki finished its work yet"]),
    (_wiki({"full": _run(1, "full", ended="2026-02-27T12:00:00Z")},
           {"full": _run(1, "full", ended="2026-02-27T12:00:00Z")}),
     ["no backup run finished for 48.0 h (allowed: 26.0 h)"]),
    (_wiki({"full": _run(1, "full"), "incremental": _run(2, "incremental", "failed")}, {"full": _run(1, "full")}),
     ["the last run (2, incremental) failed"]),
    (_wiki({"full": _run(3, "full", errors=2), "incremental": _run(2, "incremental")},
           {"full": _run(3, "full", errors=2)}, error=2),
     ["the last run (3, full) had 2 errors", "2 versions could not be backed up (a full run retries them)"]),
    (_wiki({"full": _run(1, "full", errors=2), "incremental": _run(2, "incremental")}, {"full": _run(1, "full")}), []),
    (_wiki({"full": _run(1, "full")}, {"full": _run(1, "full")},
           restore={"id": 4, "status": "failed", "failed": 1}), ["the last restore (4) failed for 1 actions"]),
])
def test_wiki_attention(wiki: dict, expected: list[str]) -> None:
    assert health.wiki_attention(wiki, NOW, timedelta(hours=26)) == expected


def test_store_attention() -> None:
    clean = {"mode": "exists", "last_run": "x", "last_missing": 0, "last_corrupt": 0, "last_errors": 0}
    store = {"private_plaintext": 2}
    assert health.store_attention([clean], store, key_configured=False) == []
    assert health.store_attention([{**clean, "last_missing": 1}], {"private_plaintext": 0}, False) == [
        "the last check (exists, x) found 1 missing: see `mediarescue check`"]
    assert "2 blobs of private content are stored unencrypted" in health.store_attention([], store, True)[0]


def _catalogue(tmp_path: Path, errors: bool) -> None:
    """A finished full run of wiki w: two versions stored, or with `errors` a third that failed."""
    catalog, store = Catalog(tmp_path / "catalog.db"), LocalBlobStore(tmp_path / "blobs")
    run = catalog.start_run("w", "full")
    contents = [b"three"] if errors else [b"one", b"two"]
    jobs = catalog.record_versions(run, [Version("w", f"File:{n}.png", "2026-01-01T00:00:00Z",
                                                 hashlib.sha1(c).hexdigest(), f"File:{n}.png", len(c), "current")
                                         for n, c in enumerate(contents)])
    for job, content in zip(jobs, contents):
        if errors and content == b"three":
            catalog.failed(job.id, "error", "HTTP 404", run)
            continue
        stored = store.put(iter([content]), expect_sha1=job.version.sha1)
        catalog.stored(job.id, stored.sha256, stored.sha1, stored.size, stored.new, run)
    catalog.finish_run(run, "done")
    kept_metadata.save(catalog, store)  # as the backup run does at its end: check finds the store's copy
    catalog.close()


def _metrics(path: Path) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(path.read_text()) for s in family.samples}


def test_status_and_the_metrics_textfile_say_what_the_catalog_holds(tmp_path: Path) -> None:
    config = _config(tmp_path, extra='metrics_file = "metrics/mediarescue.prom"\n')
    (tmp_path / "metrics").mkdir()
    _catalogue(tmp_path, errors=False)
    done = mediarescue(config, "status")
    assert done.returncode == 0, done.stdout + done.stderr
    for said in ("wiki w: ok", "2 blobs", "2 stored, 2 new blobs", "never (`mediarescue check`)"):
        assert said in done.stdout, done.stdout

    _catalogue(tmp_path, errors=True)  # a second full run: one version failed
    done = mediarescue(config, "status", "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    wiki = report["wikis"][0]
    assert wiki["versions"]["error"] == 1 and wiki["last_run"]["full"]["errors"] == 1
    assert wiki["attention"] == ["the last run (2, full) had 1 errors",
                                 "1 versions could not be backed up (a full run retries them)"]
    assert "secret" not in done.stdout  # the password file's content

    assert mediarescue(config, "check").returncode == 0  # a batch verb: the textfile follows it
    figures = _metrics(tmp_path / "metrics" / "mediarescue.prom")
    assert figures[("mediarescue_last_run_errors", (("kind", "full"), ("wiki", "w")))] == 1
    assert figures[("mediarescue_last_run_ok", (("kind", "full"), ("wiki", "w")))] == 0
    assert figures[("mediarescue_last_run_versions_stored", (("kind", "full"), ("wiki", "w")))] == 0
    assert figures[("mediarescue_versions", (("backup_status", "error"), ("wiki", "w")))] == 1
    assert figures[("mediarescue_store_blobs", ())] == 2
    assert figures[("mediarescue_store_bytes", ())] == len(b"one") + len(b"two")
    assert figures[("mediarescue_check_checked", (("mode", "exists"),))] == 2
    assert figures[("mediarescue_check_missing", (("mode", "exists"),))] == 0
    assert figures[("mediarescue_attention", (("wiki", "w"),))] == 1
    ended = figures[("mediarescue_last_success_timestamp_seconds", (("kind", "full"), ("wiki", "w")))]
    assert abs(ended - time.time()) < 60
    assert not list((tmp_path / "metrics").glob("*.tmp*"))  # written whole, then renamed

    for path in (tmp_path / "blobs").rglob("*"):
        if path.is_file() and path.parent.name not in ("tmp", "quarantine") and "metadata" not in path.parts:
            path.unlink()
            break
    assert mediarescue(config, "check").returncode == 1
    figures = _metrics(tmp_path / "metrics" / "mediarescue.prom")
    assert figures[("mediarescue_check_missing", (("mode", "exists"),))] == 1
    done = mediarescue(config, "status")
    assert done.returncode == 1 and "found 1 missing" in done.stdout


def test_no_run_within_max_age_needs_attention(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _catalogue(tmp_path, errors=False)
    assert mediarescue(config, "status").returncode == 0
    time.sleep(1.1)
    done = mediarescue(config, "status", "--max-age", "0.0001")
    assert done.returncode == 1 and "no backup run finished for" in done.stdout
    assert mediarescue(config, "status", "--max-age", "0").returncode == 2
