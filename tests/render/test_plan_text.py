from __future__ import annotations

from prefect_gitops.plans.build import Action, Reason
from prefect_gitops.render.plan_text import render_plan_text
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
    assert render_plan_text(make_plan(flow_noop())) == (
        "No changes. Live state matches the repository.\n"
    )


def test_no_changes_names_the_environment() -> None:
    assert render_plan_text(make_plan(flow_noop(), environment="prod")) == (
        "Environment: prod\n\nNo changes. Live state matches the repository.\n"
    )


def test_update_shows_nested_changes_structurally() -> None:
    assert (
        render_plan_text(make_plan(pool_update(), flow_noop()))
        == """\
Resource actions are indicated with the following symbols:
  ~ update in-place

prefect-gitops will perform the following actions:

  # work_pool.above-ground will be updated in-place
  ~ work_pool "above-ground" {
      ~ base_job_template {
          - job_configuration.stream_output = "{{ stream_output }}"
          ~ variables.properties.image.default = "python:3.11" -> "python:3.12"
        }
      ~ concurrency_limit = 4 -> 8
    }

Plan: 0 to add, 1 to change, 0 to destroy.
"""
    )


def test_create_lists_fields_and_skips_nulls() -> None:
    assert (
        render_plan_text(make_plan(deployment_create()))
        == """\
Resource actions are indicated with the following symbols:
  + create

prefect-gitops will perform the following actions:

  # deployment.etl/daily will be created
  + deployment "etl/daily" {
      + entrypoint    = "flows/etl.py:etl"
      + flow_name     = "etl"
      + job_variables = {"env": {"LOG_LEVEL": "INFO"}, "image": "repo/etl:1.2.3"}
      + name          = "daily"
      + parameters    = {"day": 1}
      + schedules {
          + [daily].active   = true
          + [daily].schedule = {"cron": "0 9 * * *", "timezone": "UTC"}
          + [daily].slug     = "daily"
        }
      + tags          = ["etl", "prod"]
    }

Plan: 1 to add, 0 to change, 0 to destroy.
"""
    )


def test_delete_says_why() -> None:
    assert (
        render_plan_text(make_plan(deployment_delete()))
        == """\
Resource actions are indicated with the following symbols:
  - destroy

prefect-gitops will perform the following actions:

  # deployment.etl/old will be destroyed
  # (not in the repository; owned by this project)
  - deployment "etl/old" {
      - entrypoint = "flows/etl.py:etl"
      - flow_name  = "etl"
      - name       = "old"
      - tags       = []
    }

Plan: 0 to add, 0 to change, 1 to destroy.
"""
    )


def test_replace_names_the_immutable_field_and_the_notes() -> None:
    assert (
        render_plan_text(make_plan(pool_replace()))
        == """\
Resource actions are indicated with the following symbols:
-/+ destroy and then create replacement

prefect-gitops will perform the following actions:

  # work_pool.gpu must be replaced
  # (because pool type is immutable)
  # (replacing detaches 3 deployments)
-/+ work_pool "gpu" {
      ~ type = "process" -> "docker"  # forces replacement
    }

Plan: 1 to add, 0 to change, 1 to destroy.
"""
    )


def test_drift_is_marked() -> None:
    assert (
        render_plan_text(make_plan(queue_drift()))
        == """\
Resource actions are indicated with the following symbols:
  ~ update in-place

prefect-gitops will perform the following actions:

  # work_queue.above-ground/critical will be updated in-place
  # (changed outside git)
  ~ work_queue "above-ground/critical" {
      ~ priority = 3 -> 1
    }

Plan: 0 to add, 1 to change, 0 to destroy.
"""
    )


def test_legend_lists_only_present_actions_in_fixed_order() -> None:
    plan = make_plan(queue_drift(), deployment_create(), pool_replace(), deployment_delete())
    text = render_plan_text(plan)
    assert text.startswith("""\
Resource actions are indicated with the following symbols:
  + create
  ~ update in-place
  - destroy
-/+ destroy and then create replacement

""")
    assert text.endswith("Plan: 2 to add, 1 to change, 2 to destroy.\n")


def test_color_marks_symbols_and_headlines() -> None:
    assert render_plan_text(make_plan(pool_replace(), queue_drift()), use_color=True) == (
        "Resource actions are indicated with the following symbols:\n"
        "  \x1b[33m~\x1b[0m update in-place\n"
        "\x1b[31m-\x1b[0m/\x1b[32m+\x1b[0m destroy and then create replacement\n"
        "\n"
        "prefect-gitops will perform the following actions:\n"
        "\n"
        "  \x1b[1m# work_pool.gpu must be replaced\x1b[0m\n"
        "  # (because pool type is immutable)\n"
        "  # (replacing detaches 3 deployments)\n"
        '\x1b[31m-\x1b[0m/\x1b[32m+\x1b[0m work_pool "gpu" {\n'
        '      \x1b[33m~\x1b[0m type = "process" -> "docker"  # forces replacement\n'
        "    }\n"
        "\n"
        "  \x1b[1m# work_queue.above-ground/critical will be updated in-place\x1b[0m\n"
        "  # (changed outside git)\n"
        '  \x1b[33m~\x1b[0m work_queue "above-ground/critical" {\n'
        "      \x1b[33m~\x1b[0m priority = 3 -> 1\n"
        "    }\n"
        "\n"
        "\x1b[1mPlan: 1 to add, 1 to change, 1 to destroy.\x1b[0m\n"
    )


