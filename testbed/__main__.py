"""scripts/testbed and scripts/seed-wiki: a thin shell over testbed.bed and testbed.seed.

    python -m testbed start [DIR] [--profile swift|swift-flat|fs] [--catalog sqlite|postgres] [--port N] [--json]
    python -m testbed stop [DIR]          (no DIR: every test bed under .testbed/, pytest's too)
    python -m testbed status [DIR] [--json]
    python -m testbed seed [DIR | --api-url URL --user USER] [--count N] [--seed S] [--size B] [--large-size B]
    python -m testbed describe [DIR | --api-url URL]

Exit codes: 0 done, 1 the test bed or wiki failed, 2 bad usage.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from mediarescue.mediawiki import APIError, MediaWiki
from testbed import bed, procs
from testbed.procs import TestBedError

DEFAULT_DIR = bed.BEDS / "default"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage dump
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="testbed", description="A real MediaWiki-on-Swift test bed on 127.0.0.1.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="{start,stop,status,seed,describe}",
                                  parser_class=_Parser)
    start = verbs.add_parser("start", help="start a fresh test bed in DIR (its earlier content is replaced)")
    start.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    start.add_argument("--profile", choices=sorted(bed.PROFILES), default="swift",
                       help="; ".join(f"{p.name}: {p.description}" for p in bed.PROFILES.values()))
    start.add_argument("--catalog", choices=bed.CATALOGS, default="sqlite",
                       help="postgres: also a PostgreSQL server for the catalog (default sqlite: nothing to start)")
    start.add_argument("--port", type=int, help="the wiki's port (default: a free one)")
    start.add_argument("--json", action="store_true", help="print the test bed's details as JSON")
    stop = verbs.add_parser("stop", help="end every process a test bed started")
    stop.add_argument("dir", nargs="?", type=Path)
    status = verbs.add_parser("status", help="say whether a test bed runs, and where")
    status.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    status.add_argument("--json", action="store_true")
    for name, text in (("seed", "create the seeded media history on a wiki"),
                       ("describe", "print what a wiki's media holds")):
        verb = verbs.add_parser(name, help=text)
        verb.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR,
                          help="a test bed (default .testbed/default)")
        verb.add_argument("--api-url", help="any wiki's api.php instead of a test bed")
        if name == "seed":
            verb.add_argument("--user", help="with --api-url: a bot-password login (User@app) with upload, "
                                             "delete, undelete and move rights; password in MEDIARESCUE_SEED_PASSWORD")
            verb.add_argument("--count", type=_positive, default=16, help="ordinary files (default 16)")
            verb.add_argument("--seed", type=int, default=1, help="the seed of all content (default 1)")
            verb.add_argument("--size", type=_positive, default=30_000, help="typical file size in bytes")
            verb.add_argument("--large-size", type=_positive, default=21 * 2**20,
                              help="size of the file uploaded in chunks (default 21 MiB)")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _print_bed(test_bed: bed.TestBed, elapsed: float | None = None) -> None:
    took = f" in {elapsed:.1f} s" if elapsed is not None else ""
    print(f"test bed ({test_bed.profile}) running{took} in {test_bed.dir}")
    print(f"  wiki API        {test_bed.api_url}")
    print(f"  file URLs       {test_bed.upload_url}/...")
    print(f"  bot login       {test_bed.bot_user}  password {test_bed.bot_password}")
    print(f"  seeder login    {test_bed.seed_user}  password {test_bed.seed_password}")
    if test_bed.swift_auth_url:
        layout = "sharded" if test_bed.sharded else "unsharded"
        print(f"  swift auth      {test_bed.swift_auth_url}  user {test_bed.swift_user}  key {test_bed.swift_key}")
        print(f"  swift layout    {test_bed.wiki_id}-local-<zone> ({layout})")
    if test_bed.catalog_url:
        print(f"  catalog         {test_bed.catalog_url}  password {test_bed.catalog_password}")
    print(f"  environment     source {test_bed.dir / 'testbed.env'}")


def _api(args: argparse.Namespace, login: bool) -> MediaWiki:
    if args.api_url:
        api = MediaWiki(args.api_url)
        if login:
            password = os.environ.get("MEDIARESCUE_SEED_PASSWORD")
            if not args.user or not password:
                raise TestBedError("--api-url needs --user and the password in MEDIARESCUE_SEED_PASSWORD")
            api.login(args.user, password)
        return api
    test_bed = bed.load(args.dir)
    api = MediaWiki(test_bed.api_url)
    if login:
        api.login(test_bed.seed_user, test_bed.seed_password)
    return api


def run(args: argparse.Namespace) -> int:
    if args.verb == "start":
        began = time.monotonic()
        test_bed = bed.start(args.dir, args.profile, args.port, args.catalog)
        if args.json:
            print(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in asdict(test_bed).items()}, indent=1))
        else:
            _print_bed(test_bed, time.monotonic() - began)
    elif args.verb == "stop":
        dirs = [args.dir] if args.dir else sorted(p for p in bed.BEDS.glob("*") if p.is_dir())
        for bed_dir in dirs:
            stopped = bed.stop(bed_dir)
            print(f"{bed_dir}: {'stopped ' + ', '.join(stopped) if stopped else 'nothing was running'}")
    elif args.verb == "status":
        running = procs.running(args.dir) if args.dir.is_dir() else {}
        test_bed = bed.load(args.dir)
        if args.json:
            print(json.dumps({"dir": str(args.dir), "profile": test_bed.profile, "api_url": test_bed.api_url,
                              "running": running}, indent=1))
        elif running:
            _print_bed(test_bed)
            print("  processes       " + ", ".join(f"{name} ({pids[0]})" for name, pids in running.items()))
        else:
            print(f"test bed in {args.dir} is stopped")
        return 0 if running else 1
    elif args.verb == "seed":
        from testbed.seed import seed

        began = time.monotonic()
        result = seed(_api(args, login=True), count=args.count, seed=args.seed, size=args.size,
                      large_size=args.large_size, progress=lambda message: print(f"seed: {message}", file=sys.stderr))
        print(f"seeded {result.uploads} uploads ({result.bytes / 2**20:.1f} MiB) in {time.monotonic() - began:.1f} s: "
              f"{len(result.files)} files live, {sum(map(len, result.deleted.values()))} versions deleted, "
              f"{len(result.redirects)} renamed")
    elif args.verb == "describe":
        from testbed.describe import describe

        describe(_api(args, login=not args.api_url))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except (TestBedError, APIError, OSError) as error:
        print(f"testbed: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("testbed: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
