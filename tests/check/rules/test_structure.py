from __future__ import annotations

from pathlib import Path

import pytest

from prefect_gitops.check.options import ValidateOptions
from prefect_gitops.check.rules import structure
from prefect_gitops.repo.diagnostics import Diagnostic
from prefect_gitops.repo.loader import load_project


def write(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root


def check(root: Path, files: dict[str, str]) -> list[Diagnostic]:
    write(root, files)
    project, load_diags = load_project(root)
    assert [d for d in load_diags if d.code.startswith("Y")] == []
    return sorted(structure.check(project, ValidateOptions()), key=lambda d: d.sort_key)


def summary(diags: list[Diagnostic]) -> list[tuple[str, str, int, str]]:
    return [(d.severity.value, d.code, d.span.line, d.path) for d in diags]


def one(diags: list[Diagnostic], code: str) -> Diagnostic:
    found = [d for d in diags if d.code == code]
    assert len(found) == 1, summary(diags)
    return found[0]


def test_a_clean_file_has_no_findings(tmp_path: Path) -> None:
    text = """\
prefect-version: 3.9.1
name: demo
definitions:
  pool: &pool
    name: local
    job_variables: {env: {A: "1"}}
build: null
push: null
pull:
  - prefect.deployments.steps.set_working_directory:
      directory: /opt/app
deployments:
  - name: etl
    version: "1.0"
    tags: [a]
    description: ETL
    entrypoint: flows/etl.py:etl
    parameters: {x: 1}
    enforce_parameter_schema: true
    paused: false
    concurrency_limit: {limit: 2, collision_strategy: ENQUEUE, grace_period_seconds: 60}
    schedules:
      - cron: "0 * * * *"
        timezone: UTC
        day_or: true
        active: true
        parameters: {x: 2}
        slug: hourly
      - interval: 3600
        anchor_date: "2024-01-01T00:00:00Z"
      - rrule: FREQ=DAILY
      - schedule: {cron: "0 0 * * *", timezone: UTC}
        active: false
        max_scheduled_runs: 3
    work_pool:
      <<: *pool
      work_queue_name: default
    pull: []
    triggers: []
    flow_name: etl
    version_type: simple
"""
    assert check(tmp_path, {"prefect.yaml": text}) == []


# -- unknown keys (warnings, with suggestions) ------------------------------------------------


def test_unknown_top_level_key_suggests(tmp_path: Path) -> None:
    diags = check(tmp_path, {"prefect.yaml": "deploymentz:\n  - name: x\n"})
    d = one(diags, "S001")
    assert (d.severity.value, d.span.line, d.span.column, d.path) == (
        "warning",
        1,
        1,
        "deploymentz",
    )
    assert d.message == "prefect.yaml: unknown top-level key 'deploymentz' (Prefect ignores it)"
    assert d.hint == "did you mean 'deployments'?"
    # nothing else to apply: `prefect deploy --all` fails, and so does validate
    assert one(diags, "S012").severity.value == "error"


def test_top_level_key_that_only_holds_anchors_is_fine(tmp_path: Path) -> None:
    text = (
        "x-defaults: &d {name: local}\n"
        "other: 1\n"
        "deployments:\n  - name: a\n    entrypoint: a.py:f\n    work_pool: *d\n"
    )
    diags = check(tmp_path, {"prefect.yaml": text})
    assert summary(diags) == [("warning", "S001", 2, "other")]
    assert diags[0].hint == "to keep YAML anchors for reuse, put them under `definitions:`"


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("entry_point", "did you mean 'entrypoint'?"),
        ("schedulez", "did you mean 'schedule'?"),
        ("Tags", "did you mean 'tags'?"),
        ("enforce-parameter-schema", "did you mean 'enforce_parameter_schema'?"),
        ("owner", None),
    ],
)
def test_unknown_deployment_key(tmp_path: Path, key: str, hint: str | None) -> None:
    text = f"deployments:\n  - name: etl\n    entrypoint: a.py:f\n    {key}: 1\n"
    d = one(check(tmp_path, {"prefect.yaml": text}), "S001")
    assert (d.severity.value, d.span.line, d.span.column) == ("warning", 4, 5)
    assert d.path == f"deployments[0].{key}"
    assert d.message == f"deployment 'etl': unknown key '{key}' (Prefect ignores it)"
    assert d.hint == hint
    assert d.resource == "deployment/etl"


