"""Fixtures that start the real test beds. Each runs for the whole session under .testbed/ (or
$MEDIARESCUE_TESTBEDS); a bed left behind by a killed run is stopped before a new one starts."""
from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import itertools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mediarescue.catalog.engine import Postgres, PostgresURL
from mediarescue.files import OWNER_LOCK
from mediarescue.mediawiki import MediaWiki
from testbed import bed
from testbed.seed import SeedResult, seed
from testbed.storage import BedStorage

MEDIARESCUE = Path(sys.executable).parent / "mediarescue"  # the console script of the environment running pytest

# The session's temporary files (the command's, run in subprocesses, and the tests' own) go to a folder
# of its own, so that what a run leaves behind is seen at the end, not mixed with others' in /tmp.
# pytest's tmp_path stays where it was.
os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())
SESSION_TMP = bed.BEDS / f"tmp-{os.getpid()}"
SESSION_TMP.mkdir(parents=True, exist_ok=True, mode=0o700)
os.environ["TMPDIR"] = tempfile.tempdir = str(SESSION_TMP)


def _held_by_a_live_process(folder: Path) -> bool:
    """A folder of files.owned_tempdir whose process still runs (this one: the bot set up in-process
    by a test, removed when the interpreter exits)."""
    try:
        fd = os.open(folder / OWNER_LOCK, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The suite leaves no private temporary folder behind (a restore's copies, the bot's cookie)."""
    left = sorted(p.name for p in SESSION_TMP.glob("mediarescue-*") if not _held_by_a_live_process(p))
    shutil.rmtree(SESSION_TMP, ignore_errors=True)
    if left:
        print(f"\nconftest: the tests left private temporary folders behind: {', '.join(left)}", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _running_bed(name: str, profile: str, catalog: str = "sqlite") -> Iterator[bed.TestBed]:
    bed.BEDS.mkdir(exist_ok=True)
    bed_dir = bed.BEDS / name
    if (bed_dir / bed.INFO).exists():
        bed.stop(bed_dir)
    test_bed = bed.start(bed_dir, profile, catalog=catalog)
    try:
        yield test_bed
    finally:
        bed.stop(bed_dir)


@pytest.fixture(scope="session")
def swift_bed() -> Iterator[bed.TestBed]:
    yield from _running_bed("pytest-swift", "swift")


@pytest.fixture(scope="session")
def fs_bed() -> Iterator[bed.TestBed]:
    yield from _running_bed("pytest-fs", "fs")


@pytest.fixture(scope="session")
def collector_bed() -> Iterator[bed.TestBed]:
    """A production-shaped bed of its own for the collector: the pinned facts break files on theirs."""
    yield from _running_bed("pytest-collector", "swift")


@pytest.fixture(scope="session")
def incremental_bed() -> Iterator[bed.TestBed]:
    """A bed of its own for incremental runs, snapshots and retention: their tests change the wiki."""
    yield from _running_bed("pytest-incremental", "swift")


@pytest.fixture(scope="session")
def postgres_bed() -> Iterator[bed.TestBed]:
    """A wiki on Swift with a PostgreSQL server for catalogs, started once a session: the
    catalog tests' second engine, and the bed of the restore, verify and joined-collector tests on
    PostgreSQL. Not under tmp_path: pytest's folders are closed to the server's account."""
    yield from _running_bed("pytest-postgres", "swift", catalog="postgres")


class Catalogs:
    """Fresh, empty catalogs of one engine: files under tmp_path, or schemas of their own in the
    session's PostgreSQL (each a URL whose search_path names it)."""

    def __init__(self, engine: str, tmp_path: Path, postgres: bed.TestBed | None):
        self.engine, self.tmp_path, self.postgres = engine, tmp_path, postgres

    def new(self, name: str = "c") -> Path | PostgresURL:
        if self.postgres is None:
            return self.tmp_path / f"{name}.db"
        schema = f"t_{secrets.token_hex(6)}"  # conftest may be imported twice (as tests.conftest): no counter
        url = PostgresURL(self.postgres.catalog_url, self.postgres.catalog_password)
        with contextlib.closing(Postgres(url).connect()) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        return PostgresURL(f"{self.postgres.catalog_url}?options=-csearch_path%3D{schema}",
                           self.postgres.catalog_password)


@pytest.fixture(params=["sqlite", "postgres"])
def catalogs(request: pytest.FixtureRequest, tmp_path: Path) -> Catalogs:
    """The same catalog test on SQLite and on PostgreSQL."""
    postgres = request.getfixturevalue("postgres_bed") if request.param == "postgres" else None
    return Catalogs(request.param, tmp_path, postgres)


@pytest.fixture(scope="session")
def seeded(collector_bed: bed.TestBed) -> SeedResult:
    return seed(seeder_api(collector_bed))


@pytest.fixture(scope="session")
def postgres_seeded(postgres_bed: bed.TestBed) -> SeedResult:
    """The PostgreSQL bed's wiki, seeded once a session (a wiki is seeded once): 40 files of 200 kB
    and a large one, for the tests of collectors sharing a PostgreSQL catalog."""
    return seed(seeder_api(postgres_bed), count=40, size=200_000, large_size=12 * 2**20)


@pytest.fixture(scope="session", params=["swift", "fs"])
def any_bed(request: pytest.FixtureRequest) -> bed.TestBed:
    """The same test on the Swift-backed and on the filesystem-backed wiki."""
    return request.getfixturevalue(f"{request.param}_bed")


def mediarescue(config: Path | None, *args: str, stdin: str | None = None, env: dict[str, str] | None = None,
                wait: bool = True, timeout: float = 600) -> subprocess.CompletedProcess | subprocess.Popen:
    """The `mediarescue` command, as an operator runs it (with `--config` when given)."""
    argv = [str(MEDIARESCUE), *(["--config", str(config)] if config else []), *args]
    env = {**os.environ, **(env or {})}
    if not wait:
        return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(argv, input=stdin, env=env, capture_output=True, text=True, timeout=timeout)


def slow_api(test_bed: bed.TestBed, config: Path, delay: float) -> tuple[Any, Path]:
    """A started proxy that delays each request to the bed's API by `delay` seconds
    (benchmarks/latency_proxy.py; benchmarks/ is a folder of scripts, not a package), and a copy
    of `config` that asks the API through it: a collector slowed so that others beside it get work."""
    spec = importlib.util.spec_from_file_location("latency_proxy", Path(__file__).parents[1] / "benchmarks" /
                                                  "latency_proxy.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    proxy = module.LatencyProxy(int(test_bed.api_url.split("/")[2].rsplit(":", 1)[1]), delay).start()
    slow = config.with_name(f"{config.stem}-slow.toml")
    slow.write_text(config.read_text().replace(test_bed.api_url, f"{proxy.base_url}/api.php"))
    return proxy, slow


def kill_one_then_finish(lister: subprocess.Popen, joiners: list[subprocess.Popen], proxy: Any,
                         holds: Callable[[int], int], what: str) -> int:
    """Kill -9 the first joined process seen holding work (`holds(pid)`: how much; which one gets work
    is timing), then let the lister and the others finish: each must exit 0, the others having
    joined run 1. Returns what the killed one held."""
    victim, held = None, 0
    deadline = time.monotonic() + 120
    while not held and time.monotonic() < deadline and any(p.poll() is None for p in (lister, *joiners)):
        for joiner in joiners:
            with contextlib.suppress(Exception):  # the schema may not be made yet
                held = holds(joiner.pid) if joiner.poll() is None else 0
            if held:
                victim = joiner
                break
        time.sleep(0.01)
    assert victim is not None, f"no joined process was seen holding {what} to be killed with"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    out, err = lister.communicate(timeout=600)
    proxy.stop()
    assert lister.returncode == 0, out + err
    for joiner in (j for j in joiners if j is not victim):
        out, err = joiner.communicate(timeout=120)
        assert joiner.returncode == 0 and "joined run 1 of testbed" in out, out + err
    return held


def seeder_api(test_bed: bed.TestBed) -> MediaWiki:
    api = MediaWiki(test_bed.api_url, contact="mediarescue tests")
    api.login(test_bed.seed_user, test_bed.seed_password)
    return api


@pytest.fixture
def api(any_bed: bed.TestBed) -> MediaWiki:
    return seeder_api(any_bed)


@pytest.fixture
def storage(any_bed: bed.TestBed) -> BedStorage:
    return BedStorage(any_bed)


_names = itertools.count()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A file name no other test uses, so tests stay independent on a shared wiki."""
    words = request.node.name.split("[")[0].removeprefix("test_").replace("_", " ")
    return f"{words.capitalize()} {next(_names)}"  # capitalized, as MediaWiki stores it
