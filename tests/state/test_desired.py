from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from prefect_gitops.errors import ReconcilerError
from prefect_gitops.prefect import templates
from prefect_gitops.repo.loader import load_project
from prefect_gitops.state.desired import (
    DeployInputs,
    FlowFacts,
    analyze_flows,
    build_desired,
    flow_version,
    opaque_schema_warnings,
    parse_step_outputs,
    project_name,
    refuse_unresolved_steps,
    used_variables,
)
from prefect_gitops.state.resources import Address, Resource, State

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


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


def test_an_opaque_parameter_schema_is_unmanaged_and_warned_about(tmp_path: Path) -> None:
    flow = (
        "from pydantic import BaseModel\nfrom prefect import flow\n"
        "class Custom(BaseModel):\n    a: int\n"
        "    def __get_pydantic_json_schema__(cls, schema, handler): ...\n"
        "@flow\ndef opaque(c: Custom, n: int = 1): ...\n@flow\ndef clear(n: int = 1): ...\n"
    )
    write(tmp_path, {"flows.py": flow})
    root = repo(tmp_path, "    entrypoint: flows.py:opaque\n"
                "  - name: e\n    entrypoint: flows.py:clear\n    work_pool: {name: local}\n")  # fmt: skip
    project, _ = load_project(root)
    state = build_desired(project, environ={}, flow_lookup=analyze_flows(project))
    opaque = state[Address.deployment("opaque", "d")]
    assert opaque.spec["parameter_openapi_schema"] is None
    assert "parameter_openapi_schema" in opaque.meta["unmanaged"]
    clear = state[Address.deployment("clear", "e")]
    assert clear.spec["parameter_openapi_schema"]["properties"]["n"]["default"] == 1
    assert clear.meta["opaque_schema"] == []
    (warning,) = opaque_schema_warnings(state)
    assert warning.startswith("prefect.yaml:2: deployment.opaque/d: parameter_openapi_schema ")
    assert (
        "parameter 'c': class `Custom` (flows.py:3) defines `__get_pydantic_json_schema__`"
        in warning
    )
    assert "parameter 'n'" not in warning


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


# -- plans and applies that agree with Prefect (issue 13) ------------------------------------


def test_tags_keep_the_file_order_and_duplicates(tmp_path: Path) -> None:
    root = repo(tmp_path, "    entrypoint: flows/a.py:f\n    tags: [k8s, etl, k8s, 7]\n")
    assert one_deployment(desired_of(root)).spec["tags"] == ["k8s", "etl", "k8s", "7"]


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("'{{ image }}'", "/opt/prefect"),  # dropped later, but Prefect saw it set
        ("'{{ $UNSET_IMAGE }}'", "/opt/prefect"),  # the env pass leaves it in place
        ("''", None),  # empty: the local folder
    ],
)
def test_default_pull_step_looks_at_the_raw_image(
    tmp_path: Path, image: str, expected: str | None
) -> None:
    root = repo(
        tmp_path, "    entrypoint: flows/a.py:f\n", job_variables=f"        image: {image}\n"
    )
    dep = one_deployment(desired_of(root))
    directory = dep.spec["pull_steps"][0]["prefect.deployments.steps.set_working_directory"]
    assert directory["directory"] == (expected or str(tmp_path.resolve()))
    # then the step-output pass: a standard placeholder is dropped, an env one emptied
    assert dep.spec["job_variables"].get("image", "") == ""


