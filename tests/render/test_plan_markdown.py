from __future__ import annotations

import re

from prefect_gitops.plans.build import Action, Reason, ResourceChange
from prefect_gitops.render.plan_json import plan_document
from prefect_gitops.render.plan_markdown import (
    COMMENT_BUDGET,
    MARKER,
    _render,
    render_document_markdown,
    render_plan_markdown,
)
from prefect_gitops.render.plan_text import changed_resources
from tests.render.factories import (
    INJECTED,
    change,
    command_lines,
    deployment_create,
    deployment_delete,
    flow_noop,
    injected_update,
    make_plan,
    pool_replace,
    pool_update,
    queue_drift,
)


def test_no_changes() -> None:
    assert (
        render_plan_markdown(make_plan(flow_noop()))
        == """\
<!-- prefect-gitops-plan -->
### Prefect GitOps plan

**No changes. Live state matches the repository.**

1 unchanged resource.

<sub>prefect-gitops 0.1.0</sub>
"""
    )


def test_updates_with_environment_drift_and_unchanged_count() -> None:
    plan = make_plan(pool_update(), queue_drift(), flow_noop(), environment="prod")
    assert (
        render_plan_markdown(plan)
        == """\
<!-- prefect-gitops-plan -->
### Prefect GitOps plan

Environment: <code>prod</code>

**Plan: 0 to add, 2 to change, 0 to destroy.**

<details><summary><code>work_pool.above-ground</code> will be updated in-place</summary>

```diff
! work_pool "above-ground" {
!     base_job_template {
-         job_configuration.stream_output = "{{ stream_output }}"
!         variables.properties.image.default = "python:3.11" -> "python:3.12"
      }
!     concurrency_limit = 4 -> 8
  }
```

</details>

<details><summary><code>work_queue.above-ground/critical</code> will be updated in-place · changed outside git</summary>

```diff
# (changed outside git)
! work_queue "above-ground/critical" {
!     priority = 3 -> 1
  }
```

</details>

1 unchanged resource.

<sub>prefect-gitops 0.1.0</sub>
"""
    )


def test_create_replace_and_delete() -> None:
    plan = make_plan(pool_replace(), deployment_create(), deployment_delete())
    assert (
        render_plan_markdown(plan)
        == """\
<!-- prefect-gitops-plan -->
### Prefect GitOps plan

**Plan: 2 to add, 0 to change, 2 to destroy.**

<details><summary><code>work_pool.gpu</code> must be replaced</summary>

```diff
# (because pool type is immutable)
# (replacing detaches 3 deployments)
! work_pool "gpu" {
!     type = "process" -> "docker"  # forces replacement
  }
```

</details>

<details><summary><code>deployment.etl/daily</code> will be created</summary>

```diff
+ deployment "etl/daily" {
+     entrypoint    = "flows/etl.py:etl"
+     flow_name     = "etl"
+     job_variables = {"env": {"LOG_LEVEL": "INFO"}, "image": "repo/etl:1.2.3"}
+     name          = "daily"
+     parameters    = {"day": 1}
+     schedules {
+         [daily].active   = true
+         [daily].schedule = {"cron": "0 9 * * *", "timezone": "UTC"}
+         [daily].slug     = "daily"
      }
+     tags          = ["etl", "prod"]
  }
```

</details>

<details><summary><code>deployment.etl/old</code> will be destroyed</summary>

```diff
# (not in the repository; owned by this project)
- deployment "etl/old" {
-     entrypoint = "flows/etl.py:etl"
-     flow_name  = "etl"
-     name       = "old"
-     tags       = []
  }
```

</details>

<sub>prefect-gitops 0.1.0</sub>
"""
    )


def test_html_in_names_is_escaped_and_backticks_get_a_longer_fence() -> None:
    rc = change(
        "deployment.etl/<b>x</b>",
        Action.UPDATE,
        before={},
        after={},
        fields=(("description", "use ```code```", "plain", "changed"),),
        reason=Reason.CHANGED,
    )
    text = render_plan_markdown(make_plan(rc))
    assert "<summary><code>deployment.etl/&lt;b&gt;x&lt;/b&gt;</code> will be" in text
    assert '\n````diff\n! deployment "etl/<b>x</b>" {\n' in text
    assert '\n!     description = "use ```code```" -> "plain"\n  }\n````\n' in text


def _deployments(count: int, action: Action = Action.CREATE) -> list[ResourceChange]:
    """`count` deployments shaped like a real repository's, each with a full diff."""
    changes = []
    for i in range(count):
        state = {
            "name": f"nightly-{i:04d}",
            "flow_name": f"ingest_source_{i:04d}",
            "entrypoint": f"flows/ingest/source_{i:04d}.py:ingest_source_{i:04d}",
            "description": f"Loads source {i} into the warehouse every night.",
            "tags": ["ingest", "prod", f"team-{i % 7}"],
            "parameters": {"source": f"s3://landing/source-{i:04d}/", "full_refresh": False},
            "job_variables": {"env": {"LOG_LEVEL": "INFO"}, "image": "repo/ingest:2.4.1"},
            "work_pool_name": "k8s-analytics",
            "schedules": [
                {"slug": "nightly", "active": True, "schedule": {"cron": f"{i % 60} 2 * * *"}}
            ],
        }
        address = f"deployment.ingest_source_{i:04d}/nightly-{i:04d}"
        if action is Action.CREATE:
            changes.append(change(address, action, after=state, reason=Reason.NEW))
        else:
            changes.append(change(address, action, before=state, reason=Reason.NOT_IN_CONFIG))
    return changes


