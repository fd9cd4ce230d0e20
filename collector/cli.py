"""The `mediarescue` command: a thin shell over the library. Each verb loads the config, opens the
catalog, calls one function and maps errors to a one-line message.

    mediarescue [--config FILE] backup [--wiki NAME] [--workers N] [--json]
    mediarescue [--config FILE] find [TITLE] [--sha1 X | --sha256 X] [--wiki NAME] [--json]

Exit codes: 0 done; 1 done, but something failed (a version not backed up, nothing found);
2 bad usage or configuration; 130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import requests
from rich.console import Console
from rich.table import Table

from collector import config as configuration
from collector.backup import Options, Summary, backup
from collector.blobstore import LocalBlobStore
from collector.catalog import Catalog, CatalogBusy
from collector.mediawiki import VERSION, APIError, canonical_title
from collector.progress import reporter
from restorer import cli as restorer_cli
from restorer.inspect import Outage

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _common() -> argparse.ArgumentParser:
    """Options that mean the same on every verb."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--wiki", metavar="NAME", help="which configured wiki (needed when there are several)")
    common.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    return common


def parser() -> argparse.ArgumentParser:
    main = _Parser(prog="mediarescue", description="Backs up a MediaWiki's media files with their metadata, "
                                                   "and restores lost ones through the API as a bot.")
    main.add_argument("--version", action="version", version=f"mediarescue {VERSION}")
    main.add_argument("--config", type=Path, default=Path(os.environ.get("MEDIARESCUE_CONFIG", "mediarescue.toml")),
                      help="the config file (default: $MEDIARESCUE_CONFIG or ./mediarescue.toml)")
    verbs = main.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser, required=True)
    run = verbs.add_parser("backup", parents=[_common()], help="back up every file version of a wiki")
    run.add_argument("--workers", type=int, help="parallel downloads (default: the config's, or 4)")
    find = verbs.add_parser("find", parents=[_common()], help="every catalogued version of a file")
    find.add_argument("title", nargs="?", help="a file title, with or without File:")
    find.add_argument("--sha1", help="versions whose wiki-reported sha1 is this (hex)")
    find.add_argument("--sha256", help="versions whose stored bytes have this sha256")
    restorer_cli.add_verbs(verbs, _common)
    return main


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=1, ensure_ascii=False))


def _backup(args: argparse.Namespace, config: configuration.Config, console: Console) -> int:
    wiki = config.wiki(args.wiki)
    if args.workers is not None and not 1 <= args.workers <= 64:
        raise configuration.ConfigError(f"--workers must be between 1 and 64, not {args.workers}")
    catalog = Catalog(config.catalog)
    try:
        catalog.lock()
        rewrite = os.environ.get("MEDIARESCUE_URL_REWRITE")  # for benchmarks through a latency proxy
        began = time.monotonic()
        with reporter(console, wiki.name) as progress:
            summary = backup(wiki, catalog, LocalBlobStore(config.blobs), config.contact,
                             Options(workers=args.workers or wiki.workers, progress=progress,
                                     url_rewrite=tuple(rewrite.split("=", 1)) if rewrite else None))
    finally:
        catalog.close()
    if args.json:
        _print_json({"run": summary.run, "errors": summary.errors, "unreachable": summary.unreachable,
                     "collisions": summary.collisions})
    else:
        _print_summary(console, summary, time.monotonic() - began)
    return EXIT_OK if summary.ok else EXIT_FAILED


def _print_summary(console: Console, summary: Summary, seconds: float) -> None:
    run = summary.run
    console.print(f"run {run['id']} ({run['kind']}, {run['wiki']}) {run['status']} in {seconds:.1f} s: "
                  f"{run['versions_seen']} versions seen, {run['new_blobs']} new blobs "
                  f"({run['bytes'] / 2**20:.1f} MiB), {run['errors']} errors", highlight=False)
    if summary.unreachable:
        console.print(f"{summary.unreachable} deleted versions not backed up: readable only from the wiki's Swift")
    for error in summary.errors:
        console.print(f"error: {error['title']} ({error['status']} version {error['id']}): {error['error']}",
                      highlight=False, markup=False)
    for collision in summary.collisions:
        console.print(f"sha1 collision: {collision['sha1']} names {collision['contents']} different contents "
                      f"(versions {collision['version_ids']}); all are kept", highlight=False)


FIND_COLUMNS = ("id", "title", "status", "timestamp", "size", "sha1", "sha256", "backup_status")


def _find(args: argparse.Namespace, config: configuration.Config, console: Console) -> int:
    if sum(x is not None for x in (args.title, args.sha1, args.sha256)) != 1:
        raise configuration.ConfigError("find takes one of TITLE, --sha1 or --sha256")
    catalog = Catalog(config.catalog)
    try:
        rows = catalog.find(title=canonical_title(args.title) if args.title else None,
                            sha1=args.sha1 and args.sha1.lower(), sha256=args.sha256 and args.sha256.lower(),
                            wiki=args.wiki)
    finally:
        catalog.close()
    for row in rows:
        if row["private"]:  # where deleted content was served from is not for everyone
            row["source_url"] = row["source_container"] = row["source_object"] = None
    if args.json:
        _print_json(rows)
    elif rows:
        table = Table(*FIND_COLUMNS, "error")
        for row in rows:
            cells = {c: "" if row[c] is None else str(row[c]) for c in FIND_COLUMNS}
            cells["sha1"], cells["sha256"] = cells["sha1"][:12], cells["sha256"][:12]  # --json has them whole
            table.add_row(*cells.values(), row["error"] or "")
        console.print(table)
    else:
        console.print("no catalogued version matches")
    return EXIT_OK if rows else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    stream = sys.stderr if args.json else sys.stdout
    # Not on a terminal: whole log lines, and tables as wide as a log viewer shows them.
    console = Console(stderr=args.json, soft_wrap=True, width=None if stream.isatty() else 160)
    try:
        config = configuration.load(args.config)
        handlers = {"backup": _backup, "find": _find, **restorer_cli.HANDLERS}
        return handlers[args.verb](args, config, console)
    except configuration.ConfigError as error:
        print(f"mediarescue: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (CatalogBusy, APIError, OSError, requests.RequestException) as error:
        print(f"mediarescue: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except Outage as error:
        print(f"mediarescue: storage outage: {error}; nothing was declared lost", file=sys.stderr)
        return restorer_cli.EXIT_OUTAGE
    except KeyboardInterrupt:
        print("mediarescue: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
