"""The rollback verb of the `mediarescue` command:

    mediarescue rollback --since TIME [--until TIME] [--user NAME]... [--as-of RUN|DATE] [TITLES_FILE|-]
                         [--force] [--delete-new] [--yes] [--reason TEXT] [--report-page PAGE] [--json]

Without --yes it prints the plan and writes nothing. Exit 0 when every title is (or, in the dry
run, can be) rolled back or needs nothing the bot does (skipped conflicts, new files listed), 1 when
any cannot be or a write failed, 2 on bad usage or when no snapshot precedes the incident.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Callable

from rich.console import Console

from mediarescue.catalog import Catalog
from mediarescue.catalog.snapshots import SnapshotError, parse_as_of
from mediarescue.cli import exits
from mediarescue.cli.progress import restore_progress, show_outcome
from mediarescue.cli.restore import inspector_for, read_lines
from mediarescue.config import Config, ConfigError
from restorer import report
from restorer.titles import parse


def add_verbs(verbs: argparse._SubParsersAction, common: Callable[[], argparse.ArgumentParser]) -> None:
    verb = verbs.add_parser("rollback", parents=[common()],
                            help="undo an incident: every file it touched back to how the last backup before it saw it")
    verb.add_argument("titles_file", nargs="?", help="the titles to roll back instead of those the log names, one a "
                                                     "line ('-': standard input)")
    verb.add_argument("--since", required=True, metavar="TIME", help="the incident's start (2026-01-31T02:10:00Z)")
    verb.add_argument("--until", metavar="TIME", help="the incident's end (default: now)")
    verb.add_argument("--user", action="append", default=[], metavar="NAME",
                      help="only what this account did (repeatable; default: anyone)")
    verb.add_argument("--as-of", metavar="RUN|DATE", help="the snapshot to go back to (default: the last finished "
                                                          "backup run before --since)")
    verb.add_argument("--force", action="store_true", help="also roll back titles someone not named changed since")
    verb.add_argument("--delete-new", action="store_true", help="delete files the incident created (the bot needs "
                                                                "the delete right); by default they are only listed")
    verb.add_argument("--yes", action="store_true", help="really write to the wiki")
    verb.add_argument("--reason", help="why, for every edit summary and the report; plain text, escaped")
    verb.add_argument("--report-page", metavar="PAGE", help="also publish the run's report as this wiki page")
    verb.add_argument("--report-dir", help="where the local report goes (default: reports/ beside the catalog)")
    verb.add_argument("--throttle", type=float, default=0.1, metavar="SECONDS",
                      help="at least this long between two writes of the bot (default 0.1)")
    verb.add_argument("--bot-workers", type=int, default=1,
                      help="titles rolled back side by side (default 1; agree on more with the wiki's operators)")
    verb.add_argument("--workers", type=int, default=8, help="parallel requests to the media storage")


def _moment(text: str | None, option: str) -> str | None:
    """An ISO 8601 time (UTC unless it says otherwise; a bare date is its midnight) as the wiki writes it."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{option} takes a time such as 2026-01-31T02:10:00Z, not {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _incident(args: argparse.Namespace) -> object:
    from restorer.rollback import Incident

    since, until = _moment(args.since, "--since"), _moment(args.until, "--until")
    if until and until < since:
        raise ConfigError(f"--until ({until}) is before --since ({since})")
    titles: tuple[str, ...] = ()
    if args.titles_file:
        requested = parse(read_lines(args.titles_file))
        for r in (r for r in requested if r.title is None):
            print(f"mediarescue: input error: {r.line!r}: {r.error}", file=sys.stderr)
        titles = tuple(dict.fromkeys(r.title for r in requested if r.title))
        if not titles:
            raise ConfigError(f"{args.titles_file} holds no file title")
    users = tuple(dict.fromkeys(" ".join(u.replace("_", " ").split()) for u in args.user))
    users = tuple(u[:1].upper() + u[1:] for u in users if u)
    try:
        as_of = parse_as_of(args.as_of) if args.as_of else None
    except SnapshotError as error:
        raise ConfigError(str(error)) from None
    return Incident(since, until, users, titles, as_of)


def run_rollback(args: argparse.Namespace, config: Config, console: Console) -> int:
    if not 0 <= args.throttle <= 600:
        raise ConfigError(f"--throttle must be between 0 and 600 seconds, not {args.throttle}")
    if not 1 <= args.bot_workers <= 16:
        raise ConfigError(f"--bot-workers must be between 1 and 16, not {args.bot_workers}")
    from restorer.rollback import plan

    incident = _incident(args)
    catalog = Catalog.open_existing(config.catalog)
    try:
        if args.yes:
            catalog.lock()
        inspector, wiki = inspector_for(config, args)
        try:
            the_plan = plan(inspector, catalog, wiki, incident, args.force, args.delete_new,
                            "delete" in inspector.api.rights())
        except SnapshotError as error:  # no state before the incident: nothing to go back to
            raise ConfigError(str(error)) from None
        if not args.yes:
            report.show_rollback(console, the_plan, "json" if args.json else "table")
            if not args.json:
                console.print("dry run: nothing was written. Add --yes to carry out this plan as the bot.")
            return exits.OK if all(d.ok for d in the_plan.decisions) else exits.FAILED
        return _carry_out(args, config, catalog, the_plan, console)
    finally:
        catalog.close()


def _carry_out(args: argparse.Namespace, config: Config, catalog: Catalog, the_plan: object, console: Console) -> int:
    from pathlib import Path

    from restorer.bot import BotError
    from restorer.rollback import Options, run  # imports pywikibot: only when the bot is really needed

    report_dir = Path(args.report_dir) if args.report_dir else None
    try:
        with restore_progress(console, len(the_plan.decisions), "rollback") as progress:
            options = Options(force=args.force, delete_new=args.delete_new, reason=args.reason,
                              report_page=args.report_page, report_dir=report_dir, throttle=args.throttle,
                              workers=args.bot_workers, progress=progress)
            summary, paths = run(config, config.wiki(args.wiki), catalog, the_plan, options)
    except BotError as error:  # the bot could not start (login, rights) or publish: one line, not a traceback
        print(f"mediarescue: error: {error}", file=sys.stderr)
        return exits.FAILED
    show_outcome(console, summary, paths, args.json, report.rollback_text)
    return exits.OK if summary["ok"] else exits.FAILED


HANDLERS = {"rollback": run_rollback}
