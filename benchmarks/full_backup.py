"""Speed and memory of a full backup, against what a plain loop and this machine can do.

    ./scripts/bench full_backup [--files N] [--size BYTES] [--large N] [--large-size BYTES]
                                [--rss-size BYTES] [--workers N] [--quick]

Two Swift test beds are seeded: one with N small files (default 2000 of ~100 KB), one with the
large files (default 3 of 120 MB), so that files/s is not blurred by a few big transfers and MB/s
not by listing thousands of small ones. Then, each collector run with a fresh catalog and blob
store (a second run would by design download nothing):

1. loopback: `mediarescue backup` reading over HTTP and from Swift, against a sequential loop
   (one requests session, stream + sha1, one file at a time) over the same current-version URLs;
2. 20 ms: the same over HTTP through latency proxies (one before the API, one before the file
   URLs, which the collector reaches through its config's url_rewrite, the loop likewise); goal >= 4x;
3. large files: the collector's MB/s against this machine's limit for sha1 + sha256 + write +
   fsync of the same bytes read from a local file, measured in the same run;
4. peak RSS of the collector while it backs up the large-file wiki plus one 1 GiB file (goal
   < 150 MB): VmHWM sampled from /proc while it runs, cross-checked with the ru_maxrss that
   getrusage(RUSAGE_CHILDREN) reports after the wait in a bare launcher process.

Collector times include its start-up, listing and catalog writes; the loop's only its downloads.
The table goes to stdout and, as JSON, to benchmarks/results/full_backup.json. The whole run
keeps to a time budget (default 11 min): a collector run that would overrun it is stopped.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import bulk
import requests
from latency_proxy import LatencyProxy

from mediarescue.mediawiki import MediaWiki, user_agent
from testbed import bed

RESULTS = Path(__file__).resolve().parent / "results" / "full_backup.json"
# The beds live where the test suite's do, so `./scripts/testbed stop` cleans up after a killed run.
CONTACT = "benchmarks@mediarescue.invalid"
WIKI = "bench"
DELAY = 0.020
RSS_GOAL_MB = 150
LATENCY_GOAL = 4.0
MB = 1e6
_BEGAN = time.monotonic()


class BenchError(Exception):
    pass


def say(message: str) -> None:
    print(f"[{time.monotonic() - _BEGAN:6.1f} s] {message}", file=sys.stderr, flush=True)


@dataclass
class Row:
    scenario: str
    what: str
    files: int
    bytes: int
    seconds: float | None            # None: not run
    ratio: float | None = None       # speed / the speed of `versus`
    versus: str | None = None
    peak_rss_mb: float | None = None
    exit_code: int | None = None
    note: str = ""
    idle_before: float | None = None  # the CPUs' idle fraction just before: low means a busy, noisy machine

    @property
    def files_per_s(self) -> float | None:
        return self.files / self.seconds if self.seconds else None

    @property
    def mb_per_s(self) -> float | None:
        return self.bytes / MB / self.seconds if self.seconds else None

    def compare(self, base: Row) -> Row:
        if self.seconds and base.seconds and self.exit_code in (None, 0):
            self.ratio = base.seconds / self.seconds * self.bytes / base.bytes if base.bytes else None
            self.versus = base.what
        return self


@dataclass(frozen=True)
class WikiFile:
    title: str
    url: str
    sha1: str
    size: int


class Budget:
    """The whole run's time limit: collector runs get what is left, minus what later steps need."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(fields), fields[3] + fields[4]  # all, idle + iowait


def settle(idle: float = 0.85, longest: float = 5.0) -> float:
    """Flush dirty pages and wait until the CPUs are mostly idle, so that one step's leftovers
    (writeback of an upload, a server finishing its work) do not land in the next step's time.
    Returns the idle fraction reached."""
    os.sync()
    began, fraction = time.monotonic(), 0.0
    while time.monotonic() - began < longest:
        total, quiet = _cpu_times()
        time.sleep(0.5)
        total2, quiet2 = _cpu_times()
        fraction = (quiet2 - quiet) / max(1, total2 - total)
        if fraction >= idle:
            break
    else:
        say(f"the machine did not settle: {fraction:.0%} idle after {longest:.0f} s")
        return fraction
    if time.monotonic() - began > 2:
        say(f"waited {time.monotonic() - began:.1f} s for the machine to settle")
    return fraction


# --- the wiki side ------------------------------------------------------------------------------

