"""The follower's lag, and the choice of a pass's kind, on what a run returns (no wiki needed)."""
from __future__ import annotations

import calendar
import time
from pathlib import Path

import pytest

from collector.backup import Summary
from collector.follow import Follower, FollowOptions, change_lags
from collector.incremental import Changes
from mediarescue import config as configuration
from mediarescue.catalog import Catalog, snapshots
from tests.test_hardening_files import _config


def _epoch(timestamp: str) -> float:
    return calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ"))


def test_an_uploads_lag_ends_when_its_bytes_were_stored_other_changes_at_the_end_of_the_pass() -> None:
    changes = Changes()
    for entry in ({"type": "upload", "action": "upload", "title": "File:A.png", "timestamp": "2026-03-01T12:00:00Z",
                   "params": {"img_sha1": "1" * 31, "img_timestamp": "2026-03-01T12:00:00Z"}},
                  {"type": "delete", "action": "delete", "title": "File:B.png", "timestamp": "2026-03-01T12:00:01Z"},
                  {"type": "protect", "action": "protect", "title": "File:C.png", "timestamp": "2026-03-01T12:00:01Z"}):
        changes.add(entry)
    upload = next(iter(changes.uploaded_as))
    summary = Summary(run={}, errors=[], unreachable=0, collisions=[], changes=changes,
                      stored_at={upload: _epoch("2026-03-01T12:00:03Z")})
    assert change_lags(summary, ended=_epoch("2026-03-01T12:00:05Z")) == [3.0, 4.0]  # no lag for a protection


def test_the_first_pass_is_full_then_incremental_until_full_every(tmp_path: Path) -> None:
    config = configuration.load(_config(tmp_path))
    catalog = Catalog(tmp_path / "catalog.db")
    follower = Follower(config.wiki(None), catalog, None, "tests", FollowOptions(full_every=3600))
    assert follower.next_kind() == "full"  # never backed up
    run = catalog.start_run("w", "full")
    snapshots.save_log_position(catalog, run, '{"timestamp": "2026-03-01T12:00:00Z"}')
    catalog.finish_run(run, "done")
    assert follower.next_kind() == "incremental"
    catalog.conn.execute("UPDATE runs SET started = '2000-01-01T00:00:00Z'")
    catalog.conn.commit()
    assert follower.next_kind() == "full"
    assert Follower(config.wiki(None), catalog, None, "tests", FollowOptions(full_every=None)).next_kind() \
        == "incremental"
    catalog.close()


def test_upload_dir_and_swift_are_one_or_the_other(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config.write_text(config.read_text() + 'upload_dir = "images"\n[wiki.w.swift]\nauth_url = '
                      '"http://127.0.0.1:1/auth/v1.0"\nuser = "u"\nkey_env = "HOME"\nwiki_id = "x"\n')
    with pytest.raises(configuration.ConfigError, match="keep one"):
        configuration.load(config)
    config.write_text(config.read_text().split("[wiki.w.swift]")[0])
    assert configuration.load(config).wiki(None).upload_dir == tmp_path / "images"
