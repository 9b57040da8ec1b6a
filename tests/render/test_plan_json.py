from __future__ import annotations

import json

from prefect_gitops.plans.build import Plan
from prefect_gitops.render.masking import MASK
from prefect_gitops.render.plan_json import render_plan_json
from tests.render.factories import flow_noop, make_plan, pool_replace, queue_drift


def test_json_is_the_plan_dict_with_sorted_keys() -> None:
    assert (
        render_plan_json(make_plan(queue_drift(), flow_noop()))
        == """\
{
  "api_url": "http://127.0.0.1:4200/api",
  "created_at": "2025-01-02T03:04:05+00:00",
  "desired_fingerprint": "sha256:desired",
  "environment": null,
  "format_version": "1",
  "live_fingerprint": "sha256:live",
  "prune": true,
  "resource_changes": [
    {
      "actions": [
        "update"
      ],
      "address": "work_queue.above-ground/critical",
      "after": {
        "name": "critical",
        "pool": "above-ground",
        "priority": 1
      },
      "before": {
        "name": "critical",
        "pool": "above-ground",
        "priority": 3
      },
      "changed_fields": [
        {
          "after": 1,
          "before": 3,
          "kind": "changed",
          "path": "priority"
        }
      ],
      "drifted": true,
      "name": "above-ground/critical",
      "notes": [],
      "reason": "changed",
      "type": "work_queue"
    },
    {
      "actions": [
        "no-op"
      ],
      "address": "flow.etl",
      "after": {
        "name": "etl"
      },
      "before": {
        "name": "etl"
      },
      "changed_fields": [],
      "drifted": false,
      "name": "etl",
      "notes": [],
      "reason": null,
      "type": "flow"
    }
  ],
  "summary": {
    "add": 0,
    "change": 1,
    "destroy": 0,
    "no_op": 1,
    "replace": 0
  },
  "tool_version": "0.1.0"
}
"""
    )


def test_json_round_trips_through_the_plan() -> None:
    plan = make_plan(pool_replace(), queue_drift(), flow_noop(), environment="prod")
    assert Plan.from_dict(json.loads(render_plan_json(plan))) == plan


def test_json_is_masked() -> None:
    from prefect_gitops.plans.build import Action
    from tests.render.factories import change

    rc = change("variable.token", Action.CREATE, after={"name": "token", "value": "v-1234567"})
    doc = json.loads(render_plan_json(make_plan(rc)))
    assert doc["resource_changes"][0]["after"] == {"name": "token", "value": MASK}


HOSTILE = "a\u2028::error::x\u2029b\x85c\x9b2Jd\u202eevil\x7f"


def test_json_escapes_what_json_leaves_raw() -> None:
    """U+2028/2029, C1 controls (NEL, 8-bit CSI), DEL and bidi overrides are not escaped by
    `json.dumps(ensure_ascii=False)`: printed raw, they split lines and rewrite terminals."""
    from prefect_gitops.plans.build import Action
    from tests.render.factories import change

    rc = change("variable.note", Action.CREATE, after={"name": "note", "value": HOSTILE})
    text = render_plan_json(make_plan(rc))
    assert all(ch not in text for ch in "\u2028\u2029\x85\x9b\u202e\x7f")
    assert not [ln for ln in text.splitlines() if ln.lstrip().startswith("::")]
    assert json.loads(text)["resource_changes"][0]["after"]["value"] == HOSTILE
