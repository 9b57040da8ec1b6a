"""The apply lock: against a REAL Prefect server (lease, wait, steal when expired, renewal,
force-unlock, two concurrent applies of one project), and through `httpx.MockTransport` for
the server's clock, clock skew and dead holders."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_gitops.errors import ReconcilerError
from prefect_gitops.execution.lock import LockHeldError, acquire, force_unlock, lock_name, read_lock
from prefect_gitops.prefect.api import ApiClient
from prefect_gitops.prefect.settings import Settings, load_settings
from prefect_gitops.state.ownership import owner_key
from tests.prefect_server import RunningServer
from tests.repo_factory import write_repo
from tests.run_cli import run_cli

# The tests that take the `prefect_server` fixture run on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_backends


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


@pytest.mark.server
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


@pytest.mark.server
def test_an_expired_lease_is_taken_over(client: ApiClient) -> None:
    stale = acquire(client, "lock-b", timeout=0, holder="crashed", lease_seconds=1)
    # The server's clock, not ours, says the lease lapsed: its Date header has a resolution of
    # a second and may lag behind under load, so wait well past the 1 s lease.
    time.sleep(4.5)
    with acquire(client, "lock-b", timeout=0, holder="fresh") as lease:
        assert lease.info.id != stale.info.id
        assert lease.info.holder == "fresh"
        stale.release()  # deletes by its own id only: the new lease stays
        assert read_lock(client, "lock-b") == lease.info


@pytest.mark.server
def test_a_renewed_lease_outlives_its_duration(client: ApiClient) -> None:
    """The server stamps each renewal (`updated`): a holder that keeps renewing is never
    judged stale, however long it applies; once it stops, its lease lapses."""
    lost = threading.Event()
    lease = acquire(client, "lock-renewed", timeout=0, holder="long", lease_seconds=2)
    lease.keep_alive(on_lost=lost.set, interval=0.5)
    try:
        time.sleep(4)
        with pytest.raises(LockHeldError, match="held by long"):
            acquire(client, "lock-renewed", timeout=0, holder="other", lease_seconds=2)
    finally:
        lease.stop_renewing()  # the holder hangs: no more renewals, and no release either
    time.sleep(5)  # past the 2 s lease by the server's Date header (1 s resolution, may lag)
    with acquire(client, "lock-renewed", timeout=0, holder="other") as taken:
        assert taken.info.holder == "other" and not lost.is_set()
    lease.release()  # by its own id: the other holder's lease was already gone


@pytest.mark.server
def test_force_unlock_and_the_cli(client: ApiClient, prefect_server: RunningServer) -> None:
    acquire(client, "lock-c", timeout=0, holder="stuck@host")
    result = run_cli("force-unlock", "--project", "lock-c", "--api-url", prefect_server.url)
    assert result.exit_code == 0 and "stuck@host" in result.stdout
    assert force_unlock(client, "lock-c") is None
    acquire(client, owner_key("lock-c", "dev"), timeout=0, holder="dev@host")
    result = run_cli("force-unlock", "--project", "lock-c", "--env", "dev",
                     "--api-url", prefect_server.url)  # fmt: skip
    assert result.exit_code == 0 and "dev@host" in result.stdout
    assert read_lock(client, owner_key("lock-c", "dev")) is None
    assert lock_name("Lock C!").startswith("prefect_gitops__lock_lock_c_")
    assert lock_name("Lock C!") != lock_name("lock-c")


@pytest.mark.server
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


@pytest.mark.server
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


# -- the server's clock, through a fake variables API ---------------------------------------


class FakeVariables:
    """`/variables` as the Prefect server keeps them: `created`/`updated` stamped by the
    server's clock (`self.now`), which every answer also sends as its `Date` header."""

    def __init__(self, now: datetime, *, date_header: bool = True) -> None:
        self.now = now
        self.date_header = date_header
        self.by_name: dict[str, dict[str, Any]] = {}
        self.patches = 0
        self.lock = threading.Lock()

    def stamp(self) -> str:
        return self.now.isoformat().replace("+00:00", "Z")

    def put(self, name: str, value: Any) -> dict[str, Any]:
        obj = {"id": str(uuid.uuid4()), "name": name, "value": value,
               "created": self.stamp(), "updated": self.stamp()}  # fmt: skip
        self.by_name[name] = obj
        return obj

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            status, body = self.answer(request)
        headers = {"Date": format_datetime(self.now, usegmt=True)} if self.date_header else {}
        return httpx.Response(status, json=body, headers=headers)

    def answer(self, request: httpx.Request) -> tuple[int, Any]:
        path = request.url.path.removeprefix("/api")
        body = json.loads(request.content) if request.content else None
        by_id = {v["id"]: v for v in self.by_name.values()}
        if request.method == "POST" and path == "/variables/":
            if body["name"] in self.by_name:
                return 409, {"detail": "exists"}
            return 201, self.put(body["name"], body["value"])
        if request.method == "GET" and path.startswith("/variables/name/"):
            obj = self.by_name.get(path.rsplit("/", 1)[1])
            return (200, obj) if obj else (404, {"detail": "not found"})
        obj = by_id.get(path.rsplit("/", 1)[1])
        if obj is None:
            return 404, {"detail": "not found"}
        if request.method == "DELETE":
            del self.by_name[obj["name"]]
        elif request.method == "PATCH":
            obj.update(value=body["value"], updated=self.stamp())
            self.patches += 1
        return 204, None

    def client(self) -> ApiClient:
        settings = Settings(api_url="http://prefect.test/api", max_retries=0)
        return ApiClient(settings, transport=httpx.MockTransport(self), sleep=lambda s: None)


