"""bench/ha.py configures the multi-worker server the way the installed Prefect reads it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench import ha

DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/prefect_ha"

# Prefect's own check behind `prefect server start --workers N`, then the settings it resolves.
READ_SETTINGS = """
import json
from prefect.cli._server_utils import _validate_multi_worker
from prefect.settings import get_current_settings

def refuse(message):
    raise SystemExit(message)

_validate_multi_worker(2, refuse)
server = get_current_settings().server
print(json.dumps({
    "migrate_on_start": server.database.migrate_on_start,
    "register_blocks_on_start": server.register_blocks_on_start,
    "docket_url": server.docket.url,
    "broker": server.events.messaging_broker,
    "lease_storage": server.concurrency.lease_storage,
}))
"""


def read_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", READ_SETTINGS],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_server_settings_pass_prefects_multi_worker_check(tmp_path: Path) -> None:
    done = read_settings(ha.ha_env(tmp_path, DATABASE, 6390))
    assert done.returncode == 0, done.stdout + done.stderr
    settings = json.loads(done.stdout.splitlines()[-1])
    assert settings == {
        "migrate_on_start": False,
        "register_blocks_on_start": False,
        "docket_url": "redis://127.0.0.1:6390/1",
        "broker": "prefect_redis.messaging",
        "lease_storage": "prefect_redis.lease_storage",
    }


def test_without_the_redis_modules_prefect_refuses_several_workers(tmp_path: Path) -> None:
    env = ha.ha_env(tmp_path, DATABASE, 6390)
    for name in ha.REDIS_MODULES:
        del env[name]
    done = read_settings(env)
    assert done.returncode == 1
    assert "requires Redis" in done.stderr


def test_a_missing_redis_server_is_named_with_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ha.shutil, "which", lambda name: None)
    with pytest.raises(ha.Missing, match=r"redis-server.*apt-get install -y redis-server"):
        ha.check_prerequisites()
