"""The cost of keeping the catalog in the backup store (issue 11), and how fast it comes back.

    ./scripts/bench metadata [--files N] [--changes N] [--versions N ...] [--dir DIR] [--skip-runs | --skip-copies]

1. Per run, on a Swift test bed of N files (default 10,000, put in with importImages.php as the
   incremental benchmark does): a full `mediarescue backup` and then, after N changes (default 10
   new versions), an incremental one, each through the real command; the bytes and seconds of the
   metadata object the run wrote (its `--json` says) against the run's own wall time and the bytes
   it stored (goal: an incremental run's metadata < 5 % of its time). The store is a local one
   with an encryption key, so the object is sealed as in production.
2. Full copies of synthetic catalogs shaped like Commons (benchmarks/catalog.py builds and keeps
   them in DIR; default 1 M and 3 M versions, `--versions 10000000` for the issue's 10 M, which
   needs ~25 min and ~8 GiB here): a full copy written into a local store with a key, then
   `catalog recover` of it into a new path (indexes built at the end), each timed, with the
   catalog file's bytes per second (goal >= 50 MB/s) and the rows per second.
   The recovery time of a 1 M-version catalog is part 2's figure for that size.

Results: stdout and benchmarks/results/metadata.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import catalog as synthetic
import incremental

from collector import metadata as kept
from mediarescue.blobstore.local import LocalBlobStore
from mediarescue.catalog import Catalog
from testbed import bed

RESULTS = Path(__file__).resolve().parent / "results" / "metadata.json"
KEY = bytes(range(32))
_BEGAN = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - _BEGAN:6.1f} s] {message}", file=sys.stderr, flush=True)


def _run_costs(seconds: float, result: dict) -> dict:
    meta = result["metadata"]
    return {"run_seconds": seconds, "run_new_bytes": result["run"]["bytes"], "versions_seen":
            result["run"]["versions_seen"], "metadata_kind": meta["kind"], "metadata_bytes": meta["bytes"],
            "metadata_seconds": meta["seconds"], "metadata_share_of_time": meta["seconds"] / seconds}


def runs(files: int, changes: int, size: int) -> dict:
    """A full and an incremental run on a test bed of `files` files, with their metadata costs."""
    with tempfile.TemporaryDirectory(prefix="mediarescue-bench-metadata-") as scratch:
        work = Path(scratch)
        test_bed = bed.start(work / "bed", "swift")
        try:
            config = test_bed.write_config(work / "m.toml", work / "catalog.db", work / "blobs", name="bench")
            (work / "key").write_text(KEY.hex())
            config.write_text(config.read_text().replace('contact = ', f'encryption_key_file = "{work / "key"}"\n'
                                                                        'contact = ', 1))
            began = time.monotonic()
            incremental.fill_import(test_bed, 0, files, size)
            say(f"{files} files in {time.monotonic() - began:.0f} s; full backup")
            full = _run_costs(*incremental.backup(config, "--full"))
            say(f"full run: {full}")
            incremental.fill_import(test_bed, files, changes, size)
            inc = _run_costs(*incremental.backup(config, "--incremental"))
            say(f"incremental run of {changes} changes: {inc}")
        finally:
            bed.stop(work / "bed")
    return {"files": files, "changes": changes, "full": full, "incremental": inc}


def _synthetic(directory: Path, versions: int) -> Path:
    """benchmarks/catalog.py's synthetic catalog of `versions`, built once and kept."""
    path = directory / f"catalog-{versions}.db"
    if path.exists():
        with sqlite3.connect(path) as db:
            try:
                if db.execute("SELECT versions, build FROM bench_meta").fetchone() == (versions, synthetic.BUILD):
                    return path
            except sqlite3.Error:
                pass
    say(f"building a synthetic catalog of {versions:,} versions in {path}")
    synthetic.build(path, versions)
    return path


def full_copy(directory: Path, versions: int) -> dict:
    """A full copy of a synthetic catalog written into a sealed local store, then recovered."""
    source = _synthetic(directory, versions)
    work = directory / f"metadata-{versions}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    copy = work / "catalog.db"
    shutil.copy(source, copy)  # the kept one stays unchanged (the copy gets an id and a record)
    store = LocalBlobStore(work / "blobs", encryption_key=KEY)
    catalog = Catalog(copy)
    began, cpu = time.perf_counter(), time.process_time()
    obj = kept.save(catalog, store, full=True)
    write_seconds, write_cpu = time.perf_counter() - began, time.process_time() - cpu
    catalog.close()
    say(f"{versions:,} versions: full copy written in {write_seconds:.1f} s, {obj.size / 2**20:.0f} MiB")
    began, cpu = time.perf_counter(), time.process_time()
    recovered = kept.recover(store, work / "recovered.db")
    recover_seconds, recover_cpu = time.perf_counter() - began, time.process_time() - cpu
    say(f"{versions:,} versions: recovered in {recover_seconds:.1f} s")
    # The catalog's size as recovered: the synthetic one also holds the change notes of its build.
    file_bytes = (work / "recovered.db").stat().st_size
    result = {"versions": versions, "catalog_file_bytes": file_bytes, "object_bytes": obj.size,
              "rows": recovered["rows"], "write_seconds": write_seconds, "write_cpu_seconds": write_cpu,
              "write_catalog_mb_per_s": file_bytes / 1e6 / write_seconds, "write_rows_per_s":
              recovered["rows"] / write_seconds, "recover_seconds": recover_seconds,
              "recover_cpu_seconds": recover_cpu, "recover_catalog_mb_per_s": file_bytes / 1e6 / recover_seconds,
              "recover_rows_per_s": recovered["rows"] / recover_seconds}
    shutil.rmtree(work)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--size", type=int, default=2_000, help="bytes per file (about)")
    parser.add_argument("--versions", type=int, nargs="+", default=[1_000_000, 3_000_000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/mediarescue-bench-catalog"))
    parser.add_argument("--skip-runs", action="store_true", help="only the full copies (part 2)")
    parser.add_argument("--skip-copies", action="store_true", help="only the runs (part 1)")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    result: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "parameters": {k: str(v) for k, v in vars(args).items()},
                    "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    if not args.skip_runs:
        result["runs"] = runs(args.files, args.changes, args.size)
        for kind in ("full", "incremental"):
            r = result["runs"][kind]
            print(f"{kind} run ({r['versions_seen']:,} versions seen, {r['run_new_bytes'] / 2**20:.1f} MiB stored, "
                  f"{r['run_seconds']:.1f} s): metadata {r['metadata_kind']} {r['metadata_bytes'] / 1024:.1f} KiB "
                  f"in {r['metadata_seconds']:.2f} s = {100 * r['metadata_share_of_time']:.1f} % of the run's time")
    result["full_copies"] = [] if args.skip_copies else [full_copy(args.dir, n) for n in args.versions]
    for r in result["full_copies"]:
        print(f"full copy of {r['versions']:,} versions ({r['catalog_file_bytes'] / 2**20:.0f} MiB catalog, "
              f"{r['rows']:,} rows): written {r['write_seconds']:.1f} s ({r['write_catalog_mb_per_s']:.0f} MB/s of "
              f"catalog, object {r['object_bytes'] / 2**20:.0f} MiB), recovered {r['recover_seconds']:.1f} s "
              f"({r['recover_catalog_mb_per_s']:.0f} MB/s)")
    result["machine"]["load_average"] = os.getloadavg()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
