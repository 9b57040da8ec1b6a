"""The apply report: every server message is masked like the plan, and printed visibly."""

from __future__ import annotations

import json

from prefect_gitops.execution.results import ApplyResult, Outcome
from prefect_gitops.plans.build import Action, Reason
from prefect_gitops.render.apply_json import render_apply_json
from prefect_gitops.render.apply_text import progress_line, render_apply_text
from prefect_gitops.render.masking import MASK, mask_message, plan_secrets
from tests.render.factories import change, make_plan

API_KEY = "pnu_0123456789abcdefghijklmnopqrstuvwxyz"
PASSWORD = "s3cr3t  db\tpass"  # whitespace the API client folds when it summarises a message


def secret_plan() -> tuple[dict[str, object], list[str]]:
    deployment = change(
        "deployment.etl/daily",
        Action.CREATE,
        after={"name": "daily", "job_variables": {"env": {"DB_PASSWORD": PASSWORD}}},
        reason=Reason.NEW,
    )
    plan = make_plan(deployment)
    return plan.to_dict(), [API_KEY]


def failed(detail: str) -> ApplyResult:
    outcome = Outcome(
        "deployment.etl/daily", "deployment", "etl/daily", Action.CREATE, "failed", detail
    )
    return ApplyResult((outcome,), requests=3, writes=1)


# What the API client makes of a 422 that echoes the request body: whitespace folded.
ECHO = (
    "POST http://127.0.0.1:4200/api/deployments/ HTTP 422: job_variables.env.DB_PASSWORD: "
    "value 's3cr3t db pass' rejected; Authorization: Bearer " + API_KEY
)


def test_failure_report_masks_the_servers_echo_of_a_secret() -> None:
    doc, literals = secret_plan()
    hidden = plan_secrets(doc, mask_values=literals)
    text = render_apply_text(failed(ECHO), mask_values=hidden)
    assert "s3cr3t" not in text and API_KEY not in text
    assert text.startswith(
        "! deployment.etl/daily: create failed (POST http://127.0.0.1:4200/api/deployments/ "
        f"HTTP 422: job_variables.env.DB_PASSWORD: value '{MASK}' rejected; "
        f"Authorization: Bearer {MASK})\n"
    )
    line = progress_line(failed(ECHO).outcomes[0], 1, 1, mask_values=hidden)
    assert "s3cr3t" not in line and API_KEY not in line
    detail = json.loads(render_apply_json(make_plan(), failed(ECHO), mask_values=hidden))
    shown = detail["resource_changes"][0]["detail"]
    assert "s3cr3t" not in shown and API_KEY not in shown and MASK in shown


def test_a_secret_cut_short_by_truncation_is_masked() -> None:
    message = "HTTP 422: value 'correct-horse-bat…"
    assert mask_message(message, {"correct-horse-battery-staple"}) == (f"HTTP 422: value '{MASK}…")
    # Untruncated text is masked by the usual rules only.
    assert mask_message("a correct b", {"correct-horse-battery-staple"}) == "a correct b"


def test_report_makes_control_characters_visible() -> None:
    detail = "bad value\n::add-mask::x\x1b[2J"
    outcome = Outcome(
        "deployment.etl/d\n::error::y", "deployment", "etl/d", Action.UPDATE, "failed", detail
    )
    text = render_apply_text(ApplyResult((outcome,)))
    assert text.splitlines()[0] == (
        "! deployment.etl/d\\n::error::y: update failed (bad value\\n::add-mask::x\\x1b[2J)"
    )
    assert not [ln for ln in text.splitlines() if ln.lstrip().startswith("::")]


def test_apply_json_escapes_what_json_leaves_raw() -> None:
    detail = "bad\u2028::error::x\x85y\u202ez"
    outcome = Outcome("deployment.etl/d", "deployment", "etl/d", Action.UPDATE, "failed", detail)
    text = render_apply_json(make_plan(), ApplyResult((outcome,)))
    assert all(ch not in text for ch in "\u2028\x85\u202e")
    assert not [ln for ln in text.splitlines() if ln.lstrip().startswith("::")]
    assert json.loads(text)["resource_changes"][0]["detail"] == detail
