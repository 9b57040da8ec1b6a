"""The apply lock against a REAL Prefect server: lease, wait, steal when expired, force-unlock,
and two concurrent applies of one project."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from prefect_gitops.api import ApiClient
from prefect_gitops.lock import LockHeldError, acquire, force_unlock, lock_name, read_lock
from prefect_gitops.settings import load_settings
from tests.prefect_server import RunningServer
from tests.repo_factory import write_repo
from tests.run_cli import run_cli

pytestmark = pytest.mark.server


@pytest.fixture
def client(prefect_server: RunningServer) -> Iterator[ApiClient]:
    with ApiClient(load_settings({}, api_url=prefect_server.url)) as api:
        yield api


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def test_second_holder_waits_then_fails_naming_the_holder(client: ApiClient) -> None:
    with acquire(client, "lock-a", timeout=0, holder="alice@ci (pid 1)"):
        clock = FakeClock()
        with pytest.raises(LockHeldError) as err:
            acquire(client, "lock-a", timeout=5, holder="bob", sleep=clock.sleep,
                    monotonic=clock.monotonic)  # fmt: skip
        assert "alice@ci (pid 1)" in err.value.message and "since 20" in err.value.message
        assert sum(clock.sleeps) == pytest.approx(5.0)
    # released: the next one gets it at once
    with acquire(client, "lock-a", timeout=0, holder="bob") as lease:
        assert read_lock(client, "lock-a") == lease.info
    assert read_lock(client, "lock-a") is None


def test_an_expired_lease_is_taken_over(client: ApiClient) -> None:
    stale = acquire(client, "lock-b", timeout=0, holder="crashed", lease_seconds=60)
    later = lambda: datetime.now(timezone.utc) + timedelta(minutes=5)  # noqa: E731
    with acquire(client, "lock-b", timeout=0, holder="fresh", now=later) as lease:
        assert lease.info.id != stale.info.id
        assert lease.info.holder == "fresh"
        stale.release()  # deletes by its own id only: the new lease stays
        assert read_lock(client, "lock-b") == lease.info


def test_force_unlock_and_the_cli(client: ApiClient, prefect_server: RunningServer) -> None:
    acquire(client, "lock-c", timeout=0, holder="stuck@host")
    result = run_cli("force-unlock", "--project", "lock-c", "--api-url", prefect_server.url)
    assert result.exit_code == 0 and "stuck@host" in result.stdout
    assert force_unlock(client, "lock-c") is None
    assert lock_name("Lock C!") == "prefect_gitops__lock_lock_c"


def test_apply_fails_fast_on_a_held_lock_and_writes_nothing(
    client: ApiClient, prefect_server: RunningServer, tmp_path: Path
) -> None:
    repo = write_repo(tmp_path, deployments=2, project="locked", prefix="lk-", pool_prefix="locked")
    with acquire(client, "locked", timeout=0, holder="carol@laptop (pid 7)"):
        result = run_cli("apply", str(repo), "--auto-approve", "--lock-timeout", "0",
                         "--api-url", prefect_server.url)  # fmt: skip
        assert result.exit_code == 1
        assert "carol@laptop (pid 7)" in result.stderr and "force-unlock" in result.stderr
        assert client.get("/work_pools/locked-00", allow=(404,)) is None


def test_two_concurrent_applies_equal_one(prefect_server: RunningServer, tmp_path: Path) -> None:
    repo = write_repo(
        tmp_path, deployments=40, pools=2, project="racing", prefix="race-", pool_prefix="racing"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    cmd = [sys.executable, "-m", "prefect_gitops", "apply", str(repo), "--auto-approve",
           "--lock-timeout", "120", "--api-url", prefect_server.url]  # fmt: skip
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    # Exactly one created everything; the other found nothing left to do.
    created = sum("Apply complete! Resources: 43 added" in out for out, _ in outputs)
    assert created == 1, outputs
    plan = run_cli("plan", str(repo), "--api-url", prefect_server.url, "--detailed-exitcode")
    assert plan.exit_code == 0 and "No changes" in plan.stdout
    with ApiClient(load_settings({}, api_url=prefect_server.url)) as api:
        deps = api.paginate("/deployments/filter", {"deployments": {"name": {"like_": "race-"}}})
        assert sorted(d["name"] for d in deps) == [f"race-{i:04d}" for i in range(40)]
        assert read_lock(api, "racing") is None
