"""`prefect-gitops schema`, and the schemas it writes as a real editor uses them."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_gitops.repo.schemas import SCHEMA_BASE_URL, schema_texts
from tests.npm_modules import npm_module
from tests.run_cli import run_cli

REPO = Path(__file__).resolve().parents[2]


def test_schema_write_puts_every_schema_in_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "repo" / "schemas"
    result = run_cli("schema", "--write", str(target))
    assert result.exit_code == 0, result.stderr
    written = {p.name: p.read_text(encoding="utf-8") for p in target.iterdir()}
    assert written == schema_texts()
    assert set(written) == {
        "work-pool.schema.json",
        "prefect-gitops.schema.json",
        "prefect.yaml.schema.json",
    }
    assert f"wrote {target / 'work-pool.schema.json'} (for work-pool files)" in result.stdout


def test_schema_prints_one_schema_with_its_stable_id() -> None:
    result = run_cli("schema", "prefect.yaml")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$id"] == f"{SCHEMA_BASE_URL}prefect.yaml.schema.json"
    assert schema["$id"].startswith("https://")


def test_schema_usage_errors_and_unwritable_folders(tmp_path: Path) -> None:
    assert run_cli("schema").exit_code == 2
    assert run_cli("schema", "nope").exit_code == 2
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    result = run_cli("schema", "--write", str(blocker / "sub"))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot write the schema {blocker / 'sub'}")
    assert "Traceback" not in result.stderr


# -- yaml-language-server over stdio ---------------------------------------------------------


def _language_server() -> Path:
    """yaml-language-server from the CI's npm lock (YAML_LANGUAGE_SERVER_MODULE overrides)."""
    module = npm_module("yaml-language-server", "YAML_LANGUAGE_SERVER_MODULE")
    script = module / "bin" / "yaml-language-server"
    assert script.is_file(), f"yaml-language-server is missing at {module}"
    return script


class LanguageServer:
    """A minimal LSP client: JSON-RPC messages with Content-Length headers over stdio."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.next_id = 0
        self.settings = {
            "yaml": {"validate": True, "completion": True, "schemaStore": {"enable": False}}
        }
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            length = 0
            while (line := stream.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line:
                return
            self.inbox.put(json.loads(stream.read(length)))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        stdin.flush()

    def request(self, method: str, params: Any) -> Any:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        reply = self.wait(lambda m: m.get("id") == self.next_id and "method" not in m)
        assert "error" not in reply, reply
        return reply.get("result")

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def wait(self, wanted: Any, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.inbox.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if "method" in message and "id" in message:  # the server asks the client
                self._answer(message)
            elif wanted(message):
                return message
        raise AssertionError("yaml-language-server did not answer in time")

    def _answer(self, message: dict[str, Any]) -> None:
        result: Any = None
        if message["method"] == "workspace/configuration":
            items = message["params"]["items"]
            result = [self.settings.get(i.get("section", ""), None) for i in items]
        self.send({"id": message["id"], "result": result})


@pytest.fixture
def language_server(tmp_path: Path) -> Iterator[LanguageServer]:
    node = shutil.which("node")
    assert node is not None, "node is needed to run yaml-language-server"
    process = subprocess.Popen(
        [node, str(_language_server()), "--stdio"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        yield LanguageServer(process)
    finally:
        process.kill()
        process.wait(timeout=30)


def _open_and_diagnose(server: LanguageServer, path: Path, text: str) -> list[dict[str, Any]]:
    """Open `path` in the editor; its first non-empty diagnostics."""
    uri = path.as_uri()
    server.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}},
    )
    published = server.wait(
        lambda m: (
            m.get("method") == "textDocument/publishDiagnostics"
            and m["params"]["uri"] == uri
            and m["params"]["diagnostics"]
        )
    )
    diagnostics: list[dict[str, Any]] = published["params"]["diagnostics"]
    return diagnostics


# Line 3 holds the one mistake; `interval: 300` (line 6), which Prefect accepts, is not one.
PREFECT_FILE = (
    "# yaml-language-server: $schema=schemas/prefect.yaml.schema.json\n"
    "deployments:\n"
    "  - name: nightly\n"
    "    paused: not-a-boolean\n"
    "    entrypoint: flows.py:etl\n"
    "    schedule:\n"
    "      interval: 300\n"
)

# The last line ends in "type: " (the trailing space is where completion is asked).
POOL_FILE = (
    "# yaml-language-server: $schema=../schemas/work-pool.schema.json\n"
    "name: local\n"
    "concurency_limit: 3\n"
    "type: \n"
)


def test_an_editor_outside_the_checkout_gets_diagnostics_and_type_completion(
    tmp_path: Path, language_server: LanguageServer
) -> None:
    repo = tmp_path / "platform-repo"
    assert not repo.resolve().is_relative_to(REPO)
    assert run_cli("schema", "--write", str(repo / "schemas")).exit_code == 0
    pool = repo / "work-pools" / "local.yaml"
    pool.parent.mkdir(parents=True)
    pool.write_text(POOL_FILE, encoding="utf-8")
    uri = pool.as_uri()

    server = language_server
    server.request(
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": repo.as_uri(),
            "workspaceFolders": [{"uri": repo.as_uri(), "name": "repo"}],
            "capabilities": {
                "workspace": {"configuration": True},
                "textDocument": {"completion": {"completionItem": {"snippetSupport": False}}},
            },
        },
    )
    server.notify("initialized", {})
    server.notify("workspace/didChangeConfiguration", {"settings": server.settings})
    diagnostics = _open_and_diagnose(server, pool, POOL_FILE)
    assert any(
        d["range"]["start"]["line"] == 2 and "concurency_limit" in d["message"] for d in diagnostics
    ), diagnostics

    completion = server.request(
        "textDocument/completion",
        {"textDocument": {"uri": uri}, "position": {"line": 3, "character": len("type: ")}},
    )
    items = completion["items"] if isinstance(completion, dict) else completion
    offered = {item["label"] for item in items}
    assert {"process", "docker", "kubernetes", "ecs"} <= offered, offered

    prefect_yaml = repo / "prefect.yaml"
    prefect_yaml.write_text(PREFECT_FILE, encoding="utf-8")
    found = _open_and_diagnose(server, prefect_yaml, PREFECT_FILE)
    assert {d["range"]["start"]["line"] for d in found} == {3}, found
