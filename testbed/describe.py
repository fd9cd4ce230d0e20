"""What a wiki's media holds, read through the API and printed for a person (the demo's last step)."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from mediarescue.mediawiki import APIError, MediaWiki


def media_state(api: MediaWiki) -> tuple[dict[str, list[dict]], list[dict], dict[str, str]]:
    """Every file's versions (newest first), the deleted versions the account may see, and the
    redirects in the File namespace."""
    files: dict[str, list[dict]] = {}
    for batch in api.query(generator="allimages", gailimit="max", prop="imageinfo", iilimit="max",
                           iiprop="timestamp|user|size|sha1|mime|archivename|url"):
        for page in batch.get("pages", []):
            files.setdefault(page["title"], []).extend(page.get("imageinfo", []))
    try:
        deleted = [row for batch in api.query(list="filearchive", falimit="max", faprop="sha1|size|timestamp")
                   for row in batch["filearchive"]]
    except APIError as error:
        if error.code != "permissiondenied":
            raise
        deleted = []
    sources = [page["title"] for batch in api.query(list="allpages", apnamespace=6, apfilterredir="redirects",
                                                     aplimit="max") for page in batch["allpages"]]
    redirects = {}
    for start in range(0, len(sources), 50):
        for batch in api.query(titles="|".join(sources[start:start + 50]), redirects=1):
            redirects |= {hop["from"]: hop["to"] for hop in batch.get("redirects", [])}
    return files, deleted, redirects


def describe(api: MediaWiki, console: Console | None = None) -> None:
    console = console or Console()
    files, deleted, redirects = media_state(api)
    versions = sum(map(len, files.values()))
    size = sum(v["size"] for history in files.values() for v in history)
    table = Table(title=f"{len(files)} files, {versions} versions ({versions - len(files)} old), "
                        f"{size / 2**20:.1f} MiB — {api.api_url}")
    for column in ("title", "versions", "size", "mime", "sha1"):
        table.add_column(column, justify="right" if column in ("versions", "size") else "left")
    for title, history in sorted(files.items()):
        current = history[0]
        table.add_row(title, str(len(history)), f"{current['size']:,}", current["mime"], current["sha1"][:12])
    console.print(table)
    if deleted:
        console.print(f"{len(deleted)} deleted versions: "
                      + ", ".join(sorted(f"{row['title']} ({row['sha1'][:8]})" for row in deleted)))
    for source, target in sorted(redirects.items()):
        console.print(f"redirect: {source} → {target}")