def list_files(test_bed: bed.TestBed) -> list[WikiFile]:
    """Every current version's URL, sha1 and size, as the collector will see them."""
    api = MediaWiki(test_bed.api_url, CONTACT)
    api.login(test_bed.bot_user, test_bed.bot_password)
    files = [WikiFile(i["title"], i["url"], i["sha1"], int(i["size"]))
             for batch in api.query(list="allimages", aiprop="url|sha1|size", ailimit="max")
             for i in batch["allimages"]]
    api.session.close()
    return files


def upload(test_bed: bed.TestBed, count: int, size: int, seed: int, prefix: str, vary: bool,
           keep_dir: Path | None = None) -> list[bulk.Uploaded]:
    began = time.monotonic()
    files = bulk.upload_files(test_bed.api_url, test_bed.seed_user, test_bed.seed_password, count, size, seed=seed,
                              prefix=prefix, vary=vary, keep_dir=keep_dir, progress=say)
    took = time.monotonic() - began
    total = sum(f.size for f in files) / MB
    say(f"uploaded {count} files, {total:.1f} MB in {took:.1f} s ({count / took:.1f} files/s, "
        f"{total / took:.1f} MB/s, {bulk.THREADS} threads)")
    return files


# --- the sequential loop and the machine's limit ------------------------------------------------

def rewritten(url: str, rewrite: tuple[str, str] | None) -> str:
    if rewrite and url.startswith(rewrite[0]):
        return rewrite[1] + url[len(rewrite[0]):]
    return url


def sequential_loop(files: list[WikiFile], rewrite: tuple[str, str] | None = None) -> float:
    """Seconds to download and sha1 every file, one at a time, on one keep-alive session."""
    with requests.Session() as session:
        session.headers["User-Agent"] = user_agent(CONTACT)
        began = time.monotonic()
        for f in files:
            digest = hashlib.sha1()
            with session.get(rewritten(f.url, rewrite), stream=True, timeout=60) as response:
                response.raise_for_status()
                for block in response.iter_content(1 << 20):
                    digest.update(block)
            if digest.hexdigest() != f.sha1:
                raise BenchError(f"{f.title}: sha1 {digest.hexdigest()}, the wiki says {f.sha1}")
        return time.monotonic() - began


def hash_write_limit(paths: list[Path], out_dir: Path, streams: int) -> float:
    """Seconds to read each file, sha1 + sha256 it and write it to a new file with fsync, in
    `streams` parallel threads (hashlib and file I/O release the GIL, so threads can use every core)."""
    def copy(path: Path) -> Path:
        sha1, sha256 = hashlib.sha1(), hashlib.sha256()
        buffer = bytearray(1 << 20)
        view = memoryview(buffer)
        target = out_dir / f"{path.name}.copy"
        with open(path, "rb", buffering=0) as source, open(target, "wb") as out:
            while n := source.readinto(buffer):
                sha1.update(view[:n])
                sha256.update(view[:n])
                out.write(view[:n])
            out.flush()
            os.fsync(out.fileno())
        return target

    began = time.monotonic()
    with ThreadPoolExecutor(streams) as pool:
        targets = list(pool.map(copy, paths))
    took = time.monotonic() - began
    for target in targets:
        target.unlink()
    return took


# --- the collector ------------------------------------------------------------------------------

def _private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return path


def write_config(run_dir: Path, test_bed: bed.TestBed, workers: int, swift: bool, api_url: str | None = None,
                 url_rewrite: str | None = None) -> Path:
    """A config with a fresh catalog and blob store in `run_dir`; secrets in files of mode 0600."""
    q = json.dumps  # a JSON string is a valid TOML basic string
    text = (f"catalog = {q(str(run_dir / 'catalog.db'))}\nblobs = {q(str(run_dir / 'blobs'))}\n"
            f"contact = {q(CONTACT)}\n\n[wiki.{WIKI}]\napi_url = {q(api_url or test_bed.api_url)}\n"
            f"user = {q(test_bed.bot_user)}\n"
            f"password_file = {q(str(_private(run_dir / 'bot-password', test_bed.bot_password)))}\n"
            f"workers = {workers}\n" + (f"url_rewrite = {q(url_rewrite)}\n" if url_rewrite else ""))
    if swift:
        text += (f"\n[wiki.{WIKI}.swift]\nauth_url = {q(test_bed.swift_auth_url)}\nuser = {q(test_bed.swift_user)}\n"
                 f"key_file = {q(str(_private(run_dir / 'swift-key', test_bed.swift_key)))}\n"
                 f"wiki_id = {q(test_bed.wiki_id)}\nsharded = {str(test_bed.sharded).lower()}\n")
    return _private(run_dir / "mediarescue.toml", text)


