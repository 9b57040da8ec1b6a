from __future__ import annotations

from prefect_gitops.plan import Action, Reason
from prefect_gitops.render.plan_json import plan_document
from prefect_gitops.render.plan_markdown import (
    MARKER,
    render_document_markdown,
    render_plan_markdown,
)

from .factories import (
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

<details><summary>1 unchanged resource</summary>

- <code>flow.etl</code>

</details>

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

<details><summary>1 unchanged resource</summary>

- <code>flow.etl</code>

</details>

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


def test_diffs_beyond_the_size_budget_are_left_out() -> None:
    doc = plan_document(make_plan(pool_update(), queue_drift()))
    text = render_document_markdown(doc, diff_budget=300)
    assert "variables.properties.image.default" in text
    assert "priority = 3 -> 1" not in text
    assert "_Diff left out to keep this comment within GitHub's size limit" in text


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
