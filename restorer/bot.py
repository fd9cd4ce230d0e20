"""The one place that writes to a wiki: pywikibot, logged in as the bot account.

pywikibot is the upload engine (its throttle, maxlag, `ratelimited`/`badtoken` retries, chunked
uploads, `assert=user` on every write). Its configuration is global and it prompts for missing
passwords, so everything it needs is set here, once, when the first Bot is made (`engine`, never at
import), and from the frozen WikiConfig: no user-config.py, a private PYWIKIBOT_DIR, the password
handed over explicitly. There is one dry run, and it is not here: `restore` without --yes prints the
plan and never makes a Bot.
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from urllib3.filepost import encode_multipart_formdata

from mediarescue.config import WikiConfig
from mediarescue.files import owned_tempdir
from mediarescue.mediawiki import CHUNK_SIZE, db_key
from mediarescue.transport import RedirectRefused, redirect_guard

RIGHTS_NEEDED = ("upload", "reupload", "edit")
ROLLBACK_RIGHTS = ("upload", "reupload", "edit", "undelete", "move", "movefile")  # and delete, for --delete-new
SAME_TITLE_GAP = 1.05  # MediaWiki names archived versions by the second
THROTTLE = 0.1  # seconds between writes: pywikibot's minthrottle
PYWIKIBOT_DIR_PREFIX = "mediarescue-pywikibot-"  # its folder holds the bot's session cookie
# MediaWiki's answers the restorer expects, which pywikibot logs as warnings before raising them
EXPECTED_API_ERRORS = ("fileexists-no-change",)


def form_data(params: dict[str, str | bytes], parts: dict[str, tuple]) -> tuple[dict[str, str], bytes]:
    """The multipart/form-data body of an upload, byte-exact: what pywikibot sends in its place.

    pywikibot serialises the body with the email package, which ends each part with a bare LF
    before the next boundary. PHP takes CRLF as the delimiter and drops a CR it finds there, so a
    file (or chunk) whose last byte is 0x0D reached the wiki one byte short. urllib3 writes the
    CRLF delimiters of RFC 7578, so the bytes arrive as they are.

    pywikibot works around that loss for the last chunk of a chunked upload by appending a CR of
    its own (T132676); with correct delimiters that CR would arrive, so it is taken off again. A
    chunk that reaches one byte past `filesize` with a trailing CR can only be that padding.
    """
    fields: list[tuple[str, Any]] = list(params.items())
    for name, (content, kind, headers) in parts.items():
        if name == "chunk" and content.endswith(b"\r") and \
                int(params["offset"]) + len(content) == int(params["filesize"]) + 1:
            content = content[:-1]
        fields.append((name, ((headers or {}).get("filename", name), content, "/".join(kind))))
    body, content_type = encode_multipart_formdata(fields)
    return {"Content-Type": content_type}, body


@dataclass(frozen=True)
class Engine:
    """pywikibot, made ready for this process: what the Bot uses of it."""
    pywikibot: ModuleType
    config: ModuleType
    login: ModuleType
    api_error: type[Exception]
    request: type                   # pywikibot's api.Request, whose body builder is form_data
    pywikibot_form_data: Any        # pywikibot's own builder, kept for the test that shows its loss


_engine: list[Engine] = []
_engine_lock = threading.Lock()


def engine() -> Engine:
    """pywikibot, set up once per process, when the first Bot is made (never at import).

    Its configuration is read from the environment when it is imported, and it keeps its files
    (session cookies among them) in PYWIKIBOT_DIR only when that folder holds a user-config.py,
    otherwise in the current directory: it gets a private, empty one that goes away with the process,
    so no session outlives a run or leaks into the working folder. Its one HTTP session, which
    carries the login and every write, refuses redirects elsewhere; its upload bodies are form_data's.
    """
    with _engine_lock:
        if not _engine:
            private = owned_tempdir(PYWIKIBOT_DIR_PREFIX)  # a kill -9 leaves it to the next run's sweep
            Path(private, "user-config.py").write_text("")
            atexit.register(shutil.rmtree, private, ignore_errors=True)
            os.environ["PYWIKIBOT_DIR"] = str(private)
            os.environ["PYWIKIBOT_NO_USER_CONFIG"] = "2"
            import pywikibot
            from pywikibot import config, login
            from pywikibot.comms import http
            from pywikibot.data.api import Request
            from pywikibot.exceptions import APIError, FatalServerError

            class Refused(RedirectRefused, FatalServerError):
                """pywikibot waits and retries after most errors of a request, but passes FatalServerError on."""

            http.session.hooks["response"].append(redirect_guard(Refused))
            _quiet(pywikibot)
            original = Request.__dict__["_build_mime_request"]
            Request._build_mime_request = staticmethod(form_data)  # the lowest write layer: every upload
            _engine.append(Engine(pywikibot, config, login, APIError, Request, original))
        return _engine[0]


class _OnlyWhatMatters(logging.Filter):
    """pywikibot's screen output, less its chatter: progress lines ("Logging in to ..."), and the
    warning it logs for an API error the restorer expects and handles (an identical re-upload's
    fileexists-no-change). Its warnings and errors otherwise still reach the operator."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        message = record.getMessage()
        return not any(message.startswith(f"API error {code}:") for code in EXPECTED_API_ERRORS)


def _quiet(pywikibot: ModuleType) -> None:
    """Set up pywikibot's log handlers now (it would on its first message) and filter what they show."""
    from pywikibot import bot as pwb_bot

    pwb_bot.init_handlers()
    for handler in logging.getLogger("pywiki").handlers:
        handler.addFilter(_OnlyWhatMatters())