SERVER_NOW = datetime(2031, 3, 1, 12, 0, tzinfo=timezone.utc)  # far from this machine's clock


def test_expiry_is_judged_by_the_servers_clock_whatever_ours_says() -> None:
    """Held 30 s by the server's clock: not stale, although this machine's clock is years
    away from the server's. A lease lapses only when the server says it was not renewed."""
    server = FakeVariables(SERVER_NOW)
    with server.client() as client:
        first = acquire(client, "skew", timeout=0, holder="first", lease_seconds=60)
        server.now += timedelta(seconds=30)
        with pytest.raises(LockHeldError, match="held by first"):
            acquire(client, "skew", timeout=0, holder="second", lease_seconds=60)
        server.now += timedelta(seconds=25)
        assert first.renew(1)  # renewed at +55 s (server time)
        server.now += timedelta(seconds=50)  # +105 s: 50 s after the renewal
        with pytest.raises(LockHeldError):
            acquire(client, "skew", timeout=0, holder="second", lease_seconds=60)
        server.now += timedelta(seconds=11)  # 61 s without renewal: lapsed
        second = acquire(client, "skew", timeout=0, holder="second", lease_seconds=60)
        assert second.info.holder == "second" and second.info.id != first.info.id
        assert not first.renew(2)  # the first holder learns it lost the lease


def test_without_a_date_header_a_lease_lapses_after_a_whole_lease_unchanged() -> None:
    server = FakeVariables(SERVER_NOW, date_header=False)
    clock = FakeClock()
    with server.client() as client:
        acquire(client, "nodate", timeout=0, holder="first", lease_seconds=10)
        with pytest.raises(LockHeldError):  # 8 s of waiting: less than a lease
            acquire(client, "nodate", timeout=8, holder="second", lease_seconds=10,
                    sleep=clock.sleep, monotonic=clock.monotonic)  # fmt: skip
        clock.t = 0.0
        lease = acquire(client, "nodate", timeout=30, holder="second", lease_seconds=10,
                        sleep=clock.sleep, monotonic=clock.monotonic)  # fmt: skip
        assert lease.info.holder == "second" and 10 < clock.t <= 14


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_dead_holder_on_this_host_is_stale_at_once() -> None:
    server = FakeVariables(SERVER_NOW)
    value = {"holder": "ci@here (pid x)", "host": socket.gethostname(), "pid": dead_pid(),
             "lease_seconds": 3600, "project": "dead"}  # fmt: skip
    server.put(lock_name("dead"), value)
    with server.client() as client:
        lease = acquire(client, "dead", timeout=0, holder="next")
        assert lease.info.holder == "next"
        # Alive, or on another host: held.
        with pytest.raises(LockHeldError):
            acquire(client, "dead", timeout=0, holder="third")
    other_host = FakeVariables(SERVER_NOW)
    other_host.put(lock_name("dead"), {**value, "host": "another-host"})
    with other_host.client() as client, pytest.raises(LockHeldError):
        acquire(client, "dead", timeout=0, holder="next")


@pytest.mark.parametrize(
    "value",
    ["a user's string", {"holder": "x", "lease_seconds": 1}, {"project": "someone-else"}],
)
def test_a_variable_with_the_locks_name_that_is_not_our_lease_is_never_deleted(
    value: Any,
) -> None:
    """Not written by prefect-gitops for this project: not taken over when it looks stale
    (unchanged far longer than any lease), nor by force-unlock; the error names it."""
    server = FakeVariables(SERVER_NOW)
    server.put(lock_name("mine"), value)
    server.by_name[lock_name("mine")]["updated"] = "2020-01-01T00:00:00Z"
    with server.client() as client:
        with pytest.raises(ReconcilerError, match="is not the apply lock of project 'mine'"):
            acquire(client, "mine", timeout=0, holder="next")
        with pytest.raises(ReconcilerError, match="left as it is"):
            force_unlock(client, "mine")
    assert server.by_name[lock_name("mine")]["value"] == value


def test_the_lease_is_renewed_in_the_background_until_released() -> None:
    server = FakeVariables(SERVER_NOW)
    lost = threading.Event()
    with server.client() as client:
        lease = acquire(client, "renew", timeout=0, holder="me")
        lease.keep_alive(on_lost=lost.set, interval=0.02)
        deadline = time.monotonic() + 10
        while server.patches < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.patches >= 3 and not lost.is_set()
        force_unlock(client, "renew")  # someone removes it: the holder is told
        assert lost.wait(10)
        lease.release()
        patches = server.patches
        time.sleep(0.1)
        assert server.patches == patches  # the renewal loop has ended