def test_unknown_key_in_work_pool(tmp_path: Path) -> None:
    text = "deployments:\n  - name: etl\n    work_pool:\n      name: p\n      work_queue: q\n"
    d = one(check(tmp_path, {"prefect.yaml": text}), "S001")
    assert (d.severity.value, d.span.line, d.path) == (
        "warning",
        5,
        "deployments[0].work_pool.work_queue",
    )
    assert d.hint == "did you mean 'work_queue_name'?"


def test_unknown_key_in_concurrency_limit(tmp_path: Path) -> None:
    text = (
        "deployments:\n  - name: etl\n    concurrency_limit:\n      limit: 1\n"
        "      colision_strategy: CANCEL_NEW\n"
    )
    d = one(check(tmp_path, {"prefect.yaml": text}), "S001")
    assert (d.severity.value, d.span.line, d.path) == (
        "warning",
        5,
        "deployments[0].concurrency_limit.colision_strategy",
    )
    assert d.hint == "did you mean 'collision_strategy'?"


def test_unknown_key_in_a_schedule_is_an_error_because_prefect_refuses_the_file(
    tmp_path: Path,
) -> None:
    text = (
        "deployments:\n  - name: etl\n    schedules:\n      - cron: '0 * * * *'\n"
        "        timezon: UTC\n      - schedule: {cron: '0 0 * * *', tz: UTC}\n"
    )
    diags = check(tmp_path, {"prefect.yaml": text})
    assert summary(diags) == [
        ("error", "S001", 5, "deployments[0].schedules[0].timezon"),
        ("error", "S001", 6, "deployments[0].schedules[1].schedule.tz"),
    ]
    assert diags[0].hint == "did you mean 'timezone'?"
    assert "Prefect refuses the whole file" in diags[0].message


# -- Prefect 2 forms (S004) -------------------------------------------------------------------


def test_prefect2_step_names(tmp_path: Path) -> None:
    text = """\
pull:
  - prefect.projects.steps.git_clone_project:
      repository: https://example.com/repo.git
deployments:
  - name: etl
    build:
      - prefect.projects.steps.run_shell_script:
          script: echo hi
"""
    diags = check(tmp_path, {"prefect.yaml": text})
    assert summary(diags) == [
        ("error", "S004", 2, "pull[0]['prefect.projects.steps.git_clone_project']"),
        (
            "error",
            "S004",
            7,
            "deployments[0].build[0]['prefect.projects.steps.run_shell_script']",
        ),
    ]
    assert "every run as a pull step" in diags[0].message
    assert diags[0].hint == "use 'prefect.deployments.steps.git_clone'"
    assert diags[1].hint == "use 'prefect.deployments.steps.run_shell_script'"
    assert diags[1].resource == "deployment/etl"


def test_single_step_mapping_is_checked_too(tmp_path: Path) -> None:
    text = (
        "pull:\n  prefect.projects.steps.set_working_directory:\n    directory: /x\n"
        "deployments:\n  - name: a\n"
    )
    diags = check(tmp_path, {"prefect.yaml": text})
    assert summary(diags) == [
        ("error", "S004", 2, "pull['prefect.projects.steps.set_working_directory']")
    ]


def test_is_schedule_active(tmp_path: Path) -> None:
    text = (
        "deployments:\n  - name: etl\n    is_schedule_active: false\n"
        "    schedules:\n      - cron: '0 * * * *'\n        is_schedule_active: false\n"
    )
    diags = check(tmp_path, {"prefect.yaml": text})
    assert summary(diags) == [
        ("warning", "S004", 3, "deployments[0].is_schedule_active"),
        ("error", "S004", 6, "deployments[0].schedules[0].is_schedule_active"),
    ]
    assert "`paused: true`" in (diags[0].hint or "")
    assert diags[1].hint == "use `active: false` on the schedule"


