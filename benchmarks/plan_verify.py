"""verify's rate (titles/s, shallow and --deep) and the time and API requests to plan 10,000 titles
(goals: at most one API request per 50 titles; under 20 s).

The wiki is filled with MediaWiki's own importImages.php (server side, two processes), backed up,
then 1 % of the files lose their current version in Swift. verify and plan run in this process so
their API requests can be counted.

    ./scripts/bench plan_verify [--files N] [--size BYTES]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from mediarescue import config as configuration
from mediarescue.catalog import Catalog
from mediarescue.mediawiki import MediaWiki, public_path
from restorer.inspection import Inspector
from restorer.plan import plan, verify
from restorer.titles import parse
from testbed import bed
from testbed.media import write_media
from testbed.storage import BedStorage

MEDIARESCUE = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "mediarescue"


def fill(test_bed: bed.TestBed, count: int, size: int, scratch: Path) -> list[str]:
    folders = [scratch / f"import{n}" for n in range(2)]
    titles = []
    for folder in folders:
        folder.mkdir()
    for i in range(count):
        name = f"Bench plan {i:06d}.png"
        write_media(folders[i % 2] / name, "png", 900_000 + i, size)
        titles.append(f"File:{name}")
    env = {**os.environ, "MW_INSTALL_PATH": str(test_bed.wiki_root)}
    runs = [subprocess.Popen(["php", "maintenance/importImages.php", str(folder), "--user=Seeder",
                              "--comment=Benchmark file"], cwd=test_bed.wiki_root, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for folder in folders]
    for run in runs:
        _, err = run.communicate()
        if run.returncode:
            raise SystemExit(f"importImages.php failed: {err.decode()[-500:]}")
    return titles


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mediarescue-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        test_bed = bed.start(scratch / "bed", "swift")
        try:
            began = time.monotonic()
            titles = fill(test_bed, args.files, args.size, scratch)
            print(f"{args.files} files of {args.size} B imported in {time.monotonic() - began:.0f} s")
            config_path = test_bed.write_config(scratch / "m.toml", scratch / "catalog.db", scratch / "blobs",
                                                workers=8)
            began = time.monotonic()
            subprocess.run([str(MEDIARESCUE), "--config", str(config_path), "backup"], check=True,
                           capture_output=True)
            print(f"backed up in {time.monotonic() - began:.0f} s")
            storage = BedStorage(test_bed)
            damaged = titles[::100]
            for title in damaged:
                storage.lose("public", public_path(title))

            config = configuration.load(config_path)
            wiki = config.wiki(None)
            catalog = Catalog(config.catalog)
            for label, deep in (("verify (shallow: HEAD and size)", False), ("verify --deep (GET and sha1)", True)):
                api = MediaWiki(wiki.api_url, config.contact)
                api.login(wiki.user, wiki.password)
                inspector = Inspector(api, wiki, config.contact, workers=8)
                sent = api.requests_sent
                began = time.monotonic()
                result = verify(inspector, catalog, wiki.name, titles, deep=deep)
                seconds = time.monotonic() - began
                assert {f.title for f in result.findings} == set(damaged), "verify missed or invented damage"
                print(f"{label:34} {len(titles) / seconds:7.0f} titles/s ({seconds:5.1f} s, "
                      f"{api.requests_sent - sent} API requests, {len(result.findings)} broken found)")
            api = MediaWiki(wiki.api_url, config.contact)
            api.login(wiki.user, wiki.password)
            inspector = Inspector(api, wiki, config.contact, workers=8)
            sent = api.requests_sent
            began = time.monotonic()
            decisions = plan(inspector, catalog, wiki.name, parse(titles))
            seconds = time.monotonic() - began
            requests_made = api.requests_sent - sent
            repairs = sum(d.action.value == "repair-current" for d in decisions)
            print(f"plan of {len(titles)} titles: {seconds:.1f} s, {requests_made} API requests "
                  f"({len(titles) / max(requests_made, 1):.0f} titles per request), {repairs} repairs planned")
        finally:
            bed.stop(scratch / "bed")


if __name__ == "__main__":
    main()