@dataclass
class CollectorRun:
    seconds: float
    exit_code: int               # -9: stopped at its timeout
    vm_hwm_kb: int               # the kernel's high-water mark of the collector's RSS, last read before exit
    rusage_children_kb: int | None  # the launcher's getrusage(RUSAGE_CHILDREN).ru_maxrss after its wait
    stored_bytes: int
    log: Path


# Why a launcher: a child's ru_maxrss starts from its parent's RSS at fork (or, after vfork, from
# the parent's whole memory at exec), so a collector spawned straight from this ~80 MB process
# would report at least that. Forked from this bare interpreter (~10 MB) it reports its own peak.
# The launcher writes the collector's pid, then after the wait its RUSAGE_CHILDREN ru_maxrss.
_LAUNCHER = """
import os, resource, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write(f"{pid}\\n")
_, status = os.waitpid(pid, 0)
with open(sys.argv[1], "a") as out:
    out.write(f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\\n")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def _vm_hwm_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None  # gone, or a zombie (its memory is already released)


def run_collector(command: list[str], run_dir: Path, config: Path, timeout: float,
                  env: dict[str, str] | None = None) -> CollectorRun:
    """One `mediarescue backup`, timed from spawn to exit; its RSS sampled every 10 ms."""
    log, info = run_dir / "collector.log", run_dir / "launcher.out"
    argv = [sys.executable, "-S", "-c", _LAUNCHER, str(info), *command,
            "--config", str(config), "backup", "--wiki", WIKI]
    with open(log, "wb") as out:
        began = time.monotonic()
        # A session of its own: on timeout, killpg ends the launcher and the collector, nothing else.
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                start_new_session=True)
    hwm, pid, timed_out = 0, None, False
    try:
        while proc.poll() is None:
            if pid is None and info.exists():
                first = info.read_text().split("\n")[0]
                pid = int(first) if first else None
            if pid is not None:
                hwm = max(hwm, _vm_hwm_kb(pid) or 0)
            if time.monotonic() - began > timeout:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            time.sleep(0.01)
    finally:
        if proc.returncode is None:  # interrupted: leave no collector behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    seconds = time.monotonic() - began
    lines = info.read_text().split() if info.exists() else []
    blobs = run_dir / "blobs"
    stored = sum(p.stat().st_size for p in blobs.rglob("*") if p.is_file()) if blobs.is_dir() else 0
    return CollectorRun(seconds, -9 if timed_out else proc.returncode, hwm,
                        int(lines[1]) if len(lines) > 1 else None, stored, log)


class Runner:
    def __init__(self, command: list[str] | None, scratch: Path, workers: int, budget: Budget):
        self.command, self.scratch, self.workers, self.budget = command, scratch, workers, budget
        self.rss: list[dict] = []
        self._runs = 0

    def collector(self, scenario: str, what: str, test_bed: bed.TestBed, files: list[WikiFile], swift: bool,
                  api_url: str | None = None, url_rewrite: str | None = None, reserve: float = 30) -> Row:
        """A full backup into a fresh catalog and blob store, as one table row."""
        row = Row(scenario, what, len(files), sum(f.size for f in files), None)
        if not self.command:
            row.note = "collector not available"
            return row
        timeout = min(600.0, self.budget.left() - reserve)
        if timeout < 10:
            row.note = "skipped: out of time budget"
            return row
        self._runs += 1
        run_dir = self.scratch / f"run-{self._runs}"
        run_dir.mkdir()
        config = write_config(run_dir, test_bed, self.workers, swift, api_url, url_rewrite)
        row.idle_before = settle()
        say(f"{scenario}: {what} ...")
        run = run_collector(self.command, run_dir, config, timeout)
        row.seconds, row.exit_code, row.peak_rss_mb = run.seconds, run.exit_code, run.vm_hwm_kb / 1024
        expected = sum({f.sha1: f.size for f in files}.values())
        if run.exit_code == -9:
            row.note = f"stopped after {timeout:.0f} s (time budget)"
        elif run.exit_code != 0:
            row.note = f"exit {run.exit_code}"
        elif run.stored_bytes < expected:
            row.note = f"blobs hold {run.stored_bytes / MB:.1f} MB, expected {expected / MB:.1f}"
        if run.exit_code != 0:
            tail = run.log.read_text(errors="replace").strip().splitlines()[-5:]
            say(f"{what}: exit {run.exit_code}; log {run.log}:\n    " + "\n    ".join(tail))
        self.rss.append({"scenario": scenario, "what": what, "vm_hwm_mb": run.vm_hwm_kb / 1024,
                         "rusage_children_maxrss_mb": run.rusage_children_kb / 1024
                         if run.rusage_children_kb is not None else None})
        say(f"{what}: {run.seconds:.1f} s, exit {run.exit_code}, VmHWM {run.vm_hwm_kb / 1024:.1f} MB")
        shutil.rmtree(run_dir / "blobs", ignore_errors=True)  # keep the disk free; the log and catalog stay
        return row


def collector_command(path: str | None) -> list[str] | None:
    """The `mediarescue` to run, or None when it has no working `backup` verb yet."""
    exe = path or str(Path(sys.executable).parent / "mediarescue")
    try:
        done = subprocess.run([exe, "backup", "--help"], capture_output=True, timeout=60)
    except OSError:
        return None
    return [exe] if done.returncode == 0 else None


def baseline(scenario: str, what: str, files: list[WikiFile], rewrite: tuple[str, str] | None = None) -> Row:
    idle = settle()
    say(f"{scenario}: {what} ...")
    seconds = sequential_loop(files, rewrite)
    say(f"{what}: {seconds:.1f} s")
    return Row(scenario, what, len(files), sum(f.size for f in files), seconds, idle_before=idle)


# --- the run ------------------------------------------------------------------------------------

def loopback(runner: Runner, test_bed: bed.TestBed, files: list[WikiFile]) -> list[Row]:
    """1. The small files over loopback: a plain loop, then the collector over HTTP and over Swift."""
    s = "1 loopback"
    base = baseline(s, "sequential loop, HTTP", files)
    workers = runner.workers
    # reserve: seconds the later steps need at least, so one slow run cannot eat the whole budget
    return [base,
            runner.collector(s, f"collector HTTP, {workers} workers", test_bed, files, False,
                             reserve=300).compare(base),
            runner.collector(s, f"collector Swift, {workers} workers", test_bed, files, True,
                             reserve=280).compare(base)]


def latency(runner: Runner, test_bed: bed.TestBed, files: list[WikiFile],
            proxies: list[LatencyProxy]) -> list[Row]:
    """2. 20 ms per request: one proxy before the API (php), one before the file URLs (Swift's proxy)."""
    s, workers = "2 +20 ms/request", runner.workers
    api_proxy = LatencyProxy(_port(test_bed.api_url), DELAY).start()
    proxies.append(api_proxy)
    file_origin = files[0].url.split("/", 3)
    file_proxy = LatencyProxy(int(file_origin[2].rsplit(":", 1)[1]), DELAY).start()
    proxies.append(file_proxy)
    rewrite = (f"{file_origin[0]}//{file_origin[2]}", file_proxy.base_url)
    rows = []
    for make in (lambda: baseline(s, "sequential loop, HTTP", files, rewrite),
                 lambda: runner.collector(s, f"collector HTTP, {workers} workers", test_bed, files, False,
                                          api_url=api_proxy.base_url + "/api.php",
                                          url_rewrite="=".join(rewrite), reserve=200)):
        before = file_proxy.delays
        row = make()
        through = file_proxy.delays - before
        if row.seconds is not None and through < len(files):  # else the figure would not be the slow path's
            row.note = (row.note + "; " if row.note else "") + \
                f"only {through} of {len(files)} downloads went through the proxy"
        say(f"{row.what}: {through} file requests and {api_proxy.delays} API requests so far through the proxies")
        rows.append(row)
    rows[-1].compare(rows[-2])
    for proxy in proxies:
        proxy.stop()
    proxies.clear()
    return rows


def large_files(runner: Runner, test_bed: bed.TestBed, files: list[WikiFile], local: Path,
                scratch: Path) -> list[Row]:
    """3. Large files against sha1 + sha256 + write + fsync of the same bytes (kept in `local`)."""
    s, workers = "3 large files", runner.workers
    paths = sorted(local.iterdir())
    streams = min(len(paths), os.cpu_count() or 1)
    limits = []
    for n in sorted({1, streams}):
        idle = settle()
        say(f"{s}: hash + write limit, {n} stream(s) ...")
        limits.append(Row(s, f"sha1+sha256+write+fsync, {n} stream{'s' if n > 1 else ''}", len(paths),
                          sum(p.stat().st_size for p in paths), hash_write_limit(paths, scratch, n),
                          idle_before=idle))
    limit = min(limits, key=lambda r: r.seconds)  # the machine's limit: the faster way
    for row in limits:
        if row is not limit:
            row.compare(limit)
    shutil.rmtree(local)
    base = baseline(s, "sequential loop, HTTP", files)
    return [*limits, base.compare(limit),
            runner.collector(s, f"collector HTTP, {workers} workers", test_bed, files, False,
                             reserve=150).compare(limit),
            runner.collector(s, f"collector Swift, {workers} workers", test_bed, files, True,
                             reserve=130).compare(limit)]


def peak_rss(runner: Runner, args: argparse.Namespace, test_bed: bed.TestBed, uploads: dict[str, dict]) -> list[Row]:
    """4. Peak RSS with a huge file in the wiki (the large files are backed up alongside it)."""
    s = f"4 RSS, {args.rss_size / 2**30:.2f} GiB file"
    needed = args.rss_size / 10e6 + 60  # the upload goes at ~15 MB/s here, then two backups
    if not runner.command or runner.budget.left() <= needed:
        return [Row(s, "collector", 1, args.rss_size, None,
                    note="collector not available" if not runner.command else "skipped: out of time budget")]
    began = time.monotonic()
    upload(test_bed, 1, args.rss_size, 3, "Bench huge", vary=False)
    uploads["rss"] = {"files": 1, "seconds": time.monotonic() - began}
    huge, rows = list_files(test_bed), []
    for swift in (False, True):
        row = runner.collector(s, f"collector {'Swift' if swift else 'HTTP'}, {runner.workers} workers",
                               test_bed, huge, swift, reserve=10)
        if row.peak_rss_mb is not None:
            row.note = (row.note + "; " if row.note else "") + \
                f"peak RSS {'<' if row.peak_rss_mb < RSS_GOAL_MB else '>='} {RSS_GOAL_MB} MB goal"
        rows.append(row)
    return rows


def run(args: argparse.Namespace, scratch: Path) -> dict:
    command = collector_command(args.collector)
    if not command:
        say("mediarescue backup is not available: measuring everything but the collector")
    runner = Runner(command, scratch, args.workers, Budget(args.budget))
    rows: list[Row] = []
    uploads: dict[str, dict] = {}
    beds: list[Path] = []
    proxies: list[LatencyProxy] = []
    try:
        # Both beds first, so that a failing start costs nothing else.
        small_bed = _fresh_bed("bench-small", beds)
        large_bed = _fresh_bed("bench-large", beds)
        say(f"test beds up: small {small_bed.api_url}, large {large_bed.api_url}")

        began = time.monotonic()
        upload(small_bed, args.files, args.size, 1, "Bench", vary=True)
        uploads["small"] = {"files": args.files, "seconds": time.monotonic() - began}
        local = scratch / "large-local"
        local.mkdir()
        began = time.monotonic()
        upload(large_bed, args.large, args.large_size, 2, "Bench large", vary=False, keep_dir=local)
        uploads["large"] = {"files": args.large, "seconds": time.monotonic() - began}
        small, large = list_files(small_bed), list_files(large_bed)
        if len(small) != args.files or len(large) != args.large:
            raise BenchError(f"the wikis list {len(small)} and {len(large)} files, not {args.files} and {args.large}")

        rows += loopback(runner, small_bed, small)
        rows += latency(runner, small_bed, small, proxies)
        rows += large_files(runner, large_bed, large, local, scratch)
        rows += peak_rss(runner, args, large_bed, uploads)
    finally:
        for proxy in proxies:
            proxy.stop()
        for bed_dir in beds:
            bed.stop(bed_dir)
            shutil.rmtree(bed_dir, ignore_errors=True)  # GBs of Swift data: nothing is kept across runs

    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "parameters": vars(args),
            "machine": {"cpus": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version(),
                        "kernel": platform.release()},
            "commit": _commit(), "collector": command, "uploads": uploads,
            "rows": [{**asdict(r), "files_per_s": r.files_per_s, "mb_per_s": r.mb_per_s} for r in rows],
            "rss": runner.rss, "seconds": time.monotonic() - _BEGAN}


