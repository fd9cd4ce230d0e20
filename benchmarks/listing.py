"""A full run's listing split by title ranges (`backup --list-split`): versions listed and recorded a
second by 1 range (one lister) and by 3 ranges listed at once (three listers), through the 20 ms
latency proxy before the API, into a PostgreSQL catalog.

    ./scripts/bench listing [--files N] [--batch N] [--delay SECONDS]

One Swift test bed with a PostgreSQL server, seeded with N small files (default 600). Each pass
gets a fresh catalog; its ranges are cut at quantiles of the wiki's titles (as --list-split cuts a
catalog's); each lister is a thread with its own API session and catalog connection, running the
collector's own range listing (collector.ranges.RangeLister: claim, allimages + filearchive with
from/to, record_versions, enqueue) with fetching left out, since bytes are what `backup --join`
measures. `--batch` titles a request (default 50, as an account without apihighlimits) so that the
listing is many requests, as Commons' is. Results: stdout and benchmarks/results/listing.json.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

from full_backup import CONTACT, DELAY, _port, list_files, say, upload
from latency_proxy import LatencyProxy

from collector import ranges
from collector.backup import Options, _Recorder, _Sources
from mediarescue.catalog import Catalog
from mediarescue.catalog.engine import Postgres, PostgresURL
from mediarescue.config import WikiConfig
from mediarescue.mediawiki import MediaWiki
from policies import title_ranges
from testbed import bed

RESULTS = Path(__file__).resolve().parent / "results" / "listing.json"


def _catalog_url(test_bed: bed.TestBed) -> PostgresURL:
    schema = f"bench_listing_{secrets.token_hex(4)}"
    url = PostgresURL(test_bed.catalog_url, test_bed.catalog_password)
    with contextlib.closing(Postgres(url).connect()) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return PostgresURL(f"{test_bed.catalog_url}?options=-csearch_path%3D{schema}", test_bed.catalog_password)


def _lister(wiki: WikiConfig, target: PostgresURL, run: int, batch: int) -> tuple[Callable[[], None], MediaWiki]:
    """A lister thread's work, connected and logged in beforehand (not timed): list ranges until none is left."""
    catalog = Catalog(target)
    options = Options(workers=1, batch=batch)
    recorder = _Recorder(wiki, catalog, SimpleNamespace(encryption_key=None), _Sources(wiki, CONTACT, options),
                         options, run)
    recorder.pump = lambda: None  # listing only: the bytes are `backup --join`'s benchmark
    api = MediaWiki(wiki.api_url, CONTACT)
    api.login(wiki.user, wiki.password)
    lister = ranges.RangeLister(catalog, recorder, lambda: (api, batch, True))

    def work() -> None:
        while lister.list_one():
            pass
        recorder.close(wait_for_downloads=False)
        catalog.close()
    return work, api


def one_pass(test_bed: bed.TestBed, wiki: WikiConfig, titles: list[str], parts: int, batch: int) -> dict:
    target = _catalog_url(test_bed)
    catalog = Catalog(target)
    run = catalog.start_run(wiki.name, "full")
    ordered = sorted(titles, key=title_ranges.name_key)
    catalog.plan_ranges(run, [ordered[i] for i in title_ranges.quantile_positions(len(ordered), parts)])
    listers = [_lister(wiki, target, run, batch) for _ in range(parts)]
    before = sum(api.requests_sent for _, api in listers)
    threads = [threading.Thread(target=work) for work, _ in listers]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - began
    versions = catalog.run(run)["versions_seen"]
    assert catalog.ranges_left(run) == 0, "a range was left unlisted"
    catalog.close()
    return {"ranges": parts, "seconds": seconds, "versions": versions, "versions_per_s": versions / seconds,
            "requests": sum(api.requests_sent for _, api in listers) - before}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=600)
    parser.add_argument("--batch", type=int, default=50, help="titles a request")
    parser.add_argument("--delay", type=float, default=DELAY,
                        help="seconds the proxy adds to each API request (default 0.02; Commons' API: 1-3 s)")
    args = parser.parse_args()
    name = "bench-listing"
    bed.BEDS.mkdir(exist_ok=True)
    if (bed.BEDS / name / bed.INFO).exists():
        bed.stop(bed.BEDS / name)
    test_bed = bed.start(bed.BEDS / name, "swift", catalog="postgres")
    proxy = None
    try:
        upload(test_bed, args.files, 10_000, 1, "Bench", vary=True)
        titles = [f.title for f in list_files(test_bed)]
        proxy = LatencyProxy(_port(test_bed.api_url), args.delay).start()
        wiki = WikiConfig("bench", proxy.base_url + "/api.php", test_bed.bot_user, test_bed.bot_password)
        rows = []
        for parts in (1, 3, 1, 3):  # twice each, interleaved: the machine is shared
            row = one_pass(test_bed, wiki, titles, parts, args.batch)
            say(f"{parts} range(s): {row['versions_per_s']:.0f} versions/s ({row['versions']} in "
                f"{row['seconds']:.1f} s, {row['requests']} requests)")
            rows.append(row)
        print(f"{len(titles)} files, {args.batch} titles a request, API through a {args.delay * 1000:.0f} ms proxy, "
              "PostgreSQL catalog")
        for row in rows:
            print(f"{row['ranges']} range(s) at once: {row['versions_per_s']:7.0f} versions/s ({row['seconds']:.1f} s)")
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps({"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                       "cpus": os.cpu_count(), "load_average": os.getloadavg(), "files": len(titles),
                                       "batch": args.batch, "delay": args.delay, "rows": rows}, indent=1) + "\n")
    finally:
        if proxy:
            proxy.stop()
        bed.stop(test_bed.dir)


if __name__ == "__main__":
    main()