def test_top_level_single_deployment_layout(tmp_path: Path) -> None:
    text = """\
name: flows
description: nightly
entrypoint: flows/etl.py:etl
work_pool:
  name: local
schedule:
  cron: "0 0 * * *"
"""
    diags = check(tmp_path, {"prefect.yaml": text})
    d = one(diags, "S004")
    assert (d.severity.value, d.span.line, d.path) == ("warning", 2, "description")
    assert d.message == (
        "prefect.yaml: top-level `description`, `entrypoint`, `work_pool`, `schedule` belong to "
        "a deployment: this is the Prefect 2 single-deployment layout, which Prefect 3 ignores"
    )
    assert "deployments:" in (d.hint or "")
    # the layout warning replaces per-key unknown-key warnings; Prefect 3 deploys nothing
    # from it (`prefect deploy --all` fails), and the repository declares nothing else
    assert summary(diags) == [("error", "S012", 1, ""), ("warning", "S004", 2, "description")]
    pool = "name: local\ntype: process\n"
    diags = check(tmp_path, {"prefect.yaml": text, "work-pools/local.yaml": pool})
    assert summary(diags) == [("warning", "S004", 2, "description")]


def test_top_level_version_alone_is_just_an_unknown_key(tmp_path: Path) -> None:
    diags = check(tmp_path, {"prefect.yaml": "version: 1.0\ndeployments:\n  - name: a\n"})
    assert summary(diags) == [("warning", "S001", 1, "version")]
    assert diags[0].hint == "`version` is a deployment key: move it into an item of `deployments:`"


def test_empty_schedule_mapping(tmp_path: Path) -> None:
    text = "deployments:\n  - name: etl\n    schedule: {}\n"
    d = one(check(tmp_path, {"prefect.yaml": text}), "S004")
    assert (d.severity.value, d.span.line, d.path) == ("warning", 3, "deployments[0].schedule")
    assert "does nothing in Prefect 3" in d.message


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("infrastructure", "work_pool.job_variables"),
        ("storage", "prefect.deployments.steps.git_clone"),
        ("path", "set_working_directory"),
    ],
)
def test_prefect2_deployment_keys(tmp_path: Path, key: str, hint: str) -> None:
    text = f"deployments:\n  - name: etl\n    {key}: something\n"
    d = one(check(tmp_path, {"prefect.yaml": text}), "S004")
    assert (d.severity.value, d.span.line, d.path) == ("warning", 3, f"deployments[0].{key}")
    assert (
        d.message
        == f"deployment 'etl': `{key}` is a Prefect 2 deployment key that Prefect 3 ignores"
    )
    assert hint in (d.hint or "")


# -- misplaced keys (S003, errors) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "target"),
    [
        ("job_variables", "work_pool.job_variables"),
        ("work_queue_name", "work_pool.work_queue_name"),
        ("work_pool_name", "work_pool.name"),
        ("infra_overrides", "work_pool.job_variables"),
    ],
)
def test_keys_beside_work_pool(tmp_path: Path, key: str, target: str) -> None:
    text = f"deployments:\n  - name: etl\n    work_pool:\n      name: p\n    {key}: {{}}\n"
    d = one(check(tmp_path, {"prefect.yaml": text}), "S003")
    assert (d.severity.value, d.span.line, d.span.column) == ("warning", 5, 5)
    assert d.path == f"deployments[0].{key}"
    assert d.message == (
        f"deployment 'etl': `{key}` is at the deployment level beside `work_pool`; Prefect "
        f"reads it only as `{target}`, so `prefect deploy` drops it here and runs do not get it"
    )
    assert d.hint == f"move it to `{target}`"


def test_job_variables_directly_under_work_pool(tmp_path: Path) -> None:
    text = (
        "deployments:\n  - name: etl\n    work_pool:\n      name: gpu\n"
        "      image: python:3.12\n      gpu_count: 1\n      flavour: x\n"
    )
    pool = """\
name: gpu
type: custom
base_job_template:
  job_configuration: {}
  variables:
    type: object
    properties:
      gpu_count: {type: integer}
"""
    diags = check(tmp_path, {"prefect.yaml": text, "work-pools/gpu.yaml": pool})
    assert summary(diags) == [
        ("warning", "S003", 5, "deployments[0].work_pool.image"),
        ("warning", "S003", 6, "deployments[0].work_pool.gpu_count"),
        ("warning", "S001", 7, "deployments[0].work_pool.flavour"),
    ]
    assert diags[0].message == (
        "deployment 'etl': job variable `image` is directly under `work_pool`; Prefect reads "
        "job variables only from `work_pool.job_variables`, so `prefect deploy` drops it and runs do not get it"
    )