def test_default_pull_step_for_a_docker_build_depends_on_dockerfile_auto(tmp_path: Path) -> None:
    step = "  - prefect_docker.deployments.steps.build_docker_image:\n      id: img\n"
    auto = repo(
        tmp_path / "auto",
        "    entrypoint: flows/a.py:f\n",
        top=f"build:\n{step}      dockerfile: auto\n",
    )
    own = repo(
        tmp_path / "own",
        "    entrypoint: flows/a.py:f\n",
        top=f"build:\n{step}      dockerfile: Dockerfile\n",
    )
    key = "prefect.deployments.steps.set_working_directory"
    got_auto = one_deployment(desired_of(auto)).spec["pull_steps"][0][key]["directory"]
    got_own = one_deployment(desired_of(own)).spec["pull_steps"][0][key]["directory"]
    assert got_auto == "/opt/prefect/auto"
    # non-interactive, a Dockerfile of one's own: Prefect falls through to the local folder
    assert got_own == str((tmp_path / "own").resolve())


FLOW_HEAD = "from prefect import flow\n"


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        (FLOW_HEAD + "@flow\ndef f():\n    pass\n", "md5"),
        (FLOW_HEAD + "import json, os.path\n@flow\ndef f():\n    pass\n", "md5"),
        (FLOW_HEAD + "import helpers\n@flow\ndef f():\n    pass\n", "md5"),  # a repo module
        (FLOW_HEAD + "import pandas_not_here_xyz\n@flow\ndef f():\n    pass\n", "null"),
        (FLOW_HEAD + "from sk_not_here.x import y\n@flow\ndef f():\n    pass\n", "null"),
        (FLOW_HEAD + "@flow(version='1.2')\ndef f():\n    pass\n", "1.2"),
        (
            FLOW_HEAD + "RELEASE = '2025.03'\n@flow(version=RELEASE)\ndef f():\n    pass\n",
            "2025.03",
        ),
        (
            FLOW_HEAD
            + "import missing_xyz\nV = 3\n@flow(name='x', version=V)\ndef f():\n    pass\n",
            "3",
        ),
    ],
)
def test_flow_version_is_what_prefect_deploy_writes_here(
    tmp_path: Path, source: str, kind: str
) -> None:
    write(tmp_path, {"flows/a.py": source, "flows/helpers.py": "X = 1\n"})
    path = tmp_path / "flows" / "a.py"
    version, alternatives = flow_version(path, "f", (tmp_path,))
    digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    if kind == "md5":
        assert (version, alternatives) == (digest, (None,))
    elif kind == "null":  # the static fallback: Prefect has no flow object to hash
        assert (version, alternatives) == (None, (digest,))
    else:
        assert (version, alternatives) == (kind, ())


def test_a_version_control_version_replaces_the_flows_unless_the_yaml_sets_one(
    tmp_path: Path,
) -> None:
    """Prefect's RunnerDeployment: the commit's version wins over the flow's (even a
    decorator's) when the YAML sets none; `version_type` is passed on (falsy: none)."""
    asked: list[str | None] = []

    def inferred(folder: Path, kind: str | None) -> str | None:
        assert folder == root
        asked.append(kind)
        return None if kind == "prefect:simple" else "0123abcd"

    deployments = "".join(
        f"  - name: {name}\n    entrypoint: flows/a.py:f\n    work_pool: {{name: local}}\n{extra}"
        for name, extra in [
            ("unset", ""),
            ("empty", "    version: ''\n    version_type: ''\n"),
            ("pinned", "    version: '7'\n"),
            ("simple", "    version_type: prefect:simple\n"),
            ("git", "    version_type: vcs:git\n"),
        ]
    )
    root = write(tmp_path, {"prefect.yaml": "deployments:\n" + deployments})
    project, _ = load_project(root)
    inputs = DeployInputs(inferred_version=inferred)
    state = build_desired(project, environ={}, flow_lookup=fake_flows, inputs=inputs)
    found = {r.address.name.split("/")[-1]: r for r in state.of_type("deployment")}
    versions = {name: dep.spec["version"] for name, dep in found.items()}
    assert versions == {"unset": "0123abcd", "empty": "0123abcd", "pinned": "7",
                        "simple": "v-hash", "git": "0123abcd"}  # fmt: skip
    assert found["unset"].meta["version_alternatives"] == []
    assert sorted(map(str, asked)) == ["None", "None", "prefect:simple", "vcs:git"]


