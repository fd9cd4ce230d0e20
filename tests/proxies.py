"""A proxy for the bot's tests: it stands between the bot and api.php and holds one kind of write."""
from __future__ import annotations

import http.server
import re
import threading
import time

import requests


class HoldingProxy:
    """Stands between the bot and api.php and stops one kind of write dead, before the wiki sees it
    or after the wiki did it but before the bot hears back: where a kill -9 hurts most."""

    def __init__(self, target: str, action: bytes, after: bool):
        self.held = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hold = method == "POST" and (b"action=" + action in body or re.search(
                    rb'name="action"\r?\n\r?\n' + action + rb"\r?\n", body) is not None)
                if hold and not after:
                    outer.held.set()
                    time.sleep(120)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                upstream = requests.request(method, target + self.path, data=body, headers=headers, timeout=60)
                if hold:
                    outer.held.set()
                    time.sleep(120)
                    return
                self.send_response(upstream.status_code)
                raw = upstream.raw.headers  # keeps each Set-Cookie whole, unlike upstream.headers
                for key in {k.lower() for k in raw.keys()} - {"content-length", "transfer-encoding", "connection",
                                                              "content-encoding"}:
                    for value in raw.getlist(key):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

            def do_GET(self) -> None:
                self._forward("GET")

            def do_POST(self) -> None:
                self._forward("POST")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
