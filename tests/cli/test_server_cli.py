from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import prefect_gitops.cli.server  # noqa: F401  (registers the command group)
from prefect_gitops.cli import cli
from prefect_gitops.cli.common import open_client
from prefect_gitops.prefect import server
from prefect_gitops.prefect.api import ApiClient


@pytest.fixture
def gitops_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "gitops"
    monkeypatch.setenv("PREFECT_GITOPS_HOME", str(home))
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))  # no user profiles
    for name in ("PREFECT_API_URL", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH", "PREFECT_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield home
    server.stop(home / "server")


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.server
def test_server_start_status_stop(gitops_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = gitops_home / "server"
    assert run("server", "status") == f"not running (state: {state})\n"
    assert (
        run("server", "stop") == f"The embedded Prefect server is not running (state: {state}).\n"
    )

    started = run("server", "start")
    match = re.fullmatch(
        rf"Started: the embedded Prefect server at (http://127\.0\.0\.1:\d+/api) \(state: {re.escape(str(state))}\)\n",
        started,
    )
    assert match, started
    url = match.group(1)
    assert run("server", "start").startswith(
        f"Already running: the embedded Prefect server at {url} "
    )
    assert re.fullmatch(
        rf"running at {re.escape(url)} \(pid \d+, state: .*\)\n", run("server", "status")
    )

    # With nothing configured, commands use the embedded server and say so on stderr.
    capsys.readouterr()
    with open_client(None, None) as client:
        assert client.base_url == url
        assert client.settings.source == "embedded"
        assert client.get("/health") is True
    assert (
        capsys.readouterr().err == f"Using the embedded Prefect server at {url} (state: {state})\n"
    )

    assert run("server", "stop") == f"Stopped the embedded Prefect server (state: {state}).\n"
    assert run("server", "status") == f"not running (state: {state})\n"


def test_open_client_prefers_configured_api(
    gitops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://configured.example:4200/api")
    with open_client(None, None) as client:
        assert isinstance(client, ApiClient)
        assert client.base_url == "http://configured.example:4200/api"
    with open_client("http://flag.example/api", None) as client:
        assert client.base_url == "http://flag.example/api"
    assert not (gitops_home / "server").exists()  # no embedded server was started


def test_api_options_adds_flags() -> None:
    import click

    from prefect_gitops.cli.common import api_options

    @click.command()
    @api_options
    def probe(api_url: str | None, profile: str | None) -> None:
        click.echo(f"{api_url}|{profile}")

    result = CliRunner().invoke(probe, ["--api-url", "http://x/api", "--profile", "p"])
    assert result.output == "http://x/api|p\n"
    assert "--api-url" in CliRunner().invoke(probe, ["--help"]).output


@pytest.mark.server
def test_server_start_port_listens_there_and_refuses_another_port(gitops_home: Path) -> None:
    from tests.run_cli import run_cli

    port = server._free_port()
    started = run("server", "start", "--port", str(port))
    assert started.startswith(
        f"Started: the embedded Prefect server at http://127.0.0.1:{port}/api"
    )
    assert run("server", "start", "--port", str(port)).startswith("Already running")
    other = run_cli("server", "start", "--port", str(server._free_port()))
    assert other.exit_code == 1
    assert f"already runs at http://127.0.0.1:{port}/api" in other.stderr
    assert "prefect-gitops server stop" in other.stderr


def test_server_start_port_must_be_a_port() -> None:
    from tests.run_cli import run_cli

    result = run_cli("server", "start", "--port", "70000")
    assert result.exit_code == 2 and "--port" in result.stderr


@pytest.mark.server
def test_server_start_on_a_port_in_use_is_a_clear_error(gitops_home: Path) -> None:
    import socket

    from tests.run_cli import run_cli

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("server", "start", "--port", str(port))
    assert result.exit_code == 1, result.stderr
    assert f"port {port} of 127.0.0.1 is already in use" in result.stderr
    assert "choose another --port" in result.stderr
    assert run("server", "status").startswith("not running")
