"""Requests and seconds of an incremental run on an unchanged wiki (goal: independent of the
wiki's size, under 2 s with 10,000 files).

    ./scripts/bench incremental [--files N] [--small N] [--runs N] [--fill api|import] [--size BYTES]

A Swift test bed gets SMALL files (default 100) and a full backup; once the log has been quiet
for a minute (collector.incremental.OVERLAP), RUNS incremental runs are timed through the real
`mediarescue backup --incremental --json` (process start included), with the API requests each
made. The wiki then grows to N files (default 10,000): one incremental run catches up (it reads
the new titles again and downloads their bytes), one more runs right after it, and after a quiet
minute RUNS more on the unchanged wiki are timed again. The same requests and about the same
seconds at both sizes is what "independent of the wiki's size" means.

The files go in with MediaWiki's importImages.php, two processes (the same LocalFile upload code,
upload log entries and description pages as an API upload, without HTTP): 10,000 in a few
minutes. `--fill api` uploads them through the API instead, 4 threads with one logged-in client
each (benchmarks/bulk.py): 16-24 files/s here, so 10,000 take 7 to 11 minutes, more when the
machine is shared. What is timed is the same either way. Results: stdout and
benchmarks/results/incremental.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import bulk

from collector.incremental import OVERLAP
from testbed import bed
from testbed.media import write_media

ROOT = Path(__file__).resolve().parents[1]
MEDIARESCUE = ROOT / ".venv" / "bin" / "mediarescue"
RESULTS = Path(__file__).resolve().parent / "results" / "incremental.json"
KINDS = ("png", "jpg", "gif", "tif", "pdf")
_BEGAN = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - _BEGAN:6.1f} s] {message}", file=sys.stderr, flush=True)


def fill_api(test_bed: bed.TestBed, first: int, count: int, size: int) -> None:
    bulk.upload_files(test_bed.api_url, test_bed.seed_user, test_bed.seed_password, count, size, seed=first,
                      prefix="Bench incremental", progress=say)


def fill_import(test_bed: bed.TestBed, first: int, count: int, size: int) -> None:
    """importImages.php, two processes (one per core), each on a folder of its own."""
    with tempfile.TemporaryDirectory(prefix="mediarescue-bench-import-") as scratch:
        folders = [Path(scratch) / str(n) for n in range(2)]
        for folder in folders:
            folder.mkdir()
        for i in range(first, first + count):
            kind = KINDS[i % len(KINDS)]
            write_media(folders[i % 2] / f"Bench incremental {i:06d}.{kind}", kind, 700_000 + i, size)
        env = {**os.environ, "MW_INSTALL_PATH": str(test_bed.wiki_root)}
        procs = [subprocess.Popen(["php", "maintenance/importImages.php", str(folder), "--user=Seeder",
                                   "--comment=Benchmark file. {{self|cc-by-sa-4.0}}"], cwd=test_bed.wiki_root,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for folder in folders]
        for proc in procs:
            _, err = proc.communicate()
            if proc.returncode:
                raise SystemExit(f"importImages.php failed: {err.decode()[-500:]}")


def backup(config: Path, *args: str) -> tuple[float, dict]:
    began = time.monotonic()
    done = subprocess.run([str(MEDIARESCUE), "--config", str(config), "backup", "--json", *args],
                          capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - began
    if done.returncode != 0:
        raise SystemExit(f"mediarescue backup {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout)


def unchanged_runs(config: Path, runs: int) -> dict:
    times, requests, changes = [], set(), set()
    for _ in range(runs):
        seconds, result = backup(config, "--incremental")
        times.append(seconds)
        requests.add(result["snapshot"]["requests"])
        changes.add((result["snapshot"]["new_versions"], result["snapshot"]["changed_versions"]))
    assert changes == {(0, 0)}, f"an unchanged wiki changed: {changes}"
    return {"runs": runs, "seconds_median": statistics.median(times), "seconds_max": max(times),
            "requests": sorted(requests)}


def _versions(catalog: Path) -> int:
    with sqlite3.connect(catalog) as db:
        return db.execute("SELECT COUNT(*) FROM versions").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=2_000, help="bytes per file (about)")
    parser.add_argument("--fill", choices=("api", "import"), default="import")
    args = parser.parse_args()
    fill = fill_api if args.fill == "api" else fill_import
    result: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "parameters": vars(args), "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    with tempfile.TemporaryDirectory(prefix="mediarescue-bench-") as scratch:
        bed_dir, work = Path(scratch) / "bed", Path(scratch)
        test_bed = bed.start(bed_dir, "swift")
        try:
            config = test_bed.write_config(work / "m.toml", work / "catalog.db", work / "blobs", name="bench")
            began = time.monotonic()
            fill(test_bed, 0, args.small, args.size)
            say(f"{args.small} files in {time.monotonic() - began:.0f} s; full backup")
            seconds, _ = backup(config, "--full")
            time.sleep(OVERLAP.total_seconds())  # a quiet wiki: runs no longer re-read the uploads' entries
            result["small"] = {"files": args.small, "versions": _versions(work / "catalog.db"),
                               "full_backup_seconds": seconds, **unchanged_runs(config, args.runs)}
            say(f"small wiki: {result['small']}")
            began = time.monotonic()
            fill(test_bed, args.small, args.files - args.small, args.size)
            filled = time.monotonic() - began
            say(f"{args.files - args.small} more files in {filled:.0f} s "
                f"({(args.files - args.small) / filled:.1f} files/s, --fill {args.fill}); catching up")
            seconds, caught_up = backup(config, "--incremental")
            result["catch_up"] = {"new_files": args.files - args.small, "seconds": seconds,
                                  "fill_seconds": filled, **caught_up["snapshot"]}
            seconds, right_after = backup(config, "--incremental")  # the burst's last minute is read again
            result["right_after_burst"] = {"seconds": seconds, "requests": right_after["snapshot"]["requests"]}
            time.sleep(OVERLAP.total_seconds())
            result["large"] = {"files": args.files, "versions": _versions(work / "catalog.db"),
                               **unchanged_runs(config, args.runs)}
            say(f"large wiki: {result['large']}")
        finally:
            bed.stop(bed_dir)
    result["machine"]["load_average"] = os.getloadavg()
    for size in ("small", "large"):
        r = result[size]
        print(f"incremental run, unchanged wiki of {r['files']:>6,} files ({r['versions']:,} versions catalogued): "
              f"median {r['seconds_median']:.2f} s (max {r['seconds_max']:.2f}) over {r['runs']} runs, "
              f"{'/'.join(map(str, r['requests']))} API requests")
    r = result["right_after_burst"]
    print(f"incremental run within {OVERLAP.total_seconds():.0f} s of that burst (it reads the burst's last "
          f"entries again): {r['seconds']:.2f} s, {r['requests']} API requests")
    c = result["catch_up"]
    print(f"incremental run catching up {c['new_files']:,} new files: {c['seconds']:.1f} s, {c['log_entries']:,} "
          f"log entries, {c['titles_read_again']:,} titles read again, {c['requests']} API requests")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
