"""Collectors joined on one PostgreSQL catalog: files/s of a full backup by one lister alone, and
with 1 and 3 `backup --join` processes beside it (2 and 4 processes in all), over HTTP through the
20 ms latency proxy (one before the API, one before the file URLs, as benchmarks/full_backup.py).

    ./scripts/bench join [--files N] [--size BYTES] [--workers N]

One Swift test bed with a PostgreSQL server (`--catalog postgres`), seeded with N small files
(default 600 of ~100 KB); each run gets a fresh catalog (a schema of its own) and a fresh blob
store; time is from the lister's start to the exit of the last process. All processes run on this
machine (2 cores here): on many hosts each process has a host of its own, so these figures are a
floor for the scaling, not its ceiling. Results: stdout and benchmarks/results/join.json.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from full_backup import CONTACT, DELAY, WIKI, _port, _private, list_files, say, upload
from latency_proxy import LatencyProxy

from mediarescue.catalog.engine import Postgres, PostgresURL
from testbed import bed

RESULTS = Path(__file__).resolve().parent / "results" / "join.json"
MEDIARESCUE = Path(sys.executable).parent / "mediarescue"


def _config(run_dir: Path, test_bed: bed.TestBed, schema: str, workers: int, api_url: str, rewrite: str) -> Path:
    q = json.dumps
    url = f"{test_bed.catalog_url}?options=-csearch_path%3D{schema}"
    with contextlib.closing(Postgres(PostgresURL(test_bed.catalog_url, test_bed.catalog_password)).connect()) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    text = (f"catalog = {q(url)}\ncatalog_password_file = "
            f"{q(str(_private(run_dir / 'catalog-password', test_bed.catalog_password)))}\n"
            f"blobs = {q(str(run_dir / 'blobs'))}\ncontact = {q(CONTACT)}\n\n[wiki.{WIKI}]\napi_url = {q(api_url)}\n"
            f"user = {q(test_bed.bot_user)}\n"
            f"password_file = {q(str(_private(run_dir / 'bot-password', test_bed.bot_password)))}\n"
            f"workers = {workers}\nurl_rewrite = {q(rewrite)}\n")
    return _private(run_dir / "mediarescue.toml", text)


def one_run(test_bed: bed.TestBed, scratch: Path, joined: int, workers: int, api_url: str, rewrite: str,
            files: int) -> dict:
    run_dir = scratch / f"joined-{joined}"
    run_dir.mkdir()
    config = _config(run_dir, test_bed, f"bench_join_{joined}_{os.getpid()}", workers, api_url, rewrite)
    began = time.monotonic()
    logs = [open(run_dir / f"process-{n}.log", "w") for n in range(joined + 1)]
    procs = [subprocess.Popen([str(MEDIARESCUE), "--config", str(config), "backup"], stdout=logs[0],
                              stderr=subprocess.STDOUT)]
    procs += [subprocess.Popen([str(MEDIARESCUE), "--config", str(config), "backup", "--join"], stdout=logs[n],
                               stderr=subprocess.STDOUT) for n in range(1, joined + 1)]
    codes = [p.wait(timeout=3600) for p in procs]
    seconds = time.monotonic() - began
    for log in logs:
        log.close()
    stored = sum(1 for p in (run_dir / "blobs").rglob("*") if p.is_file() and len(p.name) == 64)
    return {"processes": joined + 1, "workers_each": workers, "seconds": seconds, "exit_codes": codes,
            "blobs": stored, "files_per_s": files / seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=600)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=4, help="download workers of each process")
    args = parser.parse_args()
    started: list[Path] = []
    proxies: list[LatencyProxy] = []
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"mediarescue-bench-join-{os.getpid()}"
    scratch.mkdir()
    try:
        bed.BEDS.mkdir(exist_ok=True)
        name = "bench-join"
        if (bed.BEDS / name / bed.INFO).exists():
            bed.stop(bed.BEDS / name)
        test_bed = bed.start(bed.BEDS / name, "swift", catalog="postgres")
        started.append(test_bed.dir)
        upload(test_bed, args.files, args.size, 1, "Bench", vary=True)
        files = list_files(test_bed)
        api_proxy = LatencyProxy(_port(test_bed.api_url), DELAY).start()
        origin = files[0].url.split("/", 3)
        file_proxy = LatencyProxy(int(origin[2].rsplit(":", 1)[1]), DELAY).start()
        proxies += [api_proxy, file_proxy]
        rewrite = f"{origin[0]}//{origin[2]}={file_proxy.base_url}"
        rows = []
        for joined in (0, 1, 3):
            row = one_run(test_bed, scratch, joined, args.workers, api_proxy.base_url + "/api.php", rewrite,
                          len(files))
            say(f"{row['processes']} process(es), {args.workers} workers each: {row['files_per_s']:.1f} files/s "
                f"({row['seconds']:.1f} s, exit codes {row['exit_codes']}, {row['blobs']} blobs)")
            rows.append(row)
        print(f"{len(files)} files of ~{args.size // 1000} KB through a {DELAY * 1000:.0f} ms proxy, "
              "PostgreSQL catalog")
        for row in rows:
            print(f"{row['processes']} process(es) x {row['workers_each']} workers: {row['files_per_s']:7.1f} files/s "
                  f"({row['seconds']:.1f} s){'' if set(row['exit_codes']) == {0} else ' FAILED'}")
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps({"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                       "cpus": os.cpu_count(), "load_average": os.getloadavg(), "files": len(files),
                                       "rows": rows}, indent=1) + "\n")
    finally:
        for proxy in proxies:
            proxy.stop()
        for bed_dir in started:
            bed.stop(bed_dir)


if __name__ == "__main__":
    main()