def _listed(text: str) -> set[str]:
    """The addresses the comment shows: in a diff section's summary or in a left-out list."""
    in_sections = set(re.findall(r"<details><summary><code>(.*?)</code>", text))
    in_lists = {
        line
        for block in re.findall(r"\n```text\n(.*?)\n```", text, re.DOTALL)
        for line in block.splitlines()
    }
    return in_sections | in_lists


def test_a_thousand_deployments_fit_in_one_comment_with_every_address() -> None:
    changes = _deployments(1000)
    unbounded = render_document_markdown(plan_document(make_plan(*changes)), budget=10**9)
    assert len(unbounded) > 200_000  # without a budget this plan would never post
    text = render_plan_markdown(make_plan(*changes, *(flow_noop() for _ in range(3))))
    assert len(text) <= COMMENT_BUDGET < 65_536
    assert _listed(text) == {rc.address for rc in changes}
    shown = text.count("```diff")
    assert 0 < shown < 1000
    assert (
        f"**The details of {1000 - shown} changes are left out to keep this comment within "
        "GitHub's size limit.** The full plan is in this run's job summary and in its "
        "`prefect-gitops-plan-*` artifact." in text
    )
    assert f"\nWill be created ({1000 - shown}):\n```text\ndeployment.ingest_source_" in text
    assert "\n3 unchanged resources.\n" in text and "flow.etl" not in text


def test_the_budget_is_a_renderer_argument_and_left_out_changes_are_grouped() -> None:
    changes = [pool_update(), *_deployments(3), *_deployments(2, Action.DELETE)]
    doc = plan_document(make_plan(*changes))
    full = render_document_markdown(doc, budget=10**9)
    assert "left out" not in full and full.count("```diff") == 6
    addresses_only = render_document_markdown(doc, budget=0)
    assert "```diff" not in addresses_only
    everything = {rc.address for rc in changes}
    for budget in (900, 2_000, 4_000, len(full) - 1):
        text = render_document_markdown(doc, budget=budget)
        assert len(text) <= budget
        assert "The details of" in text
        assert _listed(text) == everything or "more change" in text
    # Exactly the size with every address listed and no diff.
    listed = render_document_markdown(doc, budget=len(_render(doc, [], changed_resources(doc))))
    assert _listed(listed) == everything and "```diff" not in listed
    assert "\nWill be updated in-place (1):\n```text\nwork_pool.above-ground\n```\n" in listed
    assert "\nWill be destroyed (2):\n```text\ndeployment.ingest_source_0000/nightly-0000\n" in (
        listed
    )


def test_more_addresses_than_a_comment_holds_are_cut_with_a_count() -> None:
    changes = _deployments(5000)
    text = render_plan_markdown(make_plan(*changes))
    assert len(text) <= COMMENT_BUDGET
    shown = _listed(text)
    assert 1000 < len(shown) < 5000 and shown <= {rc.address for rc in changes}
    assert f"\n…and {5000 - len(shown)} more changes, listed only in the full plan.\n" in text
    assert "**Plan: 5000 to add, 0 to change, 0 to destroy.**" in text


def test_an_address_is_shown_as_it_is_in_the_list_and_cannot_break_out_of_it() -> None:
    name = "deployment.etl/<b>x</b>```\n::error::y"
    rc = change(name, Action.CREATE, after={"name": "x"}, reason=Reason.NEW)
    doc = plan_document(make_plan(rc))
    text = render_document_markdown(doc, budget=len(_render(doc, [], changed_resources(doc))))
    assert "\n````text\ndeployment.etl/<b>x</b>```\\n::error::y\n````\n" in text
    assert command_lines(text) == []


def test_a_diff_too_big_for_the_budget_does_not_hide_the_smaller_ones_after_it() -> None:
    big = change(
        "deployment.etl/big",
        Action.UPDATE,
        before={},
        after={},
        fields=tuple((f"parameters.p{i}", "x" * 50, "y" * 50, "changed") for i in range(100)),
        reason=Reason.CHANGED,
    )
    doc = plan_document(make_plan(big, queue_drift()))
    text = render_document_markdown(doc, budget=3_000)
    assert "priority = 3 -> 1" in text
    assert "\nWill be updated in-place (1):\n```text\ndeployment.etl/big\n```\n" in text
    assert "The details of 1 change are left out" in text


def test_marker_is_the_first_line() -> None:
    assert render_plan_markdown(make_plan(pool_update())).splitlines()[0] == MARKER


def test_user_text_cannot_start_a_line_of_the_comment() -> None:
    out = render_plan_markdown(make_plan(injected_update(), environment=f"prod{INJECTED}"))
    assert command_lines(out) == []
    assert "\x1b" not in out and "\r" not in out and "\u2028" not in out
    escaped = "x\\n::add-mask::leak\\r\\n::error title=pwned::owned\\x1b[2J\\u2028"
    assert f"Environment: <code>prod{escaped}</code>" in out
    assert f"<details><summary><code>deployment.etl/daily{escaped}</code>" in out
    assert f"# (note{escaped})\n" in out
    assert f"+     job_variables.env.K{escaped} = " in out
