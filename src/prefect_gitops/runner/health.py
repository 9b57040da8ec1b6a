"""``--with-healthcheck``: ``GET /health`` is 200 while polling is alive, 503 once it stalls.

Like Prefect's worker webserver (``prefect/workers/server.py``): healthy while the last poll
is younger than 30 poll intervals. Binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HealthServer:
    def __init__(self, host: str, port: int, is_healthy: Callable[[], bool]) -> None:
        check = is_healthy

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/health":
                    self._answer(404, "Not found")
                elif check():
                    self._answer(200, "OK")
                else:
                    self._answer(503, "Worker may be unresponsive at this time")

            def _answer(self, status: int, message: str) -> None:
                body = json.dumps({"message": message}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.address = f"http://{host}:{self._server.server_address[1]}/health"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
