"""Rough edges a new user hit (issue 13), each proven: the check lock is owner-only; the private
temporary folders of a restore killed with -9 are swept at the next start, and only those of dead
processes; pywikibot's chatter stays off the operator's screen while its warnings do not; sha1 and
sha256 prefixes find versions (and an ambiguous one says so)."""
from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from collector.checker import check
from mediarescue.blobstore.local import LocalBlobStore
from mediarescue.catalog import Catalog, Version
from mediarescue.files import OWNER_LOCK, owned_tempdir, sweep_stale_tempdirs
from tests.conftest import mediarescue
from tests.test_hardening_files import _config, _mode, _one_line_error, umask_022  # noqa: F401


def test_the_check_lock_is_owner_only_under_umask_022(tmp_path: Path, umask_022: None) -> None:  # noqa: F811
    (tmp_path / "catalog.db.check.lock").write_text("")
    (tmp_path / "catalog.db.check.lock").chmod(0o644)  # one made before locks were private is tightened
    catalog = Catalog(tmp_path / "catalog.db")
    check(catalog, LocalBlobStore(tmp_path / "blobs"))
    catalog.close()
    assert _mode(tmp_path / "catalog.db.check.lock") == 0o600
    (tmp_path / "catalog.db.check.lock").unlink()
    catalog = Catalog(tmp_path / "catalog.db")
    check(catalog, LocalBlobStore(tmp_path / "blobs"))
    catalog.close()
    assert _mode(tmp_path / "catalog.db.check.lock") == 0o600


_HOLDER = """
import sys, time
from mediarescue.files import owned_tempdir
path = owned_tempdir(sys.argv[1])
(path / "cookie").write_text("session")
print(path, flush=True)
time.sleep(600)
"""


def _holder(prefix: str) -> tuple[subprocess.Popen, Path]:
    process = subprocess.Popen([sys.executable, "-c", _HOLDER, prefix], stdout=subprocess.PIPE, text=True)
    return process, Path(process.stdout.readline().strip())


def test_stale_private_tempdirs_are_swept_only_when_their_process_is_gone() -> None:
    prefix = f"mediarescue-test-sweep-{os.getpid()}-"
    killed, killed_dir = _holder(prefix)
    alive, alive_dir = _holder(prefix)
    mine = owned_tempdir(prefix)
    unmarked = Path(tempfile.mkdtemp(prefix=prefix))  # no lock file: not known to be ours, left alone
    try:
        assert _mode(killed_dir) == 0o700 and (killed_dir / OWNER_LOCK).exists()
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert sweep_stale_tempdirs(prefix) == [killed_dir]
        assert not killed_dir.exists() and alive_dir.exists() and mine.exists() and unmarked.exists()
    finally:
        alive.kill()
        alive.wait()
        killed.stdout.close()
        alive.stdout.close()
    assert sweep_stale_tempdirs(prefix) == [alive_dir]
    for path in (mine, unmarked):
        path.joinpath(OWNER_LOCK).unlink(missing_ok=True)
        for child in path.iterdir():
            child.unlink()
        path.rmdir()


def test_pywikibot_shows_warnings_but_not_its_chatter_nor_expected_api_errors() -> None:
    from restorer.bot import _OnlyWhatMatters

    def shown(level: int, message: str) -> bool:
        return _OnlyWhatMatters().filter(logging.LogRecord("pywiki", level, "x", 1, message, None, None))

    assert not shown(logging.INFO, "Logging in to mediarescue-w:mediarescue-w as Bot")
    assert not shown(logging.WARNING, "API error fileexists-no-change: The upload is an exact duplicate")
    assert shown(logging.WARNING, "API error badtoken: Invalid CSRF token.")
    assert shown(logging.ERROR, "Something failed")


def test_the_bot_uses_no_deprecated_pywikibot_call() -> None:
    """pywikibot marks its deprecated methods; calling one warns (FutureWarning or DeprecationWarning)."""
    import inspect
    import re

    from restorer import bot

    engine = bot.engine()
    throttle = engine.pywikibot.throttle.Throttle
    source = inspect.getsource(bot)
    for name in set(re.findall(r"throttle\.(\w+)\(", source)):
        wrapped = getattr(throttle, name)
        assert not hasattr(wrapped, "__wrapped__") or "deprecat" not in (wrapped.__doc__ or "").lower(), name
    assert "setDelays" not in source


