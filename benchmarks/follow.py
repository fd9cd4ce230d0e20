"""Follow mode: the lag of small uploads at a steady rate, and what an idle follower costs.

    ./scripts/bench follow [--interval SECONDS] [--rate UPLOADS_PER_SECOND] [--uploads N] [--size BYTES]
                           [--idle SECONDS]

A Swift test bed of its own (.testbed/bench-follow, its catalog beside it) and the real `mediarescue backup --follow`
(interval 10 s by default, metrics on a local port). Once its first full run is done, the seeder
uploads N small files (default 120, about 20 KB) at a steady rate (default 1 a second). Lag is
measured two ways: by the benchmark, from the moment an upload's API call returned to the moment
the catalog shows its bytes stored (polled every 0.1 s), and by the follower itself, from the log
entry's timestamp (whole seconds) to its bytes stored (its histogram: mean, and p50/p95 read from
the buckets). Then, once the wiki has been quiet for a minute (the log window each pass re-reads),
the follower idles for --idle seconds (default 180): its CPU seconds (utime + stime of its process,
/proc) and the API requests it sent (its own counter) over that window, extrapolated to an hour —
at the interval measured, and per pass times 60 for the default interval of 60 s. Results: stdout
and benchmarks/results/follow.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from collector.incremental import OVERLAP
from mediarescue.catalog.base import hash_out
from mediarescue.mediawiki import MediaWiki
from testbed import bed
from testbed.media import write_media

ROOT = Path(__file__).resolve().parents[1]
MEDIARESCUE = ROOT / ".venv" / "bin" / "mediarescue"
RESULTS = Path(__file__).resolve().parent / "results" / "follow.json"
_BEGAN = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - _BEGAN:6.1f} s] {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _metrics(port: int) -> dict[str, float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {s.name + (f"{{le={s.labels['le']}}}" if "le" in s.labels else ""): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if s.name.startswith("mediarescue_follow")}


def _bucket_quantile(figures: dict[str, float], q: float) -> float:
    """A quantile from the histogram's cumulative buckets, interpolated as Prometheus does."""
    prefix = "mediarescue_follow_change_lag_seconds_bucket{le="
    buckets = sorted((float(k[len(prefix):-1]), v) for k, v in figures.items() if k.startswith(prefix))
    total, rank, lower, below = buckets[-1][1], q * buckets[-1][1], 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = upper, count
    return float("nan") if not total else lower


def _upload_steadily(api: MediaWiki, work: Path, count: int, rate: float, size: int,
                     uploaded: dict[str, float]) -> None:
    start = time.monotonic()
    for n in range(count):
        time.sleep(max(0.0, start + n / rate - time.monotonic()))
        path = work / f"bench-{n}.png"
        write_media(path, "png", 300_000 + n, size)
        sha1 = hashlib.sha1(path.read_bytes()).hexdigest()
        result = api.upload(path, f"Bench follow {n}.png", comment="benchmark", ignore_warnings=True)
        assert result["result"] == "Success", result
        uploaded[sha1] = time.monotonic()


def _watch(catalog: Path, expected: int, uploaded: dict[str, float], seen: dict[str, float]) -> None:
    with sqlite3.connect(catalog, timeout=30) as db:
        while len(seen) < expected:
            for (kept,) in db.execute("SELECT sha1 FROM versions WHERE backup_status = 'ok' AND "
                                      "title LIKE 'File:Bench follow %'"):
                sha1 = hash_out(kept)  # kept as 20 bytes
                if sha1 not in seen:
                    seen[sha1] = time.monotonic()
            time.sleep(0.1)


def _lag_figures(args: argparse.Namespace, test_bed: bed.TestBed, work: Path, port: int) -> dict:
    api = MediaWiki(test_bed.api_url, contact="mediarescue benchmark")
    api.login(test_bed.seed_user, test_bed.seed_password)
    uploaded: dict[str, float] = {}
    seen: dict[str, float] = {}
    watcher = threading.Thread(target=_watch, args=(work / "catalog.db", args.uploads, uploaded, seen), daemon=True)
    watcher.start()
    began = time.monotonic()
    _upload_steadily(api, work, args.uploads, args.rate, args.size, uploaded)
    achieved = args.uploads / (time.monotonic() - began)
    watcher.join(timeout=args.interval * 3 + 120)
    lags = sorted(seen[s] - uploaded[s] for s in uploaded if s in seen)
    figures = _metrics(port)
    own_count = figures["mediarescue_follow_change_lag_seconds_count"]
    return {"uploads": args.uploads, "backed_up": len(lags), "rate_achieved": round(achieved, 2),
            "observed_p50": round(statistics.median(lags), 2),
            "observed_p95": round(lags[int(0.95 * (len(lags) - 1))], 2), "observed_max": round(lags[-1], 2),
            "follower_mean": round(figures["mediarescue_follow_change_lag_seconds_sum"] / own_count, 2),
            "follower_p50_from_buckets": round(_bucket_quantile(figures, 0.5), 2),
            "follower_p95_from_buckets": round(_bucket_quantile(figures, 0.95), 2), "follower_changes": own_count}