def test_no_color_by_default() -> None:
    assert "\x1b[" not in render_plan_text(make_plan(pool_replace(), deployment_create()))


def test_long_strings_are_cut_around_the_difference() -> None:
    command = "python -m flows.etl " + "--option value " * 8
    rc = change(
        "deployment.etl/cmd",
        Action.UPDATE,
        before={},
        after={},
        fields=(("description", command + "--final 1", command + "--final 2", "changed"),),
        reason=Reason.CHANGED,
    )
    assert render_plan_text(make_plan(rc)).splitlines()[6:9] == [
        '  ~ deployment "etl/cmd" {',
        '      ~ description = "…ption value --final 1" -> "…ption value --final 2"',
        "    }",
    ]


def test_big_added_subtree_is_summarised_not_dumped() -> None:
    big = {f"VAR_{i}": f"value-{i}" for i in range(30)}
    rc = change(
        "work_pool.above-ground",
        Action.UPDATE,
        before={},
        after={},
        fields=(("base_job_template.job_configuration.env", None, big, "added"),),
        reason=Reason.CHANGED,
    )
    assert render_plan_text(make_plan(rc)).splitlines()[6:9] == [
        '  ~ work_pool "above-ground" {',
        "      + base_job_template.job_configuration.env = {…} (30 keys)",
        "    }",
    ]


def test_whole_template_change_shows_only_changed_leaves() -> None:
    from tests.render.factories import PROCESS_TEMPLATE

    after = {
        **PROCESS_TEMPLATE,
        "variables": {
            **PROCESS_TEMPLATE["variables"],
            "properties": {
                **PROCESS_TEMPLATE["variables"]["properties"],
                "image": {"type": "string", "title": "Image", "default": "python:3.12"},
            },
        },
    }
    rc = change(
        "work_pool.above-ground",
        Action.UPDATE,
        before={},
        after={},
        fields=(("base_job_template", PROCESS_TEMPLATE, after, "changed"),),
        reason=Reason.CHANGED,
    )
    assert render_plan_text(make_plan(rc)).splitlines()[6:9] == [
        '  ~ work_pool "above-ground" {',
        '      ~ base_job_template.variables.properties.image.default = "python:3.11" -> "python:3.12"',
        "    }",
    ]


def test_many_changed_leaves_are_capped() -> None:
    before = {f"K{i:02}": i for i in range(25)}
    after = {f"K{i:02}": i + 1 for i in range(25)}
    rc = change(
        "work_pool.above-ground",
        Action.UPDATE,
        before={},
        after={},
        fields=(("base_job_template.job_configuration.env", before, after, "changed"),),
        reason=Reason.CHANGED,
    )
    lines = render_plan_text(make_plan(rc)).splitlines()
    assert lines[7:9] == [
        "      ~ base_job_template {",
        "          ~ job_configuration.env.K00 = 0 -> 1",
    ]
    assert lines[27:30] == [
        "          ~ job_configuration.env.K19 = 19 -> 20",
        "            # (5 more changes not shown)",
        "        }",
    ]


def test_changed_secret_is_shown_as_changed_without_values() -> None:
    rc = change(
        "variable.db_password",
        Action.UPDATE,
        before={"name": "db_password", "value": "old-pw"},
        after={"name": "db_password", "value": "new-pw"},
        fields=(("value", "old-pw", "new-pw", "changed"),),
        reason=Reason.CHANGED,
    )
    assert render_plan_text(make_plan(rc)).splitlines()[5:9] == [
        "  # variable.db_password will be updated in-place",
        '  ~ variable "db_password" {',
        "      ~ value = (sensitive value)",
        "    }",
    ]


def test_user_text_cannot_start_a_line_or_send_escapes() -> None:
    out = render_plan_text(make_plan(injected_update(), environment=f"prod{INJECTED}"))
    assert command_lines(out) == []
    assert "\x1b" not in out and "\r" not in out and "\u2028" not in out
    escaped = "x\\n::add-mask::leak\\r\\n::error title=pwned::owned\\x1b[2J\\u2028"
    as_json = escaped.replace("\\x1b", "\\u001b")  # values print as JSON strings
    assert out == (
        f"Environment: prod{escaped}\n"
        "\n"
        "Resource actions are indicated with the following symbols:\n"
        "  ~ update in-place\n"
        "\n"
        "prefect-gitops will perform the following actions:\n"
        "\n"
        f"  # deployment.etl/daily{escaped} will be updated in-place\n"
        f"  # (note{escaped})\n"
        f'  ~ deployment "etl/daily{escaped}" {{\n'
        f'      + job_variables.env.K{escaped} = "v{as_json}"\n'
        "    }\n"
        "\n"
        "Plan: 0 to add, 1 to change, 0 to destroy.\n"
    )
