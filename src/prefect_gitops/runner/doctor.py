"""Why are my runs pending forever? One verdict per work pool, each problem with its fix.

The triad from Prefect's own troubleshooting advice, made into checks: does the pool exist and
is it paused, is any worker ONLINE on it, and are there late runs (and if so why: pool paused,
queue paused, concurrency full, no worker).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..prefect.api import ApiClient, ApiError
from .flowruns import iso

LATE_AFTER = timedelta(seconds=60)


@dataclass
class PoolReport:
    pool: str
    problems: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        if self.ok:
            return f"OK   pool {self.pool!r}: {', '.join(self.facts)}"
        text = f"FAIL pool {self.pool!r}: {'; '.join(self.problems)}"
        if self.fixes:
            text += f" -> fix: {'; '.join(dict.fromkeys(self.fixes))}"
        return text


def api_error(client: ApiClient) -> ApiError | None:
    """Why the API does not answer its health check, or None when it does."""
    try:
        client.get("/health")
    except ApiError as exc:
        return exc
    return None


def pools_to_check(client: ApiClient, chosen: Sequence[str], declared: Sequence[str]) -> list[str]:
    """The pools `--pool` names, else those the repository declares, else every pool on the
    server but Prefect's own `prefect-agent` ones (no worker polls those)."""
    names = list(chosen) or list(declared)
    if names:
        return names
    found = client.paginate("/work_pools/filter")
    return [p["name"] for p in found if not str(p.get("type", "")).startswith("prefect-agent")]


def _count(client: ApiClient, body: dict[str, Any]) -> int:
    return int(client.post("/flow_runs/count", json=body) or 0)


def diagnose_pool(client: ApiClient, name: str, now: datetime) -> PoolReport:
    report = PoolReport(name)
    pool = client.get(f"/work_pools/{name}", allow=(404,))
    if not isinstance(pool, dict):
        report.problems.append("does not exist on the server")
        report.fixes.append("`prefect-gitops apply` to create it")
        return report
    workers = client.post(f"/work_pools/{name}/workers/filter", json={"limit": 200}) or []
    online = [w for w in workers if w.get("status") == "ONLINE"]
    queues = client.post(f"/work_pools/{name}/queues/filter", json={"limit": 200}) or []
    late_runs = _late_runs(client, name, now)
    active = _count(client, {**_in_pool(name), "flow_runs": _ACTIVE_FILTER})
    report.facts.append(f"type {pool.get('type')}")
    report.facts.append(f"{len(online)} worker(s) online")
    report.facts.append(f"{active} run(s) active")
    _pool_state_problems(report, pool, bool(online))
    if late_runs:
        reasons = _queue_reasons(client, report, queues, late_runs)
        reasons += _pool_reasons(report, pool, active, bool(online))
        why = (
            ", ".join(reasons)
            if reasons
            else "workers are online but not picking them up (check their logs)"
        )
        report.problems.append(
            f"{len(late_runs)}{'+' if len(late_runs) >= 200 else ''} late run(s): {why}"
        )
    else:
        report.facts.append("no late runs")
    return report


_ACTIVE_FILTER = {"state": {"type": {"any_": ["PENDING", "RUNNING"]}}}


def _in_pool(name: str) -> dict[str, Any]:
    return {"work_pools": {"name": {"any_": [name]}}}


def _late_runs(client: ApiClient, name: str, now: datetime) -> list[dict[str, Any]]:
    """Up to 200 runs of the pool still SCHEDULED past their start time (and its grace)."""
    late_filter = {
        "state": {"type": {"any_": ["SCHEDULED"]}},
        "next_scheduled_start_time": {"before_": iso(now - LATE_AFTER)},
    }
    body = {**_in_pool(name), "flow_runs": late_filter, "limit": 200}
    return list(client.post("/flow_runs/filter", json=body) or [])


def _start_worker_command(name: str, pool_type: Any) -> str:
    if pool_type == "process":
        return f"`prefect-gitops runner start --pool {name}`"
    return f"`prefect worker start --pool {name} --type {pool_type}`"


def _pool_state_problems(report: PoolReport, pool: dict[str, Any], online: bool) -> None:
    name = report.pool
    if pool.get("is_paused"):
        report.problems.append("the pool is paused")
        report.fixes.append(
            f"`prefect work-pool resume {name}` (or set is_paused: false and apply)"
        )
    if not online:
        report.problems.append("no worker is ONLINE")
        report.fixes.append(_start_worker_command(name, pool.get("type")))


def _queue_reasons(
    client: ApiClient,
    report: PoolReport,
    queues: list[dict[str, Any]],
    late_runs: list[dict[str, Any]],
) -> list[str]:
    """Why the queues holding late runs do not release them: paused, or at their limit."""
    name = report.pool
    reasons: list[str] = []
    late_queues = {r.get("work_queue_name") for r in late_runs}
    for queue in queues:
        if queue.get("name") not in late_queues:
            continue
        if queue.get("is_paused"):
            reasons.append(f"queue {queue['name']!r} is paused")
            report.fixes.append(f"`prefect work-queue resume {queue['name']} --pool {name}`")
        queue_limit = queue.get("concurrency_limit")
        if queue_limit is None:
            continue
        in_queue = {**_ACTIVE_FILTER, "work_queue_name": {"any_": [queue["name"]]}}
        busy = _count(client, {**_in_pool(name), "flow_runs": in_queue})
        if busy >= queue_limit:
            reasons.append(
                f"queue {queue['name']!r} is at its concurrency limit ({busy}/{queue_limit})"
            )
            report.fixes.append(
                f"raise the concurrency limit of queue {queue['name']!r} or find stuck runs"
            )
    return reasons


def _pool_reasons(report: PoolReport, pool: dict[str, Any], active: int, online: bool) -> list[str]:
    reasons: list[str] = []
    limit = pool.get("concurrency_limit")
    if limit is not None and active >= limit:
        reasons.append(f"the pool is at its concurrency limit ({active}/{limit})")
        report.fixes.append(
            "raise concurrency_limit in the pool file or find stuck PENDING/RUNNING runs"
        )
    if pool.get("is_paused"):
        reasons.append("pool paused")
    if not online:
        reasons.append("no worker")
    return reasons
