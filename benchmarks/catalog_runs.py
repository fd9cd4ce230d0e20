"""A catalog's size and write rate run after run, as a wiki backed up weekly sees it: N synthetic
versions recorded and each marked stored (one transaction a version, as the download pool does),
then more full runs that see every version again, unchanged. After each run the run's metadata
save is stood in for (its notes dropped) and the catalog vacuumed, as autovacuum would between
weekly runs; then its bytes a version, in use and in files, and the biggest parts.

    ./scripts/bench catalog_runs [--engine sqlite|postgres] [--versions N] [--runs N] [--dir DIR]

The catalogs and PostgreSQL's server are those of `bench catalog` (benchmarks/catalog.py), in DIR.
Results: stdout and benchmarks/results/catalog_runs-ENGINE.json.
"""
from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

from catalog import PostgresPlace, SQLitePlace, batches, clock, rate_of, sha256_of, synthetic_version

from mediarescue.catalog import Catalog

RESULTS = Path(__file__).resolve().parent / "results"


def runs(place: SQLitePlace | PostgresPlace, versions: int, count: int) -> list[dict]:
    rows = sorted((synthetic_version(i, wiki="runs") for i in range(versions)), key=lambda v: v.title)
    catalog = Catalog(place.fresh("runs"))
    figures = []
    for n in range(1, count + 1):
        run = catalog.start_run("runs", "full")

        def record() -> None:
            for batch in batches(rows):
                for job in catalog.record_versions(run, batch):  # the first run only: then all stored
                    catalog.stored(job.id, sha256_of(job.id), job.version.sha1, job.version.size, True, run)

        rate = rate_of(versions, *clock(record))
        catalog.finish_run(run, "done")
        with catalog.conn:
            catalog.conn.execute("DELETE FROM metadata_changes")  # what the run's metadata save takes
        _, in_use, files, parts = place.sizes("runs")
        parts = {part: size / versions for part, size in parts.items() if size / versions >= 5}
        figures.append({"run": n, **rate, "bytes_in_use": in_use / versions, "bytes_in_files": files / versions,
                        "parts": parts})
        print(f"run {n}: {rate['rows_per_s']:>9,.0f} rows/s, {in_use / versions:,.0f} B a version in use, "
              f"{files / versions:,.0f} in files; " + ", ".join(f"{p} {b:.0f} B" for p, b in parts.items()),
              flush=True)
    catalog.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5, help="full runs, the first included")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/mediarescue-bench-catalog"))
    args = parser.parse_args()
    if args.versions < 1 or args.runs < 1:
        parser.error("--versions and --runs must be at least 1")
    args.dir.mkdir(parents=True, exist_ok=True)
    place = SQLitePlace(args.dir) if args.engine == "sqlite" else PostgresPlace(args.dir, False)
    try:
        figures = runs(place, args.versions, args.runs)
    finally:
        place.close()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"catalog_runs-{args.engine}.json").write_text(json.dumps({
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "engine": args.engine,
        "versions": args.versions, "runs": figures}, indent=1) + "\n")


if __name__ == "__main__":
    main()
