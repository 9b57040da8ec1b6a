from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from prefect_gitops import templates
from prefect_gitops.desired import FlowFacts, analyze_flows, build_desired, project_name
from prefect_gitops.errors import ReconcilerError
from prefect_gitops.loader import load_project
from prefect_gitops.state import Address, Resource, State

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root


def fake_flows(entrypoint: str, base_dir: Path) -> FlowFacts | str:
    if "broken" in entrypoint:
        return f"{entrypoint}: no such function"
    return FlowFacts(
        name="etl",
        parameter_schema={"title": "Parameters", "type": "object", "properties": {}},
        description="Flow docstring." if "doc" in entrypoint else None,
        version="v-hash",
    )


def desired_of(root: Path, environ: dict[str, str] | None = None) -> State:
    project, diags = load_project(root)
    assert not diags.has_errors, [d.message for d in diags]
    return build_desired(project, environ=environ or {}, flow_lookup=fake_flows)


def one_deployment(state: State) -> Resource:
    (dep,) = state.of_type("deployment")
    return dep


def repo(
    tmp_path: Path, deployment: str, top: str = "", config: str = "", job_variables: str = ""
) -> Path:
    pool = "    work_pool:\n      name: local\n" + (
        f"      job_variables:\n{job_variables}" if job_variables else ""
    )
    files = {
        "prefect.yaml": top + "deployments:\n  - name: d\n" + pool + deployment,
        "work-pools/local.yaml": "name: local\ntype: process\n",
    }
    if config:
        files["prefect-gitops.yaml"] = config
    return write(tmp_path, files)


def test_quickstart_as_prefect_deploy_writes_it() -> None:
    root = EXAMPLES / "quickstart"
    project, _ = load_project(root)
    state = build_desired(project, environ={}, flow_lookup=analyze_flows(project))
    pool = state[Address.pool("local")]
    assert pool.spec["base_job_template"] == templates.default_template("process")
    assert pool.spec["concurrency_limit"] == 4
    assert state[Address.queue("local", "high")].spec["priority"] == 2
    health = state[Address.deployment("platform-health-check", "health-check")].spec
    md5 = hashlib.md5((root / "flows/health.py").read_bytes()).hexdigest()
    assert health["version"] == md5
    assert health["concurrency_limit"] == 1 and health["concurrency_options"] is None
    assert health["pull_steps"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(root.resolve())}}
    ]
    assert health["enforce_parameter_schema"] is True
    assert health["parameter_openapi_schema"]["required"] == ["targets"]
    assert health["work_queue_name"] == "critical"
    assert health["schedules"][0]["slug"] == "every-5-minutes"
    assert health["schedules"][0]["schedule"]["interval"] == 300.0
    assert Address.flow("platform-health-check") in state


def test_defaults_and_generated_slugs(tmp_path: Path) -> None:
    root = repo(
        tmp_path,
        "    entrypoint: flows/a.py:doc\n    schedules:\n      - cron: '0 1 * * *'\n      - cron: '0 2 * * *'\n        slug: schedule-1\n",
    )
    dep = one_deployment(desired_of(root))
    assert dep.spec["description"] == "Flow docstring."
    assert dep.spec["version"] == "v-hash"
    assert dep.spec["work_queue_name"] == "default"
    assert [s["slug"] for s in dep.spec["schedules"]] == ["schedule-1-", "schedule-1"]
    assert dep.meta["generated_slugs"] == ["schedule-1-"]
    assert dep.meta["unmanaged"] == []


def test_omitted_schedules_are_unmanaged_and_empty_list_is_managed(tmp_path: Path) -> None:
    omitted = one_deployment(desired_of(repo(tmp_path / "a", "    entrypoint: flows/a.py:f\n")))
    assert "schedules" in omitted.meta["unmanaged"]
    assert omitted.spec["description"] is None
    empty = one_deployment(
        desired_of(repo(tmp_path / "b", "    entrypoint: flows/a.py:f\n    schedules: []\n"))
    )
    assert "schedules" not in empty.meta["unmanaged"]
    assert empty.spec["schedules"] == []


