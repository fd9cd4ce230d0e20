"""How long a test bed takes to start from installed packages, per profile (goal: under 10 s for
wiki + Swift together), and how long the default seed takes on it.

    ./scripts/bench testbed_start [--runs N]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from mediarescue.mediawiki import MediaWiki
from testbed import bed
from testbed.seed import seed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mediarescue-bench-") as scratch:
        for profile in bed.PROFILES:
            starts, stops, seeds = [], [], []
            for run in range(args.runs):
                bed_dir = Path(scratch) / f"{profile}-{run}"
                began = time.monotonic()
                test_bed = bed.start(bed_dir, profile)
                starts.append(time.monotonic() - began)
                try:
                    if run == 0:
                        api = MediaWiki(test_bed.api_url)
                        api.login(test_bed.seed_user, test_bed.seed_password)
                        began = time.monotonic()
                        result = seed(api)
                        seeds.append((time.monotonic() - began, result.uploads))
                finally:  # never a bed left running in a deleted folder
                    began = time.monotonic()
                    bed.stop(bed_dir)
                    stops.append(time.monotonic() - began)
            seed_s, uploads = seeds[0]
            print(f"{profile:10} start median {statistics.median(starts):5.2f} s (max {max(starts):5.2f}), "
                  f"stop median {statistics.median(stops):4.2f} s, default seed {seed_s:5.1f} s "
                  f"({uploads} uploads, {uploads / seed_s:4.1f}/s)")


if __name__ == "__main__":
    main()