def _fresh_bed(name: str, started: list[Path]) -> bed.TestBed:
    bed.BEDS.mkdir(exist_ok=True)
    if (bed.BEDS / name / bed.INFO).exists():
        bed.stop(bed.BEDS / name)  # left by a killed run
    test_bed = bed.start(bed.BEDS / name, "swift")  # cleans up after itself when it fails
    started.append(test_bed.dir)
    return test_bed


def _port(url: str) -> int:
    return int(url.split("/")[2].rsplit(":", 1)[1])


def _cpu_model() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def _commit() -> str | None:
    done = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True)
    return done.stdout.strip() or None


def table(result: dict) -> str:
    def num(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    head = f"{'scenario':<20} {'what':<36} {'files':>6} {'MB':>8} {'s':>7} {'files/s':>8} {'MB/s':>7} " \
           f"{'ratio':>6}  {'RSS MB':>6}  note"
    lines = [head, "-" * len(head)]
    for r in result["rows"]:
        versus = f"x vs {r['versus']}" if r["ratio"] is not None else ""
        busy = f"only {r['idle_before']:.0%} idle before" if r["idle_before"] is not None and \
            r["idle_before"] < 0.85 else ""
        note = "; ".join(n for n in (r["note"], versus, busy) if n)
        lines.append(f"{r['scenario']:<20} {r['what']:<36} {r['files']:>6} {r['bytes'] / MB:>8.1f} "
                     f"{num(r['seconds'], 1):>7} {num(r['files_per_s'], 1):>8} {num(r['mb_per_s'], 1):>7} "
                     f"{num(r['ratio'], 2):>6}  {num(r['peak_rss_mb'], 1):>6}  {note}")
    goals = []
    for r in result["rows"]:
        if r["scenario"].startswith("2 ") and r["what"].startswith("collector") and r["ratio"] is not None:
            goals.append(f"20 ms: collector {r['ratio']:.2f}x the sequential loop "
                         f"(goal >= {LATENCY_GOAL:g}x: {'met' if r['ratio'] >= LATENCY_GOAL else 'NOT met'})")
    for rss in result["rss"]:
        if rss["scenario"].startswith("4 "):
            children = rss["rusage_children_maxrss_mb"]
            peak = max(rss["vm_hwm_mb"], children or 0)
            goals.append(f"{rss['scenario']}, {rss['what']}: peak RSS {rss['vm_hwm_mb']:.1f} MB by VmHWM, "
                         f"{'-' if children is None else f'{children:.1f}'} MB by RUSAGE_CHILDREN ru_maxrss; "
                         f"goal < {RSS_GOAL_MB} MB: {'met' if peak < RSS_GOAL_MB else 'NOT met'}")
    if result["parameters"]["quick"]:
        goals.append("(--quick: too few files for the goals to mean much; start-up and listing dominate)")
    return "\n".join(lines + [""] + goals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, help="small files (default 2000; --quick 200)")
    parser.add_argument("--size", type=int, default=100_000, help="mean size of the small files (bytes)")
    parser.add_argument("--large", type=int, help="large files (default 3; --quick 1)")
    parser.add_argument("--large-size", type=int, help="bytes per large file (default 120 MB; --quick 30 MB)")
    parser.add_argument("--rss-size", type=int, help="bytes of the RSS file (default 1 GiB; --quick 200 MB)")
    parser.add_argument("--workers", type=int, default=8, help="the collector's workers (config `workers`)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: everything shrunk")
    parser.add_argument("--budget", type=float, default=660, help="seconds the whole run may take")
    parser.add_argument("--collector", help="the mediarescue executable (default: the venv's)")
    args = parser.parse_args()
    defaults = (200, 1, 30 * 10**6, 200 * 10**6) if args.quick else (2000, 3, 120 * 10**6, 2**30)
    for name, value in zip(("files", "large", "large_size", "rss_size"), defaults):
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.files < 1 or args.large < 1:
        parser.error("--files and --large must be at least 1")
    with tempfile.TemporaryDirectory(prefix="mediarescue-bench-") as scratch:
        result = run(args, Path(scratch))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    print(f"\n{result['seconds']:.0f} s in all; JSON in {RESULTS}")


if __name__ == "__main__":
    main()
