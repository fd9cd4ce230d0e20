"""Seeding thousands of files quickly: uploads in parallel through the API, one logged-in client
per thread (php -S runs 4 workers, so 4 threads keep it busy). testbed/seed.py stays sequential
because it builds histories whose order matters; benchmarks only need many distinct files.

Run on its own (`./scripts/bench bulk [--files N] [--size BYTES]`) it starts a test bed and prints
the upload rate, sequential against parallel.
"""
from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from mediarescue.mediawiki import MediaWiki
from testbed.media import write_media

KINDS = ("png", "jpg", "gif", "tif", "pdf")  # cheap for MediaWiki to verify; svg/ogg/webm are slower
THREADS = 4


class Uploaded(NamedTuple):
    title: str
    size: int


class BulkError(Exception):
    pass


def upload_files(api_url: str, user: str, password: str, count: int, size: int, *, seed: int = 1,
                 prefix: str = "Bench", threads: int = THREADS, vary: bool = True, keep_dir: Path | None = None,
                 progress: Callable[[str], None] = lambda message: None) -> list[Uploaded]:
    """Upload `count` files of about `size` bytes (between size/2 and 3*size/2 when `vary`) as `user`.

    File i is fully determined by (seed, i): same bytes and title on every run, distinct bytes for
    every i. Files are written to a scratch folder and deleted after upload unless `keep_dir` is
    given, where they stay (the large-file benchmark hashes them again locally).
    """
    rng = random.Random(f"bulk:{seed}")
    plan = [(i, KINDS[i % len(KINDS)], rng.randint(size // 2, size * 3 // 2) if vary else size)
            for i in range(count)]
    local = threading.local()
    clients: list[MediaWiki] = []
    clients_lock = threading.Lock()
    done = [0]

    def client() -> MediaWiki:
        if not hasattr(local, "api"):
            api = MediaWiki(api_url, contact="mediarescue benchmarks")
            api.login(user, password)
            local.api = api
            with clients_lock:
                clients.append(api)
        return local.api

    def one(workdir: Path, item: tuple[int, str, int]) -> Uploaded:
        i, kind, file_size = item
        name = f"{prefix} {seed} {i:05d}.{kind}"
        path = (keep_dir or workdir) / name
        write_media(path, kind, seed * 1_000_003 + i, file_size)
        actual = path.stat().st_size
        result = client().upload(path, name, comment=f"Benchmark upload {i}", ignore_warnings=True,
                                 text="Benchmark file.\n\n{{self|cc-by-sa-4.0}}\n")
        if result.get("result") != "Success":
            raise BulkError(f"uploading {name} did not succeed: {result}")
        if keep_dir is None:
            path.unlink()
        with clients_lock:
            done[0] += 1
            if done[0] % 500 == 0:
                progress(f"{done[0]}/{count} uploaded")
        return Uploaded(f"File:{name}", actual)

    with tempfile.TemporaryDirectory(prefix="mediarescue-bulk-") as workdir:
        pool = ThreadPoolExecutor(max_workers=threads)
        try:
            futures = [pool.submit(one, Path(workdir), item) for item in plan]
            uploaded = [future.result() for future in futures]
        finally:
            pool.shutdown(cancel_futures=True)  # after a failure, do not go on uploading the rest
            for api in clients:
                api.session.close()
    return uploaded


def main() -> None:
    from testbed import bed

    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--size", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mediarescue-bench-") as scratch:
        bed_dir = Path(scratch) / "bulk"
        test_bed = bed.start(bed_dir, "swift")
        try:
            for threads in (1, THREADS):
                began = time.monotonic()
                files = upload_files(test_bed.api_url, test_bed.seed_user, test_bed.seed_password, args.files,
                                     args.size, seed=threads, threads=threads)
                took = time.monotonic() - began
                megabytes = sum(f.size for f in files) / 1e6
                print(f"bulk upload, {threads} thread(s): {len(files)} files, {megabytes:.1f} MB in {took:.1f} s "
                      f"= {len(files) / took:.1f} files/s, {megabytes / took:.1f} MB/s")
        finally:
            bed.stop(bed_dir)


if __name__ == "__main__":
    main()