def test_job_variable_at_the_deployment_level(tmp_path: Path) -> None:
    text = "deployments:\n  - name: etl\n    env: {A: '1'}\n"
    d = one(check(tmp_path, {"prefect.yaml": text}), "S003")
    assert (d.severity.value, d.span.line, d.path) == ("warning", 3, "deployments[0].env")
    assert "at the deployment level" in d.message


def test_step_inputs_at_the_wrong_indentation(tmp_path: Path) -> None:
    text = """\
pull:
  - prefect.deployments.steps.git_clone:
    repository: https://example.com/r.git
    branch: main
deployments:
  - name: a
"""
    d = one(check(tmp_path, {"prefect.yaml": text}), "S003")
    assert (d.severity.value, d.span.line, d.path) == ("error", 3, "pull[0].repository")
    assert d.message == (
        "prefect.yaml: step 'prefect.deployments.steps.git_clone' has `repository`, `branch` "
        "beside it; Prefect refuses a step with more than one key"
    )


def test_schedule_and_schedules_together(tmp_path: Path) -> None:
    text = "deployments:\n  - name: etl\n    schedule: {cron: '0 * * * *'}\n    schedules: []\n"
    d = one(check(tmp_path, {"prefect.yaml": text}), "S014")
    assert (d.severity.value, d.span.line, d.path) == ("error", 3, "deployments[0].schedule")


# -- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name_line", ["", "    name:\n", "    name: ''\n"])
def test_deployment_without_name(tmp_path: Path, name_line: str) -> None:
    text = "deployments:\n  - entrypoint: a.py:f\n" + name_line
    d = one(check(tmp_path, {"prefect.yaml": text}), "S009")
    assert d.severity.value == "error"
    assert d.path == "deployments[0].name"
    assert d.message == "deployments[0] has no `name`; `prefect deploy` needs one to create it"
    assert d.span.line == (3 if name_line else 2)
    assert d.resource == "deployment/[0]"


@pytest.mark.parametrize("name", ["etl/daily", "100%", "a&b", "a>b", "<a"])
def test_deployment_name_with_banned_characters(tmp_path: Path, name: str) -> None:
    text = f"deployments:\n  - name: '{name}'\n"
    d = one(check(tmp_path, {"prefect.yaml": text}), "S013")
    assert (d.severity.value, d.span.line, d.span.column) == ("error", 2, 11)
    assert d.path == "deployments[0].name"


@pytest.mark.parametrize(
    ("escaped", "shown"), [("a\\0b", "\\x00"), ("a\\x1b[2Jb", "\\x1b"), ("tab\\tbed", "\\t")]
)
def test_deployment_name_with_a_control_character(tmp_path: Path, escaped: str, shown: str) -> None:
    # `prefect deploy` reads the deployment by name first, and httpx refuses a non-printable
    # ASCII character in that URL (InvalidURL): the deploy fails, so this is an error.
    text = f'deployments:\n  - name: "{escaped}"\n'
    d = one(check(tmp_path, {"prefect.yaml": text}), "S013")
    assert (d.severity.value, d.span.line, d.path) == ("error", 2, "deployments[0].name")
    assert d.message.endswith(f"the name contains {shown}, which Prefect rejects")


def test_unicode_names_are_not_control_characters(tmp_path: Path) -> None:
    text = 'deployments:\n  - name: "caf\\u00e9 \\u202e\\u200b \\u0085"\n'
    assert not [d for d in check(tmp_path, {"prefect.yaml": text}) if d.code == "S013"]


