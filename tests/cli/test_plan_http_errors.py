"""`plan` over a real socket against a server that misbehaves: 503 once is retried; a 500
that persists ends in one line on stderr and exit 1."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.run_cli import run_cli

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


class EmptyServer:
    """Answers like an empty Prefect server; the first `fail_first` requests get `status`."""

    def __init__(self, *, fail_first: int, status: int) -> None:
        self.fail_first = fail_first
        self.status = status
        self.requests: list[tuple[str, str, int]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body = owner.answer(self.command, self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _answer

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"

    def answer(self, method: str, path: str) -> tuple[int, Any]:
        if len(self.requests) < self.fail_first:
            status, body = self.status, {"exception_message": "Internal Server Error"}
            if self.status == 503:
                body = {"exception_message": "Service Unavailable"}
        elif path.endswith("/count"):
            status, body = 200, 0
        elif method == "POST" and path.endswith("/filter"):
            status, body = 200, []
        else:
            status, body = 404, {"detail": "Not found."}
        self.requests.append((method, path, status))
        return status, body

    @contextlib.contextmanager
    def running(self) -> Iterator[EmptyServer]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def test_a_503_then_200_is_retried_and_the_plan_completes() -> None:
    with EmptyServer(fail_first=1, status=503).running() as server:
        result = run_cli("plan", str(QUICKSTART), "--api-url", server.url)
    assert result.exit_code == 0, result.stderr
    assert "to add" in result.stdout
    first, second = server.requests[0], server.requests[1]
    assert first[2] == 503 and second[2] == 200
    assert first[:2] == second[:2]  # the same request, sent again


def test_a_persistent_500_is_one_line_and_exit_1_without_the_api_key() -> None:
    key = "pnu_0123456789abcdefSECRET"
    with EmptyServer(fail_first=10_000, status=500).running() as server:
        result = run_cli(
            "plan", str(QUICKSTART), "--api-url", server.url, env={"PREFECT_API_KEY": key}
        )
    assert key not in result.stdout + result.stderr
    assert result.exit_code == 1
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1, result.stderr
    assert "HTTP 500" in error_lines[0] and "Internal Server Error" in error_lines[0]
    assert "Traceback" not in result.stderr
    assert len(server.requests) == 1  # a 500 is not retried
