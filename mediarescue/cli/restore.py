"""The restorer's verbs of the `mediarescue` command (collector/cli.py holds the command itself):

    mediarescue verify [TITLES_FILE|-] [--all] [--deep] [--json | --csv | --titles]
    mediarescue plan [TITLES_FILE|-] [--title T]... [--sha1 X] [--sha256 X] [--from-verify]
                     [--include-old] [--priority size|mediatype|usage] [--deep] [--json | --csv | --wikitext]
    mediarescue restore (the same input) [--yes] [--reason TEXT] [--report-page PAGE] [--json]

verify exits 0 when nothing is broken, 1 when something is; plan exits 0 when every title has a
decision it can carry out (or needs none), 1 when any cannot be restored or is not a title;
restore without --yes is plan; with --yes it exits 0 when everything planned was done and
verified, 1 when anything failed, could not be verified or cannot be restored. All exit 2 on bad
usage and 3 when the media storage is down (nothing is called lost then).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from rich.console import Console

from mediarescue.catalog import Catalog
from mediarescue.cli import exits
from mediarescue.cli.backup import complete_digest
from mediarescue.cli.progress import restore_progress, show_outcome
from mediarescue.config import Config, ConfigError
from mediarescue.mediawiki import MediaWiki
from policies.recovery import RESTORING, Decision
from restorer import report
from restorer.inspection import Inspector
from restorer.plan import plan, verify
from restorer.titles import Requested, parse

_NO_PROBE = ("do not first check that files the backup saw healthy still answer: only when the storage is known "
             "to be up and nearly every file really is lost")


def add_verbs(verbs: argparse._SubParsersAction, common: Callable[[], argparse.ArgumentParser]) -> None:
    check = verbs.add_parser("verify", parents=[common()], help="find what is broken on the live wiki")
    check.add_argument("titles_file", nargs="?", help="titles, one a line ('-': standard input)")
    check.add_argument("--all", action="store_true", help="every file of the wiki and of the catalog")
    check.add_argument("--deep", action="store_true", help="read every version's bytes and check its sha1")
    check.add_argument("--csv", action="store_true", help="the findings as CSV")
    check.add_argument("--titles", action="store_true", help="only the broken titles, one a line, for `plan`")
    check.add_argument("--workers", type=int, default=8, help="parallel requests to the media storage")
    check.add_argument("--no-outage-probe", action="store_true", help=_NO_PROBE)
    dry = verbs.add_parser("plan", parents=[common()], help="what a recovery would do, and why (a dry run)")
    _add_input(dry)
    dry.add_argument("--csv", action="store_true", help="the plan as CSV")
    dry.add_argument("--wikitext", action="store_true", help="the plan as a wikitext table")
    bot = verbs.add_parser("restore", parents=[common()],
                           help="carry out the plan as the bot (without --yes: the dry run, i.e. the plan)")
    _add_input(bot)
    bot.add_argument("--yes", action="store_true", help="really write to the wiki")
    bot.add_argument("--reason", help="why, for every edit summary and the report (e.g. an incident ticket); plain "
                                      "text: it is escaped on the report page, so ~~~~ does not sign and "
                                      "{{...}} expands nothing")
    bot.add_argument("--report-page", metavar="PAGE", help="also publish the run's report as this wiki page")
    bot.add_argument("--bot-workers", type=int, default=1,
                     help="restores side by side, one title each (default 1; agree on more with the wiki's operators)")
    bot.add_argument("--throttle", type=float, default=0.1, metavar="SECONDS",
                     help="at least this long between two writes of the bot (default 0.1, pywikibot's floor; "
                          "maxlag is honoured on top)")
    bot.add_argument("--report-dir", type=Path, help="where the local report goes (default: reports/ beside "
                                                     "the catalog)")


def _add_input(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("titles_file", nargs="?", help="titles or file URLs, one a line ('-': standard input)")
    parser.add_argument("--title", action="append", default=[], help="a title (repeatable)")
    parser.add_argument("--sha1", help="the catalogued files with versions of this sha1")
    parser.add_argument("--sha256", help="the catalogued files with versions of this sha256")
    parser.add_argument("--from-verify", action="store_true", help="the broken titles of the last verify")
    parser.add_argument("--assume-lost", action="append", default=[], metavar="TITLE",
                        help="a file gone from the wiki that you know was lost, not deleted, where the wiki gives "
                             "no evidence either way (repeatable; also asks for the title). Never overrides a "
                             "deletion the filearchive shows; the edit summary and the report say it was your call")
    parser.add_argument("--include-old", action="store_true",
                        help="restore lost old versions even where a newer version was uploaded since the backup")
    parser.add_argument("--priority", choices=("size", "mediatype", "usage"), default="size",
                        help="order within current and old versions (default: size, small first)")
    parser.add_argument("--deep", action="store_true", help="read every version's bytes and check its sha1")
    parser.add_argument("--workers", type=int, default=8, help="parallel requests to the media storage")
    parser.add_argument("--no-outage-probe", action="store_true", help=_NO_PROBE)


def read_lines(name: str | None) -> list[str]:
    if name is None:
        return []
    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        return data.decode("utf-8").splitlines()
    except OSError as error:
        raise ConfigError(f"cannot read {name}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        where = "standard input" if name == "-" else name
        raise ConfigError(f"{where} is not UTF-8 text (byte {error.start} cannot be decoded)") from None


def _fmt(args: argparse.Namespace, *choices: str) -> str:
    chosen = [c for c in ("json", *choices) if getattr(args, c, False)]
    if len(chosen) > 1:
        raise ConfigError(f"choose one output format, not {' and '.join('--' + c for c in chosen)}")
    return chosen[0] if chosen else "table"


def inspector_for(config: Config, args: argparse.Namespace) -> tuple[Inspector, str]:
    wiki = config.wiki(args.wiki)
    if not 1 <= args.workers <= 64:
        raise ConfigError(f"--workers must be between 1 and 64, not {args.workers}")
    api = MediaWiki(wiki.api_url, config.contact, maxlag=wiki.maxlag)
    api.login(wiki.user, wiki.password)
    inspector = Inspector(api, wiki, config.contact, workers=args.workers)
    if not inspector.may_see_deleted:  # said once, up front: it changes what every gone file becomes
        print(f"mediarescue: warning: {wiki.user} cannot read deletions (no deletedhistory right): a file gone from "
              "the wiki is reported for an administrator, never re-uploaded, unless named with --assume-lost",
              file=sys.stderr)
    return inspector, wiki.name


def run_verify(args: argparse.Namespace, config: Config, console: Console) -> int:
    fmt = _fmt(args, "csv", "titles")
    if args.all == bool(args.titles_file):
        raise ConfigError("verify takes a TITLES_FILE ('-' for standard input) or --all")
    requested = parse(read_lines(args.titles_file))
    bad = [r for r in requested if r.title is None]
    for r in bad:
        print(f"mediarescue: input error: {r.line!r}: {r.error}", file=sys.stderr)
    if not args.all and len(bad) == len(requested):  # findings of nothing must not replace the last ones
        where = "standard input" if args.titles_file == "-" else args.titles_file
        raise ConfigError(f"{where} holds no file title: nothing to verify (the last verify's findings are kept "
                          "for `plan --from-verify`)")
    catalog = Catalog.open_existing(config.catalog)
    try:
        inspector, wiki = inspector_for(config, args)
        if args.all:
            names = (row["title"] for batch in inspector.api.query(list="allimages", ailimit="max", aiprop="")
                     for row in batch["allimages"])
            titles = list(dict.fromkeys([*names, *catalog.titles(wiki)]))
        else:
            titles = [r.title for r in requested if r.title]
        result = verify(inspector, catalog, wiki, titles, deep=args.deep, probe=not args.no_outage_probe)
        catalog.record_verification(wiki, result.checked_files, result.checked_versions,
                                    [vars(f) for f in result.findings])
    finally:
        catalog.close()
    report.verification(result, fmt, console)
    return exits.FAILED if result.findings or bad else exits.OK


def _decisions(args: argparse.Namespace, config: Config, catalog: Catalog) -> list[Decision]:
    wiki_name = config.wiki(args.wiki).name
    lines = read_lines(args.titles_file) + args.title
    for given, column in ((args.sha1, "sha1"), (args.sha256, "sha256")):
        digest = complete_digest(catalog, column, given, wiki_name)
        if digest is not None:
            rows = catalog.find(wiki=wiki_name, **{column: digest}) if digest else []
            if not rows:
                raise ConfigError(f"no catalogued version has {column} {given}")
            public = [r["title"] for r in rows if not r["private"] and r["status"] != "deleted"]
            if not public:  # a deleted version's title is itself private: never a restore's input
                raise ConfigError(f"only deleted or hidden versions have {column} {given}: deleted content is never "
                                  "republished")
            lines += public
    if args.from_verify:
        found = catalog.last_verification_titles(wiki_name)
        if found is None:
            raise ConfigError(f"{wiki_name} was never verified: run `mediarescue verify` first")
        lines += found
    lines += args.assume_lost
    if not lines:
        raise ConfigError(f"{args.verb} needs titles: a TITLES_FILE ('-' for standard input), --title, --sha1, "
                          "--sha256, --from-verify or --assume-lost")
    requested: list[Requested] = parse(lines)
    if not requested:
        raise ConfigError(f"{args.verb} was given no file title (only blank lines or comments)")
    assume_lost = frozenset(r.title for r in parse(args.assume_lost) if r.title)
    inspector, wiki = inspector_for(config, args)
    return plan(inspector, catalog, wiki, requested, deep=args.deep, include_old=args.include_old,
                priority=args.priority, probe=not args.no_outage_probe, assume_lost=assume_lost)


def run_plan(args: argparse.Namespace, config: Config, console: Console) -> int:
    fmt = _fmt(args, "csv", "wikitext") if args.verb == "plan" else _fmt(args)
    catalog = Catalog.open_existing(config.catalog)
    try:
        decisions = _decisions(args, config, catalog)
    finally:
        catalog.close()
    report.render(decisions, fmt, console)
    if args.verb == "restore" and fmt == "table":
        console.print("dry run: nothing was written. Add --yes to carry out this plan as the bot.")
    return exits.OK if all(d.restorable for d in decisions) else exits.FAILED


def run_restore(args: argparse.Namespace, config: Config, console: Console) -> int:
    if not args.yes:
        return run_plan(args, config, console)
    if not 1 <= args.bot_workers <= 16:
        raise ConfigError(f"--bot-workers must be between 1 and 16, not {args.bot_workers}")
    if not 0 <= args.throttle <= 600:
        raise ConfigError(f"--throttle must be between 0 and 600 seconds, not {args.throttle}")
    from restorer.bot import BotError
    from restorer.restore import Options, run  # imports pywikibot: only when the bot is really needed

    catalog = Catalog.open_existing(config.catalog)
    try:
        catalog.lock()
        decisions = _decisions(args, config, catalog)
        restoring = sum(d.action in RESTORING for d in decisions)
        with restore_progress(console, restoring) as progress:
            options = Options(reason=args.reason, report_page=args.report_page, report_dir=args.report_dir,
                              workers=args.bot_workers, throttle=args.throttle, progress=progress)
            summary, paths = run(config, config.wiki(args.wiki), catalog, decisions, options)
    except BotError as error:  # the bot could not start (login, rights) or publish: one line, not a traceback
        print(f"mediarescue: error: {error}", file=sys.stderr)
        return exits.FAILED
    finally:
        catalog.close()
    show_outcome(console, summary, paths, args.json, report.restore_text)
    return exits.OK if summary["ok"] else exits.FAILED


HANDLERS = {"verify": run_verify, "plan": run_plan, "restore": run_restore}
