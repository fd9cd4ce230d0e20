"""The dry-run report of a plan, and verify's findings, for people: a rich table with totals per
decision, and the same as JSON, CSV and a wikitext table an operator can paste on a wiki page.
Every cell is escaped for where it goes (restorer.escaping): titles are input, not markup."""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from policies.recovery import Decision
from policies.rollback import Decision as RollbackDecision
from restorer.escaping import csv_cell, plain, wikilink, wikitext
from restorer.outcomes import Outcome, RestoreResult
from restorer.plan import Verification

COLUMNS = ("title", "version", "decision", "reason", "size", "sha1")


def decision_record(d: Decision) -> dict[str, Any]:
    v = d.version
    return {"asked": d.asked, "title": d.title, "decision": d.action.value, "reason": d.reason,
            "restorable": d.restorable, "revert_to": d.revert_to, "assumed_lost": d.assumed_lost,
            "private": d.private,
            "version": None if v is None else {"catalog_id": v.id, "timestamp": v.timestamp, "uploader": v.user,
                                               "size": v.size, "sha1": v.sha1, "sha256": v.sha256,
                                               "status_at_backup": v.status, "archive_name": v.archive_name}}


def _row(d: Decision) -> tuple[str, ...]:
    v = d.version
    return (d.title, v.timestamp if v else "", d.action.value, d.reason, str(v.size) if v else "",
            v.sha1 if v else "")


def totals(decisions: list[Decision]) -> dict[str, int]:
    return dict(Counter(d.action.value for d in decisions))


def show(console: Console, decisions: list[Decision]) -> None:
    table = Table(*COLUMNS, title=f"Recovery plan: {len(decisions)} decisions (dry run: nothing was written)")
    for d in decisions:
        style = "red" if not d.restorable else "green" if d.version and d.restorable else None
        table.add_row(*map(plain, _row(d)[:-1]), plain(d.version.sha1[:12] if d.version else ""), style=style)
    console.print(table)
    console.print("totals: " + ", ".join(f"{action} {n}" for action, n in totals(decisions).items()), highlight=False,
                  markup=False)


def as_json(decisions: list[Decision]) -> str:
    return json.dumps({"decisions": [decision_record(d) for d in decisions], "totals": totals(decisions)},
                      indent=1, ensure_ascii=False)


def as_csv(decisions: list[Decision]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS + ("sha256", "asked"))
    for d in decisions:
        writer.writerow(map(csv_cell, _row(d) + (d.version.sha256 if d.version else "", d.asked)))
    return out.getvalue()


def as_wikitext(decisions: list[Decision]) -> str:
    lines = ['{| class="wikitable sortable"', "! " + " !! ".join(COLUMNS)]
    for d in (d for d in decisions if not d.private):  # deleted files are named in no public page
        title, *rest = _row(d)
        lines += ["|-", f"| {wikilink(title)} || " + " || ".join(wikitext(c) for c in rest)]
    lines.append("|}")
    lines.append("Totals: " + wikitext(", ".join(f"{action} {n}" for action, n in totals(decisions).items())))
    return "\n".join(lines) + "\n"


def render(decisions: list[Decision], fmt: str, console: Console) -> None:
    if fmt == "table":
        show(console, decisions)
    else:
        print({"json": as_json, "csv": as_csv, "wikitext": as_wikitext}[fmt](decisions), end="")


def verification(result: Verification, fmt: str, console: Console) -> None:
    records = [vars(f) for f in result.findings]
    if fmt == "json":
        print(json.dumps({"checked_files": result.checked_files, "checked_versions": result.checked_versions,
                          "broken_titles": result.broken_titles, "findings": records}, indent=1, ensure_ascii=False))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, ("title", "problem", "timestamp", "sha1", "archive_name"))
        writer.writeheader()
        writer.writerows({k: csv_cell(v) for k, v in record.items()} for record in records)
        print(out.getvalue(), end="")
    elif fmt == "titles":
        print("".join(f"{title}\n" for title in result.broken_titles), end="")
    else:
        table = Table("title", "problem", "version", "sha1",
                      title=f"{len(result.broken_titles)} broken of {result.checked_files} files "
                            f"({result.checked_versions} versions checked)")
        for f in result.findings:
            table.add_row(plain(f.title), plain(f.problem), plain(f.timestamp), plain((f.sha1 or "")[:12]))
        console.print(table)


