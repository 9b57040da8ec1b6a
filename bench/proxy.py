"""A loopback reverse proxy for the benchmarks: counts requests and can add latency.

`LoopbackProxy(upstream, latency_ms=50)` listens on 127.0.0.1 (a free port), forwards every
request to `upstream` and, before answering, sleeps `latency_ms` (one round trip to a remote
server, as users have). `counts` holds requests by `METHOD /path`, `statuses` the answers
by status code. Every request it forwards has a timeout, and it stops with the `with` block.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

UPSTREAM_TIMEOUT = 120.0


class LoopbackProxy:
    def __init__(self, upstream: str, *, latency_ms: float = 0.0) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.latency = latency_ms / 1000.0
        self.counts: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy._lock:
                    proxy.counts[f"{self.command} {self.path.split('?')[0]}"] += 1
                status, headers, data = proxy.forward(self.command, self.path, body, self.headers)
                with proxy._lock:
                    proxy.statuses[status] += 1
                if proxy.latency:
                    time.sleep(proxy.latency)
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

        return Handler

    def forward(
        self, method: str, path: str, body: bytes | None, headers: Any
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=UPSTREAM_TIMEOUT)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
            conn.request(method, path, body=body, headers=sent)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api"

    @property
    def requests(self) -> int:
        return sum(self.counts.values())

    def __enter__(self) -> LoopbackProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
