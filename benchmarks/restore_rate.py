"""Restores per second against the raw single-POST upload rate on the same wiki, in the same run
(goal: at least 80 %).

The raw rate is what one client reaches with one `action=upload` POST per file, nothing else.
A restore does more for each file: it looks at the wiki's record, checks the URL is really broken,
uploads through pywikibot, reads the version back and checks its sha1, and journals every step.

    ./scripts/bench restore_rate [--files N] [--size BYTES]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from mediarescue.mediawiki import APIError, MediaWiki, public_path
from testbed import bed
from testbed.media import write_media
from testbed.storage import BedStorage

MEDIARESCUE = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "mediarescue"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=360)
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--profile", default="swift")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mediarescue-bench-") as scratch:
        work = Path(scratch)
        test_bed = bed.start(work / "bed", args.profile)
        try:
            api = MediaWiki(test_bed.api_url)
            api.login(test_bed.seed_user, test_bed.seed_password)
            titles = []
            for n in range(args.files):
                write_media(work / f"{n}.png", "png", 10_000 + n, args.size)
            began = time.monotonic()
            for n in range(args.files):
                title = f"Bench restore {n:05d}.png"
                assert api.upload(work / f"{n}.png", title)["result"] == "Success"
                titles.append(title)
            raw = args.files / (time.monotonic() - began)
            config = test_bed.write_config(work / "m.toml", work / "catalog.db", work / "blobs")
            subprocess.run([str(MEDIARESCUE), "--config", str(config), "backup"], check=True, capture_output=True)
            storage = BedStorage(test_bed)
            print(f"profile {args.profile}, {args.files} files of {args.size / 1000:.0f} kB")
            print(f"raw single-POST uploads, one client: {raw:6.1f} files/s")
            third = args.files // 3
            for title in titles[2 * third:]:  # the same repair as raw single POSTs: identical bytes over lost ones
                storage.lose("public", public_path(title))
            began = time.monotonic()
            for n, title in enumerate(titles[2 * third:], start=2 * third):
                try:
                    api.upload(work / f"{n}.png", title, ignore_warnings=True)
                except APIError as error:
                    assert error.code == "fileexists-no-change", error
            raw_repair = (args.files - 2 * third) / (time.monotonic() - began)
            print(f"raw single-POST identical re-uploads over lost files (the same repair): {raw_repair:6.1f} files/s")
            for workers, throttle, batch in ((1, "0.1", titles[:third // 2]), (1, "0", titles[third // 2:third]),
                                             (4, "0", titles[third:2 * third])):
                for title in batch:
                    storage.lose("public", public_path(title))
                listing = work / f"lost-{workers}-{throttle}.txt"
                listing.write_text("\n".join(batch))
                began = time.monotonic()
                done = subprocess.run([str(MEDIARESCUE), "--config", str(config), "restore", str(listing), "--yes",
                                       "--bot-workers", str(workers), "--throttle", throttle, "--json"],
                                      capture_output=True, text=True)
                elapsed = time.monotonic() - began
                restored = done.stdout.count('"result": "restored"')
                phase = json.loads(done.stdout)["seconds"] if done.stdout.strip() else float("nan")
                if restored < len(batch):
                    print(f"  not all restored (exit {done.returncode}): {done.stderr.strip()[-600:]}")
                rate = restored / elapsed
                print(f"restore --yes, {workers} bot worker(s), throttle {throttle} s: {restored}/{len(batch)} "
                      "restored "
                      f"and read back;\n   "
                      f"whole command (start-up, login, plan) {rate:5.1f} files/s = {100 * rate / raw:5.1f} % of raw; "
                      f"the restores themselves {restored / phase:5.1f} files/s = "
                      f"{100 * restored / phase / raw:5.1f} % of raw, {100 * restored / phase / raw_repair:5.1f} % "
                      f"of the raw repair")
        finally:
            bed.stop(work / "bed")


if __name__ == "__main__":
    main()