def test_duplicate_deployments_in_one_file(tmp_path: Path) -> None:
    text = (
        "deployments:\n"
        "  - name: etl\n    entrypoint: flows/a.py:f\n"
        "  - name: etl\n    entrypoint: ./flows/a.py:f\n"
        "  - name: etl\n    entrypoint: flows/b.py:f\n"
    )
    diags = check(tmp_path, {"prefect.yaml": text})
    assert summary(diags) == [("error", "S005", 4, "deployments[1].name")]
    assert diags[0].message == (
        "deployment 'etl' is defined twice with the same entrypoint (first at prefect.yaml:2); "
        "Prefect would keep only the last one"
    )


def test_duplicate_deployments_across_files(tmp_path: Path) -> None:
    files = {
        "prefect-gitops.yaml": "prefect_files: ['*/prefect.yaml', prefect.yaml]\n",
        "prefect.yaml": "deployments:\n  - name: etl\n    entrypoint: team/flows/a.py:f\n",
        "team/prefect.yaml": "deployments:\n  - name: etl\n    entrypoint: flows/a.py:f\n",
        "other/prefect.yaml": "deployments:\n  - name: etl\n    entrypoint: flows/a.py:f\n",
    }
    diags = check(tmp_path, files)
    assert [(d.code, d.span.file, d.span.line) for d in diags] == [("S005", "prefect.yaml", 2)]
    assert "(first at team/prefect.yaml:2)" in diags[0].message


def test_pool_names(tmp_path: Path) -> None:
    files = {
        "prefect.yaml": "deployments:\n  - name: a\n",
        "work-pools/a.yaml": "name: shared\ntype: process\n",
        "work-pools/b.yaml": (
            "type: process\nname: shared\nqueues:\n  - name: q\n  - name: r\n  - name: q\n"
        ),
        "work-pools/c.yaml": "name: Prefect-internal\ntype: process\n",
    }
    diags = check(tmp_path, files)
    assert [(d.code, d.span.file, d.span.line, d.path) for d in diags] == [
        ("S006", "work-pools/b.yaml", 2, "name"),
        ("S007", "work-pools/b.yaml", 6, "queues[2].name"),
        ("S008", "work-pools/c.yaml", 1, "name"),
    ]
    assert (
        diags[0].message == "work pool 'shared' is defined twice: in work-pools/a.yaml:1 and here"
    )
    assert diags[1].message == "work pool 'shared': queue 'q' is defined twice (first at line 4)"
    assert diags[2].message == (
        "work pool 'Prefect-internal': names starting with 'prefect' are reserved by the "
        "Prefect server"
    )
    assert {d.resource for d in diags} == {"work_pool/shared", "work_pool/Prefect-internal"}


# -- not Prefect configuration at all ---------------------------------------------------------


def test_docker_compose_file_gets_one_clear_error(tmp_path: Path) -> None:
    text = "version: '3'\nservices:\n  server:\n    image: prefecthq/prefect:3-latest\n"
    diags = check(tmp_path, {"prefect.yaml": text})
    assert summary(diags) == [("error", "Y009", 1, "")]
    assert diags[0].message == (
        "prefect.yaml is not a Prefect configuration: it has none of the keys `deployments`, "
        "`build`, `push`, `pull`"
    )
    assert "docker-compose" in (diags[0].hint or "")


def test_empty_deployments_list(tmp_path: Path) -> None:
    diags = check(tmp_path, {"prefect.yaml": "name: x\ndeployments: []\n"})
    # `prefect deploy --all` with no deployments falls back to one deploy with no entrypoint.
    assert summary(diags) == [("error", "S012", 2, "deployments")]
    assert "An entrypoint must be provided" in diags[0].message
    assert diags[0].message.endswith("the repository declares nothing else to apply")


@pytest.mark.parametrize(
    "more",
    [
        {"work-pools/local.yaml": "name: local\ntype: process\n"},
        {"prefect-gitops.yaml": "variables:\n  - name: region\n    value: eu\n"},
        {"prefect-gitops.yaml": "concurrency_limits:\n  - name: db\n    limit: 2\n"},
    ],
)
def test_no_deployments_is_a_warning_where_the_repository_declares_more(
    tmp_path: Path, more: dict[str, str]
) -> None:
    diags = check(tmp_path, {"prefect.yaml": "name: x\ndeployments: []\n", **more})
    assert summary(diags) == [("warning", "S012", 2, "deployments")]
    assert diags[0].message.endswith("prefect-gitops applies the rest of the repository")