def _two_by_sha1_prefix(tmp_path: Path) -> tuple[str, str, str]:
    """Two stored versions whose sha1s share their first 8 hex digits (a birthday search: about
    65,000 hashes), and the sha256 of the first."""
    seen: dict[str, bytes] = {}
    n = 0
    while True:
        data = f"content {n}".encode()
        key = hashlib.sha1(data).hexdigest()[:8]
        if key in seen:
            break
        seen[key] = data
        n += 1
    catalog = Catalog(tmp_path / "catalog.db")
    store = LocalBlobStore(tmp_path / "blobs")
    run = catalog.start_run("w", "full")
    versions = [Version("w", f"File:Prefix {i}.png", "2026-01-01T00:00:00Z", hashlib.sha1(d).hexdigest(),
                        f"File:Prefix {i}.png", len(d), "current") for i, d in enumerate((seen[key], data))]
    for job, content in zip(catalog.record_versions(run, versions), (seen[key], data)):
        stored = store.put(iter([content]), expect_sha1=job.version.sha1)
        catalog.stored(job.id, stored.sha256, stored.sha1, stored.size, stored.new, run)
    catalog.finish_run(run, "done")
    catalog.close()
    return versions[0].sha1, versions[1].sha1, hashlib.sha256(seen[key]).hexdigest()


@pytest.mark.parametrize("verb", ["find", "plan"])
def test_unique_digest_prefixes_are_accepted_and_an_ambiguous_one_is_named(tmp_path: Path, verb: str) -> None:
    config = _config(tmp_path)
    first, second, first_sha256 = _two_by_sha1_prefix(tmp_path)
    assert first[:8] == second[:8] and first[:12] != second[:12]
    message = _one_line_error(mediarescue(config, verb, "--sha1", first[:8]))
    assert "ambiguous" in message and first[:12] in message and second[:12] in message
    assert "at least 8" in _one_line_error(mediarescue(config, verb, "--sha1", first[:7]))
    assert "hex" in _one_line_error(mediarescue(config, verb, "--sha1", "zz" + first[:10]))
    if verb == "find":
        for option, digest in (("--sha1", first[:12]), ("--sha256", first_sha256[:10]), ("--sha1", first.upper())):
            done = mediarescue(config, "find", option, digest, "--json")
            assert done.returncode == 0, done.stderr
            assert "File:Prefix 0.png" in done.stdout and "File:Prefix 1.png" not in done.stdout
        assert mediarescue(config, "find", "--sha1", "0123456789abcdef").returncode == 1  # matches nothing
    else:  # plan resolves the prefix before it contacts the wiki (which this config does not have)
        done = mediarescue(config, "plan", "--sha1", first[:12])
        assert "ambiguous" not in done.stderr and "no catalogued version" not in done.stderr
        assert "no catalogued version" in mediarescue(config, "plan", "--sha1", "0123456789abcdef").stderr


@pytest.mark.integration
def test_a_refused_login_of_the_bot_is_an_error_without_pywikibots_chatter(
        fs_bed, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:  # noqa: ANN001
    from mediarescue import config as configuration
    from restorer.bot import Bot, BotError

    config = fs_bed.write_config(tmp_path / "m.toml", tmp_path / "catalog.db", tmp_path / "blobs")
    (tmp_path / "m-secrets" / "bot-password").write_text("0" * 32)  # a wrong bot password
    wiki = configuration.load(config).wiki(None)
    with pytest.raises(BotError, match="login"):
        Bot(wiki, "mediarescue tests")
    out, err = capfd.readouterr()
    assert "Logging in" not in out + err, out + err


@pytest.mark.parametrize("verb", [("plan",), ("verify",), ("restore",), ("restore", "--yes")])
def test_a_titles_file_that_is_not_utf8_is_one_line_and_exit_2(tmp_path: Path, verb: tuple[str, ...]) -> None:
    config = _config(tmp_path)
    Catalog(tmp_path / "catalog.db").close()
    (tmp_path / "titles.txt").write_bytes("File:Caf\xe9.png\n".encode("latin-1"))
    assert "is not UTF-8 text" in _one_line_error(mediarescue(config, *verb, str(tmp_path / "titles.txt")))