def test_a_version_control_version_is_known_where_the_flow_cannot_be_read(
    tmp_path: Path,
) -> None:
    prefect_yaml = "deployments:\n  - {name: a, entrypoint: installed_pkg.flows.load_all, work_pool: {name: p}}\n"
    root = write(tmp_path, {"prefect.yaml": prefect_yaml})
    project, _ = load_project(root)
    inputs = DeployInputs(inferred_version=lambda folder, kind: "0123abcd")
    state = build_desired(project, environ={}, flow_lookup=analyze_flows(project), inputs=inputs)
    (dep,) = state.of_type("deployment")
    assert dep.spec["version"] == "0123abcd"
    assert "version" not in dep.meta["unmanaged"]


def test_yaml_version_wins_and_has_no_alternatives(tmp_path: Path) -> None:
    root = repo(tmp_path, "    entrypoint: flows/a.py:f\n    version: '7'\n")
    dep = one_deployment(desired_of(root))
    assert dep.spec["version"] == "7"
    assert dep.meta["version_alternatives"] == []
    assert "version" not in dep.meta["unmanaged"]


RECIPE_TOP = (
    "build:\n  - prefect_docker.deployments.steps.build_docker_image:\n      id: build_image\n"
    "      image_name: app\n      tag: latest\n      dockerfile: auto\n"
)


def test_step_outputs_are_recorded_unresolved_or_filled_from_inputs(tmp_path: Path) -> None:
    root = repo(
        tmp_path,
        "    entrypoint: flows/a.py:f\n    tags: [app, '{{ build_image.tag }}']\n",
        top=RECIPE_TOP,
        job_variables="        image: '{{ build_image.image }}'\n",
    )
    unresolved = one_deployment(desired_of(root))
    assert unresolved.meta["step_outputs"] == {
        "job_variables.image": ["{{ build_image.image }}"],
        "tags[1]": ["{{ build_image.tag }}"],
    }
    assert {"job_variables.image", "tags"} <= set(unresolved.meta["opaque"])
    project, _ = load_project(root)
    outputs = parse_step_outputs(["build_image.image=reg/app:abc", "build_image.tag=abc"])
    resolved = one_deployment(
        build_desired(
            project, environ={}, flow_lookup=fake_flows, inputs=DeployInputs(step_outputs=outputs)
        )
    )
    assert resolved.spec["job_variables"]["image"] == "reg/app:abc"
    assert resolved.spec["tags"] == ["app", "abc"]
    assert resolved.meta["step_outputs"] == {}
    unresolved_state = State({unresolved.address: unresolved})
    for written in (None, {"job_variables"}, {"tags", "paused"}):  # a create; patches
        with pytest.raises(ReconcilerError, match=r"prefect.yaml:\d+: deployment\.etl/d: "):
            refuse_unresolved_steps(unresolved_state, {"deployment.etl/d": written})
    # a patch that does not send the fields holding the placeholders writes none of them
    refuse_unresolved_steps(unresolved_state, {"deployment.etl/d": {"paused"}})
    refuse_unresolved_steps(State({resolved.address: resolved}), {"deployment.etl/d": None})


def test_steps_run_by_the_injected_runner_give_their_outputs(tmp_path: Path) -> None:
    root = repo(
        tmp_path,
        "    entrypoint: flows/a.py:f\n",
        top=RECIPE_TOP,
        job_variables="        image: '{{ build_image.image }}'\n",
    )
    project, _ = load_project(root)
    calls: list[Path] = []

    def runner(build: list[Any], push: list[Any], base_dir: Path) -> dict[str, Any]:
        calls.append(base_dir)
        return {"build_image": {"image": "built:1", "tag": "1"}}

    inputs = DeployInputs(run_steps=runner, step_outputs={"build_image": {"tag": "2"}})
    dep = one_deployment(build_desired(project, environ={}, flow_lookup=fake_flows, inputs=inputs))
    assert dep.spec["job_variables"]["image"] == "built:1"
    assert calls == [tmp_path]