def test_templating_order_env_variables_and_blocks(tmp_path: Path) -> None:
    deployment = (
        "    entrypoint: flows/a.py:f\n"
        "    version: '{{ $RELEASE }}'\n"
        "    tags: ['{{ prefect.variables.team }}', static]\n"
        "    parameters:\n"
        "      schema: '{{ prefect.variables.target }}'\n"
        "      other: '{{ prefect.variables.undeclared }}'\n"
        "      from_step: '{{ build.image }}'\n"
        "    work_pool:\n"
        "      name: local\n"
        "      job_variables:\n"
        "        env:\n"
        "          TOKEN: '{{ prefect.blocks.secret.api-token }}'\n"
        "          MISSING: 'x-{{ $NOT_SET }}'\n"
        "          RUN: '{{ ctx.flow_run.id }}'\n"
    )
    config = "variables:\n  - name: target\n    value: analytics\n  - name: team\n    value: data\n"
    root = write(tmp_path, {
        "prefect.yaml": "deployments:\n  - name: d\n" + deployment,
        "work-pools/local.yaml": "name: local\ntype: process\n",
        "prefect-gitops.yaml": config,
    })  # fmt: skip
    dep = one_deployment(desired_of(root, {"RELEASE": "1.2.3"}))
    spec = dep.spec
    assert spec["version"] == "1.2.3"
    assert spec["tags"] == ["data", "static"]
    assert spec["parameters"] == {
        "schema": "analytics",
        "other": "{{ prefect.variables.undeclared }}",
    }
    env = spec["job_variables"]["env"]
    assert env == {
        "TOKEN": "{{ prefect.blocks.secret.api-token }}",
        "MISSING": "x-",
        "RUN": "{{ ctx.flow_run.id }}",
    }
    assert sorted(dep.meta["opaque"]) == ["job_variables.env.TOKEN", "parameters.other"]
    variables = {r.name: r.spec for r in desired_of(root).of_type("variable")}
    assert variables["target"] == {"name": "target", "value": "analytics", "tags": []}


def test_build_steps_keep_step_outputs_opaque(tmp_path: Path) -> None:
    top = "build:\n  - my.steps.build:\n      id: build\n"
    root = repo(tmp_path, "    entrypoint: flows/a.py:f\n    version: '{{ build.tag }}'\n", top=top)
    dep = one_deployment(desired_of(root))
    assert dep.spec["version"] == "{{ build.tag }}"
    assert dep.meta["opaque"] == ["version"]


def test_pull_steps(tmp_path: Path) -> None:
    top = "pull:\n  - prefect.deployments.steps.git_clone:\n      repository: '{{ $REPO }}'\n"
    inherited = one_deployment(
        desired_of(repo(tmp_path / "a", "    entrypoint: flows/a.py:f\n", top=top), {"REPO": "r"})
    )
    assert inherited.spec["pull_steps"] == [
        {"prefect.deployments.steps.git_clone": {"repository": "r"}}
    ]
    none = one_deployment(
        desired_of(repo(tmp_path / "b", "    entrypoint: flows/a.py:f\n    pull: []\n", top=top))
    )
    assert none.spec["pull_steps"] == []
    root = repo(
        tmp_path / "c", "    entrypoint: flows/a.py:f\n", job_variables="        image: x:1\n"
    )
    image = one_deployment(desired_of(root))
    assert image.spec["pull_steps"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "/opt/prefect"}}
    ]


def test_concurrency_limit_mapping(tmp_path: Path) -> None:
    root = repo(
        tmp_path,
        "    entrypoint: flows/a.py:f\n    concurrency_limit:\n      limit: 2\n      collision_strategy: CANCEL_NEW\n",
    )
    spec = one_deployment(desired_of(root)).spec
    assert spec["concurrency_limit"] == 2
    assert spec["concurrency_options"] == {
        "collision_strategy": "CANCEL_NEW",
        "grace_period_seconds": None,
    }


def test_unreadable_flow_is_one_error(tmp_path: Path) -> None:
    root = repo(tmp_path, "    entrypoint: flows/broken.py:f\n")
    with pytest.raises(ReconcilerError, match="no such function"):
        desired_of(root)