def outcome_record(o: Outcome) -> dict[str, Any]:
    return {**decision_record(o.decision), "result": o.result, "detail": o.detail,
            "upload_timestamp": o.upload_timestamp, "journal_id": o.journal_id}


def restore_report(result: RestoreResult, wiki: str, reason: str | None) -> dict[str, Any]:
    return {"run": result.run, "wiki": wiki, "reason": reason, "ok": result.ok,
            "totals": dict(Counter(f"{o.decision.action.value}: {o.result}" for o in result.outcomes)),
            "outcomes": [outcome_record(o) for o in result.outcomes]}


def restore_text(report: dict[str, Any]) -> str:
    lines = [f"mediarescue restore run {report['run']} on {report['wiki']}"
             + (f" ({report['reason']})" if report["reason"] else ""), ""]
    for o in report["outcomes"]:
        v = o["version"]
        version = f" version {v['timestamp']} by {v['uploader']}, sha1 {v['sha1']}" if v else ""
        lines.append(f"{o['result']:>16}  {o['decision']:<20} {o['title']}{version}")
        lines.append(f"{'':>16}  {o['detail'] or o['reason']}")
    lines += ["", "totals: " + ", ".join(f"{k} {n}" for k, n in report["totals"].items())]
    return "\n".join(lines) + "\n"


def restore_wikitext(report: dict[str, Any]) -> str:
    """The run's report as a wiki page: MediaWiki logs nothing for a repaired current version, so
    this page is the community's record of it."""
    lines = [f"== mediarescue restore run {int(report['run'])} ==",
             f"Reason: {wikitext(report['reason'] or '(none given)')}. Every restored version was read "
             "back from its URL and its sha1 checked; only a match counts as restored.", "",
             '{| class="wikitable sortable"', "! file !! action !! result !! version !! sha1 !! details"]
    private = sum(o["private"] for o in report["outcomes"])
    for o in (o for o in report["outcomes"] if not o["private"]):  # deleted files are named in no public page
        v = o["version"]
        asked = f" (asked as {wikilink(o['asked'])})" if o["asked"] != o["title"] else ""
        cells = [o["decision"], o["result"], f"{v['timestamp']} by {v['uploader']}" if v else "",
                 v["sha1"] if v else "", o["detail"] or o["reason"]]
        lines += ["|-", f"| {wikilink(o['title'])}{asked} || " + " || ".join(map(wikitext, cells))]
    lines += ["|}", "", "Totals: " + wikitext(", ".join(f"{k} {n}" for k, n in report["totals"].items()))]
    if private:
        lines.append(f"{private} decisions about deleted content are left out here: an administrator has them.")
    return "\n".join(lines) + "\n"


# --- rollback ---
def rollback_record(d: RollbackDecision) -> dict[str, Any]:
    v = d.version
    return {"title": d.title, "decision": d.action.value, "steps": list(d.steps), "reason": d.reason,
            "now_at": d.live_title, "revert_to": d.archive_name, "undelete_file_ids": list(d.file_ids),
            "version": None if v is None else {"catalog_id": v.id, "timestamp": v.timestamp, "uploader": v.user,
                                               "size": v.size, "sha1": v.sha1, "sha256": v.sha256}}


def rollback_plan(plan: Any) -> dict[str, Any]:
    """The dry run: the snapshot it goes back to, the incident, a decision per title."""
    i = plan.incident
    return {"snapshot": plan.snapshot, "since": i.since, "until": i.until, "users": list(i.users),
            "decisions": [rollback_record(d) for d in plan.decisions],
            "totals": dict(Counter(d.action.value for d in plan.decisions))}