@pytest.mark.parametrize("bad", ["build_image.image", "=x", "build_image..image=x", "a=1"])
def test_step_output_option_needs_step_and_key(bad: str) -> None:
    if bad == "a=1":
        assert parse_step_outputs([bad]) == {"a": "1"}
        with pytest.raises(ReconcilerError, match="already a value"):
            parse_step_outputs([bad, "a.b=2"])
        return
    with pytest.raises(ReconcilerError, match=r"STEP_ID\.KEY=VALUE"):
        parse_step_outputs([bad])


def test_undeclared_variables_come_from_the_server_when_online(tmp_path: Path) -> None:
    root = repo(
        tmp_path,
        "    entrypoint: flows/a.py:f\n    parameters:\n      region: '{{ prefect.variables.region }}'\n"
        "      gone: 'x-{{ prefect.variables.gone }}'\n",
        config="variables:\n  - name: team\n    value: data\n",
        job_variables="        env:\n          TEAM: '{{ prefect.variables.team }}'\n",
    )
    project, _ = load_project(root)
    assert used_variables(project) == {"region", "gone", "team"}
    offline = one_deployment(build_desired(project, environ={}, flow_lookup=fake_flows))
    assert offline.spec["parameters"]["region"] == "{{ prefect.variables.region }}"
    assert "parameters.region" in offline.meta["opaque"]
    online = DeployInputs(server_variables={"region": "eu", "team": "server-loses"})
    dep = one_deployment(build_desired(project, environ={}, flow_lookup=fake_flows, inputs=online))
    assert dep.spec["parameters"] == {"region": "eu", "gone": "x-"}
    assert dep.spec["job_variables"]["env"] == {"TEAM": "data"}
    assert dep.meta["opaque"] == []


def test_pool_without_template_takes_the_server_default_when_given(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "prefect.yaml": "deployments: []\n",
            "work-pools/d.yaml": "name: d\ntype: docker\n",
            "work-pools/own.yaml": "name: own\ntype: docker\nbase_job_template:\n"
            "  job_configuration: {}\n  variables: {type: object, properties: {}}\n",
        },
    )
    project, _ = load_project(root)
    server = {"docker": {"job_configuration": {"x": 1}, "variables": {"properties": {}}}}
    inputs = DeployInputs(pool_templates=server)
    state = build_desired(project, environ={}, flow_lookup=fake_flows, inputs=inputs)
    assert state[Address.pool("d")].spec["base_job_template"] == server["docker"]
    assert state[Address.pool("own")].spec["base_job_template"]["job_configuration"] == {}
    shipped = build_desired(project, environ={}, flow_lookup=fake_flows)
    assert shipped[Address.pool("d")].spec["base_job_template"] == templates.default_template(
        "docker"
    )


def test_a_flow_name_that_cannot_be_read_takes_prefects_fallback_and_others_still_plan(
    tmp_path: Path,
) -> None:
    flows = (
        "from prefect import flow\n\ndef make() -> str:\n    return 'made'\n\n"
        "@flow(name=make())\ndef load_all(n: int = 1):\n    pass\n\n"
        "@flow\ndef plain(m: int = 2):\n    pass\n"
    )
    prefect_yaml = (
        "deployments:\n"
        "  - {name: a, entrypoint: flows/f.py:load_all, work_pool: {name: p}}\n"
        "  - {name: b, entrypoint: flows/f.py:plain, work_pool: {name: p}}\n"
    )
    root = write(tmp_path, {"prefect.yaml": prefect_yaml, "flows/f.py": flows})
    project, _ = load_project(root)
    state = build_desired(project, environ={}, flow_lookup=analyze_flows(project))
    names = {str(r.address) for r in state.of_type("deployment")}
    assert names == {"deployment.load-all/a", "deployment.plain/b"}


