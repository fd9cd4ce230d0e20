"""The restorer's verbs of the `mediarescue` command (collector/cli.py holds the command itself):

    mediarescue verify [TITLES_FILE|-] [--all] [--deep] [--json | --csv | --titles]
    mediarescue plan [TITLES_FILE|-] [--title T]... [--sha1 X] [--sha256 X] [--from-verify]
                     [--include-old] [--priority size|mediatype|usage] [--deep] [--json | --csv | --wikitext]

verify exits 0 when nothing is broken, 1 when something is; plan exits 0 when every title has a
decision it can carry out (or needs none), 1 when any cannot be restored or is not a title;
both exit 2 on bad usage and 3 when the media storage is down (nothing is called lost then).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from rich.console import Console

from collector.catalog import Catalog
from collector.config import Config, ConfigError
from collector.mediawiki import MediaWiki
from restorer import report
from restorer.inspect import Inspector
from restorer.plan import plan, verify
from restorer.titles import Requested, parse, parse_line

EXIT_OUTAGE = 3


def add_verbs(verbs: argparse._SubParsersAction, common: Callable[[], argparse.ArgumentParser]) -> None:
    check = verbs.add_parser("verify", parents=[common()], help="find what is broken on the live wiki")
    check.add_argument("titles_file", nargs="?", help="titles, one a line ('-': standard input)")
    check.add_argument("--all", action="store_true", help="every file of the wiki and of the catalog")
    check.add_argument("--deep", action="store_true", help="read every version's bytes and check its sha1")
    check.add_argument("--csv", action="store_true", help="the findings as CSV")
    check.add_argument("--titles", action="store_true", help="only the broken titles, one a line, for `plan`")
    check.add_argument("--workers", type=int, default=8, help="parallel requests to the media storage")
    dry = verbs.add_parser("plan", parents=[common()], help="what a recovery would do, and why (a dry run)")
    dry.add_argument("titles_file", nargs="?", help="titles or file URLs, one a line ('-': standard input)")
    dry.add_argument("--title", action="append", default=[], help="a title (repeatable)")
    dry.add_argument("--sha1", help="the catalogued files with versions of this sha1")
    dry.add_argument("--sha256", help="the catalogued files with versions of this sha256")
    dry.add_argument("--from-verify", action="store_true", help="the broken titles of the last verify")
    dry.add_argument("--include-old", action="store_true",
                     help="restore lost old versions even where a newer version was uploaded since the backup")
    dry.add_argument("--priority", choices=("size", "mediatype", "usage"), default="size",
                     help="order within current and old versions (default: size, small first)")
    dry.add_argument("--deep", action="store_true", help="read every version's bytes and check its sha1")
    dry.add_argument("--csv", action="store_true", help="the plan as CSV")
    dry.add_argument("--wikitext", action="store_true", help="the plan as a wikitext table")
    dry.add_argument("--workers", type=int, default=8, help="parallel requests to the media storage")


def _read_lines(name: str | None) -> list[str]:
    if name is None:
        return []
    if name == "-":
        return sys.stdin.read().splitlines()
    try:
        return Path(name).read_text().splitlines()
    except OSError as error:
        raise ConfigError(f"cannot read {name}: {error.strerror}") from None


def _fmt(args: argparse.Namespace, *choices: str) -> str:
    chosen = [c for c in ("json", *choices) if getattr(args, c, False)]
    if len(chosen) > 1:
        raise ConfigError(f"choose one output format, not {' and '.join('--' + c for c in chosen)}")
    return chosen[0] if chosen else "table"


def _inspector(config: Config, args: argparse.Namespace) -> tuple[Inspector, str]:
    wiki = config.wiki(args.wiki)
    if not 1 <= args.workers <= 64:
        raise ConfigError(f"--workers must be between 1 and 64, not {args.workers}")
    api = MediaWiki(wiki.api_url, config.contact, maxlag=wiki.maxlag)
    api.login(wiki.user, wiki.password)
    return Inspector(api, wiki, config.contact, workers=args.workers), wiki.name


def run_verify(args: argparse.Namespace, config: Config, console: Console) -> int:
    fmt = _fmt(args, "csv", "titles")
    requested = parse(_read_lines(args.titles_file))
    if args.all == bool(args.titles_file):
        raise ConfigError("verify takes a TITLES_FILE ('-' for standard input) or --all")
    bad = [r for r in requested if r.title is None]
    for r in bad:
        print(f"mediarescue: input error: {r.line!r}: {r.error}", file=sys.stderr)
    inspector, wiki = _inspector(config, args)
    catalog = Catalog(config.catalog)
    try:
        if args.all:
            names = (row["title"] for batch in inspector.api.query(list="allimages", ailimit="max", aiprop="")
                     for row in batch["allimages"])
            titles = list(dict.fromkeys([*names, *catalog.titles(wiki)]))
        else:
            titles = [r.title for r in requested if r.title]
        result = verify(inspector, catalog, wiki, titles, deep=args.deep)
        catalog.record_verification(wiki, result.checked_files, result.checked_versions,
                                    [vars(f) for f in result.findings])
    finally:
        catalog.close()
    report.verification(result, fmt, console)
    return 1 if result.findings or bad else 0


def run_plan(args: argparse.Namespace, config: Config, console: Console) -> int:
    fmt = _fmt(args, "csv", "wikitext")
    catalog = Catalog(config.catalog)
    try:
        wiki_name = config.wiki(args.wiki).name
        lines = _read_lines(args.titles_file) + args.title
        for digest, column in ((args.sha1, "sha1"), (args.sha256, "sha256")):
            if digest:
                rows = catalog.find(wiki=wiki_name, **{column: digest.lower()})
                if not rows:
                    raise ConfigError(f"no catalogued version has {column} {digest}")
                lines += [r["title"] for r in rows]
        if args.from_verify:
            found = catalog.last_verification_titles(wiki_name)
            if found is None:
                raise ConfigError(f"{wiki_name} was never verified: run `mediarescue verify` first")
            lines += found
        if not lines:
            raise ConfigError("plan needs titles: a TITLES_FILE ('-' for standard input), --title, --sha1, "
                              "--sha256 or --from-verify")
        requested: list[Requested] = parse(lines)
        inspector, wiki = _inspector(config, args)
        decisions = plan(inspector, catalog, wiki, requested, deep=args.deep, include_old=args.include_old,
                         priority=args.priority)
    finally:
        catalog.close()
    report.render(decisions, fmt, console)
    return 0 if all(d.restorable for d in decisions) else 1


HANDLERS = {"verify": run_verify, "plan": run_plan}