def show_rollback(console: Console, plan: Any, fmt: str) -> None:
    record = rollback_plan(plan)
    if fmt == "json":
        print(json.dumps(record, indent=1, ensure_ascii=False))
        return
    table = Table("title", "decision", "steps", "reason", "sha1",
                  title=f"Rollback plan: the incident of {plan.incident.describe()}, back to the state of backup run "
                        f"{plan.snapshot} (dry run: nothing was written)")
    for d in plan.decisions:
        table.add_row(plain(d.title), plain(d.action.value), plain(" ".join(d.steps)), plain(d.reason),
                      plain(d.version.sha1[:12] if d.version else ""), style=None if d.ok else "red")
    console.print(table)
    console.print("totals: " + ", ".join(f"{a} {n}" for a, n in record["totals"].items()), highlight=False,
                  markup=False)
    if not any(d.acts for d in plan.decisions):
        console.print("nothing to do: every title is as it was, or is left for an administrator", highlight=False,
                      markup=False)


def rollback_report(run: int, wiki: str, plan: Any, outcomes: list[Any], reason: str | None) -> dict[str, Any]:
    done = [o for o in outcomes if o.result == "rolled-back"]
    return {"run": run, "wiki": wiki, "reason": reason, **{k: v for k, v in rollback_plan(plan).items()
                                                           if k not in ("decisions", "totals")},
            "ok": all(o.result != "failed" and o.decision.ok for o in outcomes),
            "nothing_done": not done,
            "totals": dict(Counter(f"{o.decision.action.value}: {o.result}" for o in outcomes)),
            "outcomes": [{**rollback_record(o.decision), "result": o.result, "detail": o.detail} for o in outcomes]}


def rollback_text(report: dict[str, Any]) -> str:
    by = f" by {', '.join(report['users'])}" if report["users"] else ""
    lines = [f"mediarescue rollback run {report['run']} on {report['wiki']}: the incident of {report['since']} to "
             f"{report['until'] or 'now'}{by}, back to backup run {report['snapshot']}"
             + (f" ({report['reason']})" if report["reason"] else ""), ""]
    for o in report["outcomes"]:
        lines.append(f"{o['result']:>14}  {o['decision']:<18} {o['title']}")
        lines.append(f"{'':>14}  {o['detail'] or o['reason']}")
    lines += ["", "totals: " + ", ".join(f"{k} {n}" for k, n in report["totals"].items())]
    if report["nothing_done"]:
        lines.append("nothing was done: every title is as it was, or is left for an administrator")
    return "\n".join(lines) + "\n"


def rollback_wikitext(report: dict[str, Any]) -> str:
    """The run's report as a wiki page: what was undone, what was left and why."""
    by = f" by {', '.join(report['users'])}" if report["users"] else ""
    lines = [f"== mediarescue rollback run {int(report['run'])} ==",
             f"The incident of {wikitext(report['since'])} to {wikitext(report['until'] or 'now')}"
             f"{wikitext(by)}, undone back to the state of backup run {int(report['snapshot'])}. Reason: "
             f"{wikitext(report['reason'] or '(none given)')}. Every resulting current version was read back "
             "from its URL and its sha1 checked.", "",
             '{| class="wikitable sortable"', "! file !! decision !! result !! sha1 !! details"]
    for o in report["outcomes"]:
        v = o["version"]
        cells = [o["decision"], o["result"], v["sha1"] if v else "", o["detail"] or o["reason"]]
        lines += ["|-", f"| {wikilink(o['title'])} || " + " || ".join(map(wikitext, cells))]
    lines += ["|}", "", "Totals: " + wikitext(", ".join(f"{k} {n}" for k, n in report["totals"].items()))]
    return "\n".join(lines) + "\n"
