"""Rollback actions per second for overwritten files, against the raw single `filerevert` rate on
the same wiki in the same run (goal: at least 80 %).

A vandal overwrites every file after a backup. The raw rate is one client sending one
`action=filerevert` POST per file, nothing else (the archive names fetched beforehand, untimed),
measured on half its files before the rollbacks and on the other half after them (the machine's
other work moves both; their mean is the reference). Then one rollback run reverts half of the
vandalised files with one bot worker, another the other half with two.
A rollback does more for each file: it reads the incident from the log and plans (untimed in the
second figure), journals every step, reverts through pywikibot, then reads the version back from
the wiki and from its URL and checks its sha1.

    ./scripts/bench rollback [--files N] [--raw N] [--size BYTES] [--profile swift|fs]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from mediarescue.mediawiki import MediaWiki, title_batches
from testbed import bed
from testbed.media import write_media

MEDIARESCUE = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "mediarescue"


def _upload_all(api: MediaWiki, work: Path, titles: list[str], base: int, size: int) -> None:
    for n, title in enumerate(titles):
        path = work / "f.png"
        write_media(path, "png", base + n, size)
        assert api.upload(path, title[5:], ignore_warnings=True)["result"] == "Success"


def _archive_names(api: MediaWiki, titles: list[str]) -> dict[str, str]:
    names = {}
    for chunk in title_batches(titles, 50):
        for page in api.get(action="query", titles="|".join(chunk), prop="imageinfo", iilimit=2,
                            iiprop="archivename")["query"]["pages"]:
            names[page["title"]] = page["imageinfo"][1]["archivename"]
    return names


def _raw(api: MediaWiki, titles: list[str], names: dict[str, str]) -> float:
    began = time.monotonic()
    for title in titles:
        reply = api.post(action="filerevert", filename=title[5:], archivename=names[title], comment="raw")
        assert reply["filerevert"]["result"] == "Success", reply
    return len(titles) / (time.monotonic() - began)


def _rollback(config: Path, work: Path, since: str, titles: list[str], workers: int
              ) -> tuple[int, int, int, float, float]:
    """One rollback run over `titles`: (workers, reverted, asked, the command's seconds, the actions' seconds)."""
    listing = work / f"incident-{workers}.txt"
    listing.write_text("\n".join(titles) + "\n")
    began = time.monotonic()
    done = subprocess.run([str(MEDIARESCUE), "--config", str(config), "rollback", "--since", since, "--user", "Vandal",
                           str(listing), "--yes", "--throttle", "0", "--bot-workers", str(workers), "--json"],
                          capture_output=True, text=True)
    elapsed = time.monotonic() - began
    if not done.stdout.strip():
        raise SystemExit(f"rollback failed (exit {done.returncode}): {done.stderr.strip()[-800:]}")
    summary = json.loads(done.stdout)
    reverted = sum(o["result"] == "rolled-back" and o["decision"] == "revert" for o in summary["outcomes"])
    if reverted < len(titles):
        print(f"  not all rolled back (exit {done.returncode}): {summary['totals']}")
    return workers, reverted, len(titles), elapsed, summary["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000, help="overwritten files the rollback reverts")
    parser.add_argument("--raw", type=int, default=300, help="overwritten files reverted by raw POSTs")
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--profile", default="swift")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mediarescue-bench-") as scratch:
        work = Path(scratch)
        test_bed = bed.start(work / "bed", args.profile)
        try:
            seeder = MediaWiki(test_bed.api_url)
            seeder.login(test_bed.seed_user, test_bed.seed_password)
            rolled = [f"File:Bench rollback {n:05d}.png" for n in range(args.files)]
            raw = [f"File:Bench raw revert {n:05d}.png" for n in range(args.raw)]
            _upload_all(seeder, work, rolled + raw, 10_000, args.size)
            config = test_bed.write_config(work / "m.toml", work / "catalog.db", work / "blobs")
            subprocess.run([str(MEDIARESCUE), "--config", str(config), "backup"], check=True, capture_output=True)
            time.sleep(1.5)
            since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            time.sleep(1.1)
            vandal = MediaWiki(test_bed.api_url)
            vandal.login(test_bed.vandal_user, test_bed.vandal_password)
            _upload_all(vandal, work, rolled + raw, 50_000, args.size)
            names = _archive_names(seeder, raw)
            time.sleep(1.1)
            # The raw rate before and after the rollbacks: other work on the machine moves both.
            half, split = len(rolled) // 2, len(raw) // 2
            raw_before = _raw(seeder, raw[:split], names)
            print(f"profile {args.profile}, files of {args.size / 1000:.0f} kB")
            print(f"raw single filerevert POSTs, one client, {split} files before: {raw_before:6.1f} reverts/s")
            runs = [_rollback(config, work, since, batch, workers) for workers, batch in
                    ((1, rolled[:half]), (2, rolled[half:]))]
            raw_after = _raw(seeder, raw[split:], names)
            raw_rate = (raw_before + raw_after) / 2
            print(f"raw single filerevert POSTs, one client, {len(raw) - split} files after: {raw_after:6.1f} "
                  f"reverts/s; their mean {raw_rate:6.1f} is the reference")
            for workers, count, total, elapsed, phase in runs:
                print(f"rollback --yes, {workers} bot worker(s), throttle 0: {count}/{total} reverted and read back;\n"
                      f"   whole command (start-up, login, log, plan, storage checks) {count / elapsed:6.1f} /s = "
                      f"{100 * count / elapsed / raw_rate:5.1f} % of raw\n"
                      f"   the rollback actions themselves (journal, revert, read-back) {count / phase:6.1f} /s = "
                      f"{100 * count / phase / raw_rate:5.1f} % of raw")
        finally:
            bed.stop(work / "bed")


if __name__ == "__main__":
    main()