class BotError(Exception):
    """The wiki refused a write; `code` is MediaWiki's error code."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


class Bot:
    def __init__(self, wiki: WikiConfig, contact: str, throttle: float = THROTTLE):
        self.engine = pwb = engine()
        pywikibot, pwb_config, pwb_login = pwb.pywikibot, pwb.config, pwb.login
        family = "mediarescue-" + "".join(c if c.isalnum() else "-" for c in wiki.name)
        pwb_config.family_files[family] = wiki.api_url
        # pywikibot's throttle: at least `throttle` seconds between two writes of this process, under a
        # lock (so parallel restores share it). pywikibot's own floor is 0.1 s; 0 only where agreed.
        pwb_config.put_throttle = pwb_config.minthrottle = throttle
        pwb_config.maxlag = wiki.maxlag
        pwb_config.user_agent_description = contact
        user, _, app = wiki.user.partition("@")
        pwb_config.usernames[family][family] = user
        self.site = pywikibot.Site(family, family)
        manager = pwb_login.ClientLoginManager(password=wiki.password, site=self.site, user=user)
        manager.login_name = wiki.user  # a bot password logs in as User@app
        try:
            logged_in = manager.login()
        except (pwb.api_error, pywikibot.exceptions.NoUsernameError) as error:  # a refused login: no traceback
            raise BotError("login-failed", f"could not log in to {wiki.api_url} as {wiki.user}: "
                                           f"{getattr(error, 'info', None) or error}") from None
        if not logged_in:
            raise BotError("login-failed", f"could not log in to {wiki.api_url} as {wiki.user}")
        self.site.login()
        self.site.throttle.set_delays(delay=throttle, writedelay=throttle, absolute=True)
        self.user = self.site.user()
        self._last_write: dict[str, float] = {}
        self._lock = threading.Lock()

    def missing_rights(self, needed: tuple[str, ...] = RIGHTS_NEEDED) -> list[str]:
        return [right for right in needed if not self.site.has_right(right)]

    @contextlib.contextmanager
    def _paced(self, title: str) -> Iterator[None]:
        """A write to `title` at least SAME_TITLE_GAP after the previous one *ended*: MediaWiki
        names archived versions by the wall-clock second of the write that archives them."""
        with self._lock:
            wait = self._last_write.get(title, 0) + SAME_TITLE_GAP - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            yield
        finally:
            with self._lock:
                self._last_write[title] = time.monotonic()

    def upload(self, title: str, path: Path, summary: str, text: str | None = None) -> None:
        """Upload `path` as `title`, in one request, warnings ignored up front. The caller checked the
        title's state just before and knows which will come (exists, nochange, duplicateversions...),
        and reads back what the wiki then serves, so a warning round trip (upload to the stash, then
        publish) would only double the wiki's work. An identical current version is not an error:
        MediaWiki answers fileexists-no-change, yet publishes the bytes (how a lost current version
        comes back)."""
        page = self.engine.pywikibot.FilePage(self.site, title)
        try:
            with self._paced(title):
                # text "" spares pywikibot a fetch of the page: MediaWiki uses `text` only to create one.
                done = self.site.upload(page, source_filename=str(path), summary=summary, text=text or "",
                                        ignore_warnings=True, report_success=False, chunk_size=CHUNK_SIZE)
        except self.engine.api_error as error:
            if error.code == "fileexists-no-change":
                return
            raise BotError(error.code, error.info) from None
        if not done:
            raise BotError("upload-failed", f"the wiki did not publish {title}")

    def filerevert(self, title: str, archive_name: str, summary: str) -> None:
        request = self.site.simple_request(action="filerevert", filename=db_key(title), archivename=archive_name,
                                           comment=summary, token=self.site.tokens["csrf"])
        try:
            with self._paced(title):
                reply = request.submit()["filerevert"]
        except self.engine.api_error as error:
            raise BotError(error.code, error.info) from None
        if reply.get("result") != "Success":
            codes = ", ".join(e.get("code", "?") for e in reply.get("errors", [])) or str(reply)
            raise BotError("filerevert-failed", codes)

    def _write(self, paced: str, action: str, /, **params: str) -> dict[str, Any]:
        """One write through pywikibot's request (its throttle, maxlag, assert=user), paced per title."""
        request = self.site.simple_request(action=action, token=self.site.tokens["csrf"], **params)
        try:
            with self._paced(paced):
                return request.submit()[action]
        except self.engine.api_error as error:
            raise BotError(error.code, error.info) from None

    def undelete(self, title: str, summary: str, file_ids: tuple[int, ...] = (),
                 revisions: tuple[str, ...] = ()) -> dict[str, Any]:
        """Undelete these filearchive rows and page revisions only (both empty: everything deleted)."""
        params = {"title": title, "reason": summary}
        if file_ids:
            params["fileids"] = "|".join(map(str, file_ids))
        if revisions:
            params["timestamps"] = "|".join(revisions)
        return self._write(title, "undelete", **params)

    def move(self, source: str, target: str, summary: str, suppress_redirect: bool) -> dict[str, Any]:
        """Move the file and its page; over a redirect to `source` (MediaWiki deletes that redirect itself)."""
        params = {"from": source, "to": target, "reason": summary, "movetalk": "1"}
        if suppress_redirect:
            params["noredirect"] = "1"
        return self._write(target, "move", **params)

    def delete(self, title: str, summary: str) -> dict[str, Any]:
        return self._write(title, "delete", title=title, reason=summary)

    def edit(self, title: str, text: str, summary: str) -> None:
        page = self.engine.pywikibot.Page(self.site, title)
        page.text = text
        page.save(summary=summary, bot=True, quiet=True)
