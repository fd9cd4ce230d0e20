"""Secrets and transport (issue 16): a bot password or a Swift key never follows a redirect to
another host, plain http to a host that is not this machine needs `allow_insecure`, and a backup
whose Swift is unreachable stops at once. The redirect tests run two small servers on two loopback
hosts, 127.0.0.1 (the wiki or Swift as configured) and 127.0.0.2 (elsewhere), and assert that the
second never sees a request at all."""
from __future__ import annotations

import http.server
import json
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from mediarescue import config as configuration
from mediarescue.catalog import Catalog
from testbed.bed import TestBed
from testbed.seed import SeedResult
from tests.conftest import mediarescue

PASSWORD = "bot-password-that-must-stay-home"
SWIFT_KEY = "swift-key-that-must-stay-home"


class Server:
    """An HTTP server on `host` that records every request and answers with `respond`."""

    def __init__(self, host: str, respond: Callable[[http.server.BaseHTTPRequestHandler, bytes], None]):
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def handle_any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                respond(self, body)

            do_GET = do_POST = do_PUT = do_HEAD = handle_any

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def saw_secret(self, secret: str) -> bool:
        return any(secret in str(headers) or secret.encode() in body for _m, _p, headers, body in self.seen)


def answer(handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes = b"{}",
           headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), **(headers or {})}
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


@pytest.fixture
def elsewhere() -> Iterator[Server]:
    """Another host: it must never be contacted."""
    server = Server("127.0.0.2", lambda handler, body: answer(handler, 200))
    yield server
    server.close()


