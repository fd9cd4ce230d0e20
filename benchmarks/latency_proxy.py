"""A TCP proxy on 127.0.0.1 that adds a fixed delay to every request, for benchmarks that need a
wide-area round trip on a machine without netem.

Each accepted connection gets its own upstream connection and two threads, one per direction.
The client->server direction waits `delay` seconds before forwarding the first bytes that arrive
after the connection opened or after any response bytes went back: that is one delay per
request, with keep-alive intact, and request bodies (chunked uploads) are not delayed again piece
by piece. Bytes are forwarded as they arrive, so large bodies stream and are never held whole.

Run on its own (`./scripts/bench latency_proxy`) it checks itself: 50 sequential small GETs must
take at least 50 x delay, and a 100 MB GET must stream through.
"""
from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import time

_BUFFER = 1 << 20


class _Pair:
    """One proxied connection: the client socket, the upstream socket and their shared state."""

    def __init__(self, client: socket.socket, upstream: socket.socket, delay: float, proxy: LatencyProxy):
        self.client, self.upstream, self.delay, self.proxy = client, upstream, delay, proxy
        # True until the next request starts: set by the response side *before* it forwards any
        # bytes, so a client can never send its next request before the flag is up.
        self.fresh = True
        self._lock = threading.Lock()
        self._open_directions = 2

    def run(self) -> None:
        threading.Thread(target=self._pump, args=(self.client, self.upstream, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.upstream, self.client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, request_side: bool) -> None:
        buffer = bytearray(_BUFFER)
        view = memoryview(buffer)
        try:
            while True:
                n = source.recv_into(buffer)
                if n == 0:
                    sink.shutdown(socket.SHUT_WR)  # pass the half-close on: HTTP/1.0 bodies end this way
                    break
                if request_side:
                    if self.fresh:
                        self.fresh = False
                        self.proxy._delayed()
                        time.sleep(self.delay)
                else:
                    self.fresh = True
                sink.sendall(view[:n])
        except OSError:
            self.close()  # a reset on one side ends both; closing unblocks the other thread
            return
        with self._lock:
            self._open_directions -= 1
            done = self._open_directions == 0
        if done:
            self.close()

    def close(self) -> None:
        for sock in (self.client, self.upstream):
            try:
                sock.close()
            except OSError:
                pass


class LatencyProxy:
    """Forwards 127.0.0.1:`port` (a free one) to 127.0.0.1:`target_port`, `delay` s per request."""

    def __init__(self, target_port: int, delay: float = 0.020):
        self.target = ("127.0.0.1", target_port)
        self.delay = delay
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._pairs: list[_Pair] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        # What went through, so a benchmark can check its traffic really took the slow path.
        self.connections = self.delays = 0
        self._counter_lock = threading.Lock()

    def _delayed(self) -> None:
        with self._counter_lock:
            self.delays += 1

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LatencyProxy:
        self._listener.listen(128)
        self._thread = threading.Thread(target=self._accept, name=f"latency-proxy-{self.port}", daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed by stop()
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()  # the client sees a closed connection, as it would from a dead server
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = _Pair(client, upstream, self.delay, self)
            self.connections += 1
            self._pairs = [p for p in self._pairs if p.client.fileno() != -1] + [pair]
            pair.run()

    def stop(self) -> None:
        self._stopping = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        for pair in self._pairs:
            pair.close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> LatencyProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- self-check ---------------------------------------------------------------------------------

_BIG = 100 * 1000 * 1000


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the servers behind the real benchmark use
    disable_nagle_algorithm = True  # else headers and body in two writes cost a 40 ms delayed ACK

    def do_GET(self) -> None:
        size = _BIG if self.path == "/big" else 100
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        block = bytes(range(256)) * 4096  # 1 MiB, generated once: the check times the proxy
        for offset in range(0, size, len(block)):
            self.wfile.write(block[:min(len(block), size - offset)])

    def log_message(self, *args: object) -> None:
        pass


def self_check(delay: float = 0.020, requests_count: int = 50) -> dict[str, float]:
    """Time small GETs and one 100 MB GET directly and through the proxy; raise if it misbehaves."""
    import requests

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    direct = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with LatencyProxy(server.server_address[1], delay) as proxy, requests.Session() as session:
            figures = {}
            for name, base in (("direct", direct), ("proxied", proxy.base_url)):
                began = time.monotonic()
                for _ in range(requests_count):
                    session.get(base + "/small").raise_for_status()
                figures[f"{name}_small_s"] = time.monotonic() - began
            connections, delays = proxy.connections, proxy.delays
            began = time.monotonic()
            digest, received = hashlib.sha1(), 0
            with session.get(proxy.base_url + "/big", stream=True) as response:
                for block in response.iter_content(_BUFFER):
                    digest.update(block)
                    received += len(block)
            figures["big_s"] = time.monotonic() - began
            figures["big_MB_s"] = received / 1e6 / figures["big_s"]
    finally:
        server.shutdown()
        server.server_close()
    if figures["proxied_small_s"] < requests_count * delay:
        raise AssertionError(f"{requests_count} GETs took {figures['proxied_small_s']:.3f} s through the proxy, "
                             f"less than {requests_count} x {delay} s")
    if delays != requests_count:
        raise AssertionError(f"{requests_count} requests were delayed {delays} times")
    if connections != 1:
        raise AssertionError(f"keep-alive broke: {requests_count} GETs used {connections} connections")
    if received != _BIG:
        raise AssertionError(f"the 100 MB GET delivered {received} bytes")
    return figures


def main() -> None:
    figures = self_check()
    print(f"latency proxy, 20 ms: 50 small GETs direct {figures['direct_small_s']:.3f} s, "
          f"proxied {figures['proxied_small_s']:.3f} s (>= 1.000 s), one connection; "
          f"100 MB GET proxied {figures['big_s']:.2f} s ({figures['big_MB_s']:.0f} MB/s)")


if __name__ == "__main__":
    main()
