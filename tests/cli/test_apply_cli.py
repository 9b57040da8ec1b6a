"""`apply`'s report: the server's messages are masked like every other output."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from prefect_gitops.execution import lock
from prefect_gitops.execution.results import ApplyResult, Outcome
from prefect_gitops.pipeline import applied as applied_stage
from prefect_gitops.plans.build import Plan
from tests.cli.test_plan_cli import write_repo
from tests.prefect_server import RunningServer
from tests.run_cli import run_cli

SECRET = "hunter2-db-password"
API_KEY = "pnu_apply_report_key_0123456789"


def echoing_server(client: Any, plan: Plan, *, progress: Any = None, **_: Any) -> ApplyResult:
    """Every change fails with a 422 that echoes the secret (and the key), as some servers do."""
    outcomes = []
    changes = plan.changes
    for done, rc in enumerate(changes, start=1):
        detail = (
            f"POST {client.shown_base_url}/deployments/ HTTP 422: job_variables.env: value "
            f"'{SECRET}' rejected (Authorization: Bearer {API_KEY})"
        )
        outcome = Outcome(rc.address, rc.type, rc.name, rc.action, "failed", detail)
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome, done, len(changes))
    return ApplyResult(tuple(outcomes))


@pytest.mark.server
@pytest.mark.parametrize("output_format", ["text", "json"])
def test_failure_report_masks_the_servers_echo_of_a_secret(
    tmp_path: Path,
    prefect_server: RunningServer,
    monkeypatch: pytest.MonkeyPatch,
    output_format: str,
) -> None:
    pool = f"report-{uuid.uuid4().hex[:8]}"
    root = write_repo(tmp_path / "repo", pool)
    prefect_yaml = root / "prefect.yaml"
    prefect_yaml.write_text(
        prefect_yaml.read_text()
        + f"      job_variables:\n        env:\n          DB_PASSWORD: {SECRET}\n"
    )
    (root / "prefect-gitops.yaml").write_text(f"project: {pool}\n")
    monkeypatch.setattr(applied_stage, "apply_plan", echoing_server)
    result = run_cli(
        "apply",
        *(str(root), "--auto-approve", "--format", output_format),
        *("--api-url", prefect_server.url),
        env={"PREFECT_API_KEY": API_KEY},
    )
    assert result.exit_code == 1, result.stderr
    shown = result.stdout + result.stderr
    assert "HTTP 422" in shown and "(sensitive value)" in shown
    assert SECRET not in shown and API_KEY not in shown


@pytest.mark.server
def test_a_lock_removed_while_applying_stops_sending_and_says_why(
    tmp_path: Path, prefect_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease renewal's loss reaches apply as its reason to stop: nothing more is sent,
    the report says the lock was removed, and the exit status is 1 (not a signal's 130)."""
    pool = f"lost-{uuid.uuid4().hex[:8]}"
    root = write_repo(tmp_path / "repo", pool)
    (root / "prefect-gitops.yaml").write_text(f"project: {pool}\n")
    renew = lock.Lease.keep_alive
    monkeypatch.setattr(
        lock.Lease, "keep_alive", lambda self, on_lost: renew(self, on_lost, interval=0.05)
    )
    real_apply_plan = applied_stage.apply_plan

    def lock_removed_first(client: Any, plan: Plan, **kw: Any) -> ApplyResult:
        lock.force_unlock(client, pool)
        for _ in range(200):  # the renewal notices within a few intervals
            if kw["cancel"].is_set():
                break
            time.sleep(0.05)
        return real_apply_plan(client, plan, **kw)

    monkeypatch.setattr(applied_stage, "apply_plan", lock_removed_first)
    result = run_cli(
        "apply", str(root), "--auto-approve", "--format", "json",
        "--api-url", prefect_server.url,
    )  # fmt: skip
    assert result.exit_code == 1, result.stderr
    assert f"Stopped early: {applied_stage.LOCK_LOST}" in result.stderr
    report = json.loads(result.stdout)
    sent = [c for c in report["resource_changes"] if c["status"] != "no-op"]
    assert sent and all(c["status"] == "skipped" for c in sent), report
    # The first ones are not attempted for that reason; their dependents follow them.
    why = {c["detail"] for c in sent if not c["detail"].startswith("skipped because ")}
    assert why == {f"not attempted: {applied_stage.LOCK_LOST}"}, report