def test_an_entrypoint_validate_only_warns_about_is_planned_leaving_what_cannot_be_read(
    tmp_path: Path,
) -> None:
    from prefect_gitops.state.diff import resource_changes

    prefect_yaml = (
        "deployments:\n"
        "  - {name: a, entrypoint: installed_pkg.flows.load_all, work_pool: {name: p}}\n"
        "  - {name: b, entrypoint: installed_pkg.flows.tidy, work_pool: {name: p},\n"
        "     description: set here, version: '7'}\n"
        "  - {name: c, entrypoint: flows/f.py:plain, work_pool: {name: p}}\n"
    )
    flows = "from prefect import flow\n\n@flow\ndef plain(m: int = 2):\n    pass\n"
    root = write(tmp_path, {"prefect.yaml": prefect_yaml, "flows/f.py": flows})
    project, _ = load_project(root)
    state = build_desired(project, environ={}, flow_lookup=analyze_flows(project))
    deployments = {str(r.address): r for r in state.of_type("deployment")}
    assert set(deployments) == {
        "deployment.load-all/a", "deployment.tidy/b", "deployment.plain/c"
    }  # fmt: skip
    unread = deployments["deployment.load-all/a"]
    assert set(unread.meta["unmanaged"]) >= {"parameter_openapi_schema", "description", "version"}
    declared = deployments["deployment.tidy/b"]
    assert "description" not in declared.meta["unmanaged"]
    assert "version" not in declared.meta["unmanaged"]
    # On the server as `prefect deploy` wrote it (it could import the flow there): no change.
    live_spec = {**unread.spec, "description": "from the docstring", "version": "abc",
                 "parameter_openapi_schema": {"type": "object", "properties": {"n": {}}}}  # fmt: skip
    live = Resource(unread.address, live_spec)
    assert resource_changes(live, unread) == []


@pytest.mark.parametrize("own", ["    push: []\n", "    push: null\n", ""])
def test_an_empty_push_of_the_deployment_runs_the_files_push_steps(
    tmp_path: Path, own: str
) -> None:
    top = (
        "push:\n  - prefect.deployments.steps.run_shell_script:\n      id: s\n      script: echo\n"
    )
    root = repo(
        tmp_path,
        "    entrypoint: flows/a.py:f\n" + own,
        top=top,
        job_variables="        image: '{{ s.stdout }}'\n",
    )
    # A step output, not a placeholder Prefect drops: the file's push steps run.
    assert one_deployment(desired_of(root)).meta["step_outputs"] == {
        "job_variables.image": ["{{ s.stdout }}"]
    }


def test_templating_passes_walk_only_deployments_holding_a_placeholder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five passes walked and copied every deployment (most of the desired state's cost at
    10,000 deployments); one holding no `{{` is now left as it is, with the same result."""
    from prefect_gitops.state import desired as module

    walked: list[object] = []
    for name in ("resolve_variables", "resolve_env", "apply_values", "find_placeholders"):
        real = getattr(module, name)
        monkeypatch.setattr(
            module, name, lambda v, *a, _r=real, **k: walked.append(v) or _r(v, *a, **k)
        )
    plain = (
        "    entrypoint: flows/a.py:f\n    tags: [a]\n    schedules:\n      - cron: '0 3 * * *'\n"
    )
    root = repo(tmp_path / "plain", plain)
    dep = one_deployment(desired_of(root))
    assert walked == [] and dep.spec["tags"] == ["a"] and dep.meta["opaque"] == []
    templated = plain.replace("[a]", "['{{ $TEAM }}']")
    dep = one_deployment(desired_of(repo(tmp_path / "templated", templated), {"TEAM": "a"}))
    assert walked and dep.spec["tags"] == ["a"]
