"""`resolve_settings`: Prefect's settings files of the working directory reach every command
that talks to the API, and the command says where its API URL came from."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.cli.test_plan_cli import write_repo
from tests.prefect_server import RunningServer
from tests.run_cli import run_cli

KEY = "pnu_SECRETsecretSECRET0123456789"


def machine(tmp_path: Path, **extra: str | None) -> dict[str, str | None]:
    """An environment with no Prefect API configured, unless `extra` configures one."""
    return {
        "PREFECT_API_URL": None,
        "PREFECT_API_KEY": None,
        "PREFECT_API_AUTH_STRING": None,
        "PREFECT_PROFILE": None,
        "PREFECT_PROFILES_PATH": None,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_GITOPS_HOME": str(tmp_path / "gitops-home"),
        "PREFECT_CLIENT_MAX_RETRIES": "0",
        **extra,
    }


@pytest.mark.server
@pytest.mark.parametrize(
    ("name", "template", "origin"),
    [
        ("prefect.toml", '[api]\nurl = "{url}"\n', "[api] url in prefect.toml"),
        (".env", "PREFECT_API_URL={url}\n", "PREFECT_API_URL in .env"),
        ("pyproject.toml", '[tool.prefect.api]\nurl = "{url}"\n', "[tool.prefect.api] url"),
    ],
)
def test_plan_uses_the_api_url_of_prefect_settings_files(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefect_server: RunningServer,
    name: str,
    template: str,
    origin: str,
) -> None:
    root = write_repo(tmp_path / "repo", f"files-{uuid.uuid4().hex[:8]}")
    (root / name).write_text(template.format(url=prefect_server.url), encoding="utf-8")
    monkeypatch.chdir(root)
    result = run_cli("plan", ".", "--format", "json", env=machine(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert f"Prefect API: {prefect_server.url} (from {origin}" in result.stderr
    assert "embedded" not in result.stderr
    assert result.json()["api_url"].startswith(prefect_server.url.rsplit("/api", 1)[0])


def test_key_from_the_environment_never_goes_to_a_url_from_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_repo(tmp_path / "repo", "p")
    # Port 9 (discard) on loopback: a request would fail with a connection error instead.
    (root / ".env").write_text("PREFECT_API_URL=http://127.0.0.1:9/api\n", encoding="utf-8")
    monkeypatch.chdir(root)
    result = run_cli("plan", ".", env=machine(tmp_path, PREFECT_API_KEY=KEY))
    assert result.exit_code == 1
    assert "PREFECT_API_URL comes from .env:1" in result.stderr
    assert "nothing was contacted" in result.stderr
    assert KEY not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr and "connect" not in result.stderr.lower()


def test_broken_prefect_toml_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_repo(tmp_path / "repo", "p")
    (root / "prefect.toml").write_text("[api\nurl =", encoding="utf-8")
    monkeypatch.chdir(root)
    result = run_cli("plan", ".", env=machine(tmp_path))
    assert result.exit_code == 1
    assert "cannot read the Prefect settings in prefect.toml" in result.stderr
    assert "Traceback" not in result.stderr