def _one_line_error(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mediarescue: error:") and "Traceback" not in done.stderr, \
        done.stderr
    return lines[0]


def _wiki_config(tmp_path: Path, api_url: str) -> Path:
    (tmp_path / "password").write_text(PASSWORD)
    config = tmp_path / "m.toml"
    config.write_text(f'catalog = "catalog.db"\nblobs = "blobs"\ncontact = "tests"\n[wiki.w]\napi_url = "{api_url}"\n'
                      'user = "Bot@app"\npassword_file = "password"\n')
    return config


@pytest.mark.parametrize("redirected", ["POST", "GET"])
def test_the_login_never_follows_a_redirect_to_another_host(tmp_path: Path, elsewhere: Server,
                                                            redirected: str) -> None:
    """A 307 keeps a POST's body: the password would go to whatever host the wiki names."""
    def wiki(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        if handler.command == redirected:
            answer(handler, 307 if redirected == "POST" else 302, headers={"Location": f"{elsewhere.url}/api.php"})
        else:
            answer(handler, 200, json.dumps({"query": {"tokens": {"logintoken": "abc+\\"}},
                                             "login": {"result": "Failed", "reason": "no"}}).encode())

    origin = Server("127.0.0.1", wiki)
    try:
        done = mediarescue(_wiki_config(tmp_path, f"{origin.url}/api.php"), "backup")
    finally:
        origin.close()
    message = _one_line_error(done)
    assert done.returncode == 2 and "redirect" in message and "127.0.0.2" in message and PASSWORD not in message
    assert elsewhere.seen == []
    if redirected == "POST":
        assert any(m == "POST" and PASSWORD.encode() in b for m, _p, _h, b in origin.seen)  # the wiki asked was sent it


def test_swift_auth_never_follows_a_redirect_to_another_host(tmp_path: Path, elsewhere: Server) -> None:
    """swiftclient follows a 302 on the auth URL with X-Auth-Key in the headers."""
    swift = Server("127.0.0.1", lambda handler, body: answer(
        handler, 302, headers={"Location": f"{elsewhere.url}/auth/v1.0"}))
    (tmp_path / "swift-key").write_text(SWIFT_KEY)
    config = tmp_path / "m.toml"
    config.write_text(f'catalog = "catalog.db"\ncontact = "tests"\n[blobs_swift]\nauth_url = "{swift.url}/auth/v1.0"\n'
                      f'user = "a:b"\nkey_file = "swift-key"\nspool = "spool"\n')
    Catalog(tmp_path / "catalog.db").close()
    try:
        done = mediarescue(config, "check")
    finally:
        swift.close()
    message = _one_line_error(done)
    assert done.returncode == 2 and "redirect" in message and "127.0.0.2" in message and SWIFT_KEY not in message
    assert swift.saw_secret(SWIFT_KEY) and elsewhere.seen == []


class _Proxy:
    """The test bed's wiki behind another port of 127.0.0.1: every request is passed on, except the
    login POST of pywikibot, answered with a 307 to `elsewhere`. (The reader's login must pass for
    `restore` to reach the bot at all.)"""

    def __init__(self, wiki_api: str, elsewhere: Server):
        def respond(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
            if handler.command == "POST" and b"action=login" in body \
                    and "pywikibot" in handler.headers.get("User-Agent", "").lower():
                return answer(handler, 307, headers={"Location": f"{elsewhere.url}/api.php"})
            upstream = requests.request(handler.command, wiki_api.rsplit("/", 1)[0] + handler.path, data=body,
                                        headers={k: v for k, v in handler.headers.items()
                                                 if k.lower() in ("cookie", "content-type", "user-agent")},
                                        allow_redirects=False, timeout=60)
            cookies = {"Set-Cookie": ", ".join(upstream.raw.headers.getlist("Set-Cookie"))} \
                if upstream.raw.headers.getlist("Set-Cookie") else {}
            return answer(handler, upstream.status_code, upstream.content,
                          {"Content-Type": upstream.headers.get("Content-Type", "application/json"), **cookies})

        self.server = Server("127.0.0.1", respond)


@pytest.mark.integration
def test_the_bots_pywikibot_login_never_follows_a_redirect_to_another_host(
        fs_bed: TestBed, tmp_path: Path, elsewhere: Server) -> None:
    proxy = _Proxy(fs_bed.api_url, elsewhere)
    config = fs_bed.write_config(tmp_path / "m.toml", tmp_path / "catalog.db", tmp_path / "blobs")
    config.write_text(config.read_text().replace(fs_bed.api_url, f"{proxy.server.url}/api.php"))
    Catalog(tmp_path / "catalog.db").close()
    try:
        done = mediarescue(config, "restore", "--yes", "--title", "File:Nothing to restore here.png", timeout=300)
    finally:
        proxy.server.close()
    assert "Logging in" not in done.stderr  # pywikibot's chatter stays off the operator's screen (issue 13)
    message = _one_line_error(done)
    assert done.returncode == 2 and "redirect" in message and "127.0.0.2" in message
    assert any(fs_bed.bot_password.encode() in body for _m, _p, _h, body in proxy.server.seen
               if b"action=login" in body and "pywikibot" in _h.get("user-agent", "").lower())  # it tried
    assert elsewhere.seen == [] and fs_bed.bot_password not in done.stderr + done.stdout


# --- plain http only to this machine ---

@pytest.mark.parametrize("table, url, key", [
    ("wiki.w", "http://wiki.example.org/w/api.php", "api_url"),
    ("wiki.w.swift", "http://swift.example.org/auth/v1.0", "auth_url"),
    ("blobs_swift", "http://10.1.2.3:8080/auth/v1.0", "auth_url"),
])
def test_plain_http_to_another_host_needs_allow_insecure(tmp_path: Path, table: str, url: str, key: str) -> None:
    (tmp_path / "secret").write_text("s")
    tables = {"wiki.w": {"api_url": "https://wiki.example.org/w/api.php", "user": "u", "password_file": "secret"},
              "wiki.w.swift": {"auth_url": "https://swift.example.org/auth/v1.0", "user": "u", "key_file": "secret",
                               "wiki_id": "w"},
              "blobs_swift": {"auth_url": "https://swift.example.org/auth/v1.0", "user": "u", "key_file": "secret"}}
    tables[table][key] = url

    def write(allow: bool) -> Path:
        text = 'catalog = "c.db"\ncontact = "x"\n' + ("" if "blobs_swift" in tables else 'blobs = "b"\n')
        for name, values in tables.items():
            text += f"[{name}]\n" + "".join(f'{k} = "{v}"\n' for k, v in values.items())
            text += "allow_insecure = true\n" if allow and name == table else ""
        path = tmp_path / "m.toml"
        path.write_text(text)
        return path

    with pytest.raises(configuration.ConfigError, match=rf"^{table}\.{key} is plain http.*{table}\.allow_insecure"):
        configuration.load(write(allow=False))
    done = mediarescue(tmp_path / "m.toml", "snapshots")
    assert done.returncode == 2 and f"{table}.{key} is plain http" in _one_line_error(done)
    loaded = configuration.load(write(allow=True))
    assert url in (loaded.wikis["w"].api_url, loaded.wikis["w"].swift.auth_url, loaded.blobs_swift.auth_url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/api.php", "http://127.0.0.53/w/api.php",
                                 "http://localhost/api.php", "http://[::1]:80/api.php",
                                 "https://wiki.example.org/w/api.php"])
def test_https_and_this_machine_need_no_allow_insecure(tmp_path: Path, url: str) -> None:
    (tmp_path / "secret").write_text("s")
    (tmp_path / "m.toml").write_text(f'catalog = "c.db"\nblobs = "b"\ncontact = "x"\n[wiki.w]\napi_url = "{url}"\n'
                                     'user = "u"\npassword_file = "secret"\n')
    assert configuration.load(tmp_path / "m.toml").wikis["w"].api_url == url


# --- an unreachable Swift ends a backup promptly ---

def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.integration
def test_a_backup_with_swift_unreachable_stops_promptly_and_says_so(collector_bed: TestBed, seeded: SeedResult,
                                                                    tmp_path: Path) -> None:
    config = collector_bed.write_config(tmp_path / "m.toml", tmp_path / "catalog.db", tmp_path / "blobs")
    config.write_text(config.read_text().replace(collector_bed.swift_auth_url,
                                                 f"http://127.0.0.1:{_closed_port()}/auth/v1.0"))
    began = time.monotonic()
    done = mediarescue(config, "backup", timeout=120)
    seconds = time.monotonic() - began
    message = _one_line_error(done)
    assert done.returncode == 1 and "Swift" in message and "unreachable" in message, done.stderr
    assert seconds < 30, f"the backup took {seconds:.1f} s"
    with sqlite3.connect(tmp_path / "catalog.db") as db:
        assert db.execute("SELECT status FROM runs").fetchall() == [("failed",)]