def _idle_figures(args: argparse.Namespace, pid: int, port: int) -> dict:
    say(f"waiting {OVERLAP.total_seconds():.0f} s for the log to be quiet, then idling {args.idle:.0f} s")
    time.sleep(OVERLAP.total_seconds() + args.interval)
    before, cpu_before, t0 = _metrics(port), _cpu_seconds(pid), time.monotonic()
    time.sleep(args.idle)
    after, cpu_after, seconds = _metrics(port), _cpu_seconds(pid), time.monotonic() - t0

    def passes(figures: dict[str, float]) -> float:
        return sum(v for k, v in figures.items() if k.startswith("mediarescue_follow_passes_total"))
    count = passes(after) - passes(before)
    reqs = after["mediarescue_follow_api_requests_total"] - before["mediarescue_follow_api_requests_total"]
    cpu = cpu_after - cpu_before
    return {"seconds": round(seconds, 1), "passes": count, "cpu_seconds": round(cpu, 2), "api_requests": reqs,
            "per_pass": {"cpu_seconds": round(cpu / max(count, 1), 3), "api_requests": reqs / max(count, 1)},
            "per_hour_at_interval": {"cpu_seconds": round(cpu * 3600 / seconds, 1),
                                     "api_requests": round(reqs * 3600 / seconds)},
            "per_hour_at_60s": {"cpu_seconds": round(cpu / max(count, 1) * 60, 1),
                                "api_requests": round(reqs / max(count, 1) * 60)}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1.0, help="uploads a second")
    parser.add_argument("--uploads", type=int, default=120)
    parser.add_argument("--size", type=int, default=20_000, help="bytes per file (about)")
    parser.add_argument("--idle", type=float, default=180.0, help="seconds the idle follower is measured")
    args = parser.parse_args()
    result: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "parameters": vars(args),
                    "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    bed.BEDS.mkdir(exist_ok=True)
    bed_dir = bed.BEDS / "bench-follow"
    if (bed_dir / bed.INFO).exists():
        bed.stop(bed_dir)
    test_bed = bed.start(bed_dir, "swift")
    work = bed.BEDS / "bench-follow-work"  # the catalog and blobs: beside the bed (its folder is its own)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    follower = None
    try:
        config = test_bed.write_config(work / "m.toml", work / "catalog.db", work / "blobs", name="bench")
        port = _free_port()
        follower = subprocess.Popen([str(MEDIARESCUE), "--config", str(config), "backup", "--follow", "--interval",
                                     str(args.interval), "--metrics-port", str(port)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while True:  # the first (full) run of the empty wiki
            time.sleep(0.5)
            assert follower.poll() is None, follower.stderr.read()
            try:
                if any(k.startswith("mediarescue_follow_passes_total") for k in _metrics(port)):
                    break
            except requests.RequestException:
                continue  # not listening yet
        say(f"follower up; {args.uploads} uploads at {args.rate}/s, interval {args.interval} s")
        result["lag"] = _lag_figures(args, test_bed, work, port)
        say(f"lag: {result['lag']}")
        result["idle"] = _idle_figures(args, follower.pid, port)
        say(f"idle: {result['idle']}")
    finally:
        if follower and follower.poll() is None:
            follower.terminate()
            follower.wait(timeout=120)
        bed.stop(bed_dir)
        shutil.rmtree(work, ignore_errors=True)
    result["machine"]["load_average"] = os.getloadavg()
    lag, idle = result["lag"], result["idle"]
    print(f"follow lag, {lag['backed_up']}/{lag['uploads']} small uploads at {lag['rate_achieved']}/s, interval "
          f"{args.interval:g} s: upload returned -> bytes stored p50 {lag['observed_p50']} s, p95 "
          f"{lag['observed_p95']} s, max {lag['observed_max']} s; the follower's own (log timestamp -> stored): mean "
          f"{lag['follower_mean']} s, p50 ~{lag['follower_p50_from_buckets']} s, "
          f"p95 ~{lag['follower_p95_from_buckets']} s")
    print(f"idle follower over {idle['seconds']:.0f} s ({idle['passes']:.0f} passes, extrapolated): "
          f"{idle['per_pass']['cpu_seconds']} CPU s and {idle['per_pass']['api_requests']:.0f} API requests a pass; "
          f"{idle['per_hour_at_interval']['cpu_seconds']} CPU s and {idle['per_hour_at_interval']['api_requests']} "
          f"requests an hour at {args.interval:g} s; {idle['per_hour_at_60s']['cpu_seconds']} CPU s and "
          f"{idle['per_hour_at_60s']['api_requests']} requests an hour at the default 60 s")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