def test_project_name_fallbacks(tmp_path: Path) -> None:
    def name_of(files: dict[str, Any]) -> str:
        project, _ = load_project(write(tmp_path / str(len(files)), files))
        return project_name(project)

    assert name_of({"prefect.yaml": "deployments: []\n"}) == "1"
    assert name_of({"prefect.yaml": "name: from-yaml\ndeployments: []\n", "x": ""}) == "from-yaml"
    assert (
        name_of(
            {"prefect.yaml": "name: y\n", "prefect-gitops.yaml": "project: cfg\n", "a": "", "b": ""}
        )
        == "cfg"
    )


# -- triggers ----------------------------------------------------------------------------------


def automations_of(state: State) -> dict[str, Resource]:
    return {r.name: r for r in state.of_type("automation")}


def test_triggers_become_automations_as_prefect_names_them(tmp_path: Path) -> None:
    deployment = (
        "    entrypoint: flows/a.py:f\n"
        "    triggers:\n"
        "      - expect: [prefect.flow-run.Completed]\n"
        "      - name: second\n"
        "        enabled: false\n"
        "        posture: Proactive\n"
        "        expect: [x]\n"
        "      - expect: [y]\n"
    )
    state = desired_of(repo(tmp_path, deployment))
    assert one_deployment(state).meta["manages_triggers"] is True
    automations = automations_of(state)
    assert sorted(automations) == ["etl/d/d__automation_1", "etl/d/d__automation_3", "etl/d/second"]
    second = automations["etl/d/second"].spec
    assert second["enabled"] is False
    assert second["trigger"]["within"] == 10.0  # Prefect's Proactive minimum
    assert second["actions"] == [
        {
            "type": "run-deployment",
            "source": "selected",
            "deployment": "etl/d",
            "parameters": None,
            "job_variables": None,
            "schedule_after": 0.0,
        }
    ]
    assert Address.parse("automation.etl/d/second").owner == Address.deployment("etl", "d")


def test_trigger_templating_keeps_event_templates_in_parameters(tmp_path: Path) -> None:
    deployment = (
        "    entrypoint: flows/a.py:f\n"
        "    triggers:\n"
        "      - name: 'on-{{ $STAGE }}'\n"
        "        enabled: '{{ $ENABLED }}'\n"
        "        description: 'dropped: {{ event.name }}'\n"
        "        expect: [prefect.flow-run.Completed]\n"
        "        parameters:\n"
        "          upstream: '{{ event.resource.name }}'\n"
        "          stage: '{{ $STAGE }}'\n"
        "          schema: '{{ prefect.variables.target }}'\n"
    )
    config = "variables:\n  - name: target\n    value: analytics\n"
    root = repo(tmp_path, deployment, config=config)
    (automation,) = desired_of(root, {"STAGE": "prod", "ENABLED": "false"}).of_type("automation")
    assert automation.name == "etl/d/on-prod"
    assert automation.spec["enabled"] is False
    # Prefect's step-output pass removes what is left of other placeholders, except in
    # `parameters`, which keep the event templates for run time.
    assert automation.spec["description"] == "dropped: "
    assert automation.spec["actions"][0]["parameters"] == {
        "upstream": "{{ event.resource.name }}",
        "stage": "prod",
        "schema": "analytics",
    }
    assert automation.meta["opaque"] == []


def test_omitted_triggers_are_unmanaged_and_empty_list_is_managed(tmp_path: Path) -> None:
    omitted = desired_of(repo(tmp_path / "a", "    entrypoint: flows/a.py:f\n"))
    assert one_deployment(omitted).meta["manages_triggers"] is False
    empty = desired_of(repo(tmp_path / "b", "    entrypoint: flows/a.py:f\n    triggers: []\n"))
    assert one_deployment(empty).meta["manages_triggers"] is True
    assert omitted.of_type("automation") == empty.of_type("automation") == []


def test_invalid_or_duplicate_triggers_are_errors(tmp_path: Path) -> None:
    bad = "    entrypoint: flows/a.py:f\n    triggers:\n      - posture: Proactive\n        within: 5\n"
    with pytest.raises(ReconcilerError, match=r"triggers\[0\]: .*10 seconds"):
        desired_of(repo(tmp_path / "a", bad))
    twice = "    entrypoint: flows/a.py:f\n    triggers:\n      - name: x\n      - name: x\n"
    with pytest.raises(ReconcilerError, match=r"automation\.etl/d/x is declared twice"):
        desired_of(repo(tmp_path / "b", twice))
