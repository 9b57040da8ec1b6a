"""jobvars: preprocessing, merging, templated values and strict extras (no server).

The verdicts themselves are compared with a real server in tests/check/jobvars/test_parity.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from prefect.utilities.schema_tools.validation import preprocess_schema as prefect_preprocess

from prefect_gitops.check.jobvars.problems import ProblemKind
from prefect_gitops.check.jobvars.schema import preprocess_schema, remove_nested_keys
from prefect_gitops.check.jobvars.verdicts import (
    check_job_variables,
    check_pool_template,
    strict_problems,
)
from prefect_gitops.prefect import templates


def _template(pool_type: str) -> dict[str, Any]:
    template = templates.default_template(pool_type)
    assert template is not None
    return template


PROCESS = _template("process")
KUBERNETES = _template("kubernetes")

SCHEMAS: list[dict[str, Any]] = [
    _template("process")["variables"],
    _template("kubernetes")["variables"],
    _template("docker")["variables"],
    _template("ecs")["variables"],
    {
        "required": ["a"],
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "integer", "default": 1},
            "c": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
            "d": {
                "type": "object",
                "required": ["x"],
                "properties": {"x": {"type": "integer"}, "y": {"type": "null"}},
            },
        },
        "definitions": {
            "B": {"title": "B", "block_type_slug": "b", "properties": {"t": {"type": "string"}}},
            "Other": {"title": "Renamed", "block_type_slug": "o", "properties": {}},
        },
    },
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
@pytest.mark.parametrize("allow_none", [True, False])
def test_preprocess_matches_prefect(schema: dict[str, Any], allow_none: bool) -> None:
    ours = preprocess_schema(schema, allow_none_with_default=allow_none)
    assert ours == prefect_preprocess(schema, allow_none_with_default=allow_none)


def test_remove_nested_keys_skips_lists() -> None:
    schema = {
        "required": ["a"],
        "properties": {"required": {}, "x": {"anyOf": [{"required": ["k"]}]}},
    }
    assert remove_nested_keys(frozenset({"required"}), schema) == {
        "properties": {"x": {"anyOf": [{"required": ["k"]}]}}
    }


def test_type_error_names_path_rule_and_types() -> None:
    report = check_job_variables({"stream_output": "yes"}, PROCESS)
    assert report.rejected
    [problem] = report.problems
    assert problem.path == ("stream_output",)
    assert problem.rule == "type"
    assert problem.message == "'yes' is not of type boolean or null"


def test_nested_and_enum_errors_point_inside() -> None:
    report = check_job_variables({"env": {"A": 1}, "image_pull_policy": "Sometimes"}, KUBERNETES)
    by_path = {p.path: p for p in report.problems}
    assert by_path[("env", "A")].rule == "type"
    assert by_path[("image_pull_policy",)].rule == "enum"
    assert "'Sometimes' is not one of" in by_path[("image_pull_policy",)].message


def test_empty_job_variables_are_not_validated() -> None:
    broken = {"job_configuration": {}, "variables": {"properties": {"x": {"type": "strin"}}}}
    assert check_job_variables({}, broken).problems == []
    report = check_job_variables({"x": 1}, broken)
    assert report.rejected
    assert {p.kind for p in report.problems} == {ProblemKind.BROKEN_SCHEMA}


def test_invalid_defaults_are_dropped_before_merging() -> None:
    template = {
        "job_configuration": {"a": "{{ a }}", "b": "{{ b }}"},
        "variables": {
            "properties": {
                "a": {"type": "integer", "default": "not an int"},
                "b": {"type": "integer", "default": 2},
            }
        },
    }
    report = check_job_variables({"c": 1}, template)
    assert not report.rejected
    assert report.merged == {"b": 2, "c": 1}


def test_unknown_keys_pass_but_strict_flags_them_with_a_suggestion() -> None:
    assert not check_job_variables({"strem_output": True}, PROCESS).rejected
    [problem] = strict_problems({"strem_output": True}, PROCESS)
    assert problem.kind is ProblemKind.UNKNOWN_KEY
    assert "did you mean 'stream_output'?" in problem.message


def test_strict_dotted_keys_unreferenced_and_required() -> None:
    template = {
        "job_configuration": {"cmd": "{{ cmd }}"},
        "variables": {
            "required": ["cmd", "region"],
            "properties": {
                "cmd": {"type": "string"},
                "region": {"type": "string"},
                "env": {"type": "object"},
                "zone": {"type": "string", "default": "a"},
            },
        },
    }
    problems = strict_problems({"env.FOO": "x", "cmd": "run"}, template)
    kinds = {(p.kind, p.path) for p in problems}
    assert kinds == {
        (ProblemKind.UNREFERENCED, ("env.FOO",)),
        (ProblemKind.MISSING_REQUIRED, ()),
    }
    assert any("'region'" in p.message for p in problems)


def test_environment_and_declared_variables_are_resolved() -> None:
    report = check_job_variables(
        {"stream_output": "{{ prefect.variables.flag }}", "working_dir": "{{ $WD }}"},
        PROCESS,
        environ={"WD": "/srv"},
        variables={"flag": "yes"},
    )
    assert report.sent == {"stream_output": "yes", "working_dir": "/srv"}
    assert [p.path for p in report.problems if p.rejected_by_server] == [("stream_output",)]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("{{ prefect.blocks.secret.flag }}", "block 'secret/flag'"),
        ("{{ prefect.variables.undeclared }}", "Prefect variable 'undeclared' is not declared"),
        ({"$ref": {"block_document_id": "abc"}}, "block document reference"),
    ],
)
def test_deploy_time_values_are_not_false_type_errors(value: Any, fragment: str) -> None:
    report = check_job_variables({"stream_output": value}, PROCESS)
    assert not report.rejected
    [note] = report.problems
    assert note.kind is ProblemKind.OFFLINE
    assert note.message.startswith("cannot be checked offline")
    assert fragment in note.message


def test_step_outputs_are_unknown_with_steps_and_dropped_without() -> None:
    jv = {"stream_output": "{{ build-image.flag }}", "name": "n-{{ build-image.tag }}"}
    with_steps = check_job_variables(jv, PROCESS, has_steps=True)
    assert not with_steps.rejected
    assert {p.kind for p in with_steps.problems} == {ProblemKind.OFFLINE}
    assert any("{{ build-image.flag }}" in p.message for p in with_steps.problems)

    without = check_job_variables(jv, PROCESS, has_steps=False)
    assert without.sent == {"name": "n-"}
    assert {p.kind for p in without.problems} == {ProblemKind.DROPPED}


def test_unset_env_var_in_text_is_still_text() -> None:
    report = check_job_variables({"stream_output": "{{ $NOT_SET }}"}, PROCESS, environ={})
    kinds = [p.kind for p in report.problems]
    assert ProblemKind.OFFLINE in kinds and report.rejected
    invalid = next(p for p in report.problems if p.kind is ProblemKind.INVALID)
    assert "'{{ $NOT_SET }}' is not of type boolean or null" in invalid.message


def test_unknown_text_is_not_checked_against_enum_or_pattern() -> None:
    report = check_job_variables(
        {"image_pull_policy": "{{ $POLICY }}", "namespace": "ns-{{ prefect.blocks.string.ns }}"},
        KUBERNETES,
        environ={},
    )
    assert not report.rejected
    assert {p.path for p in report.problems} == {("image_pull_policy",), ("namespace",)}


def test_ctx_placeholders_are_kept_for_the_worker() -> None:
    report = check_job_variables({"name": "{{ ctx.flow_run.name }}"}, PROCESS)
    assert report.problems == []
    assert report.sent == {"name": "{{ ctx.flow_run.name }}"}


def test_pool_template_checks() -> None:
    assert check_pool_template(PROCESS) == []
    assert check_pool_template({}) == []
    problems = check_pool_template(
        {
            "job_configuration": {"a": "{{ x }}", "b": {"c": ["{{ $HOME }}"]}},
            "variables": {"properties": {"x": {"type": "integer", "default": "no"}}},
        }
    )
    paths = {(p.kind, p.path) for p in problems}
    assert (ProblemKind.INVALID, ("job_configuration", "b", "c", 0)) in paths
    assert (ProblemKind.INVALID, ("variables", "properties", "x", "default")) in paths
    missing = check_pool_template({"variables": {"properties": {}}})
    assert [p.rule for p in missing] == ["required"]


def test_broken_schema_is_reported_with_its_location() -> None:
    problems = check_pool_template(
        {
            "job_configuration": {"a": "{{ x }}"},
            "variables": {"properties": {"x": {"type": "strin"}}},
        }
    )
    [problem] = problems
    assert problem.kind is ProblemKind.BROKEN_SCHEMA
    assert problem.path[:4] == ("variables", "properties", "x", "type")


def test_block_default_is_offline_at_pool_level() -> None:
    template = {
        "job_configuration": {"a": "{{ x }}"},
        "variables": {
            "properties": {"x": {"type": "object", "default": {"$ref": {"block_document_id": "b"}}}}
        },
    }
    problems = check_pool_template(template)
    assert [p.kind for p in problems] == [ProblemKind.OFFLINE]


def test_every_shipped_default_template_is_accepted() -> None:
    for pool_type in templates.known_types():
        assert check_pool_template(templates.default_template(pool_type)) == [], pool_type


@pytest.mark.parametrize("variables", [True, 1, "schema", [{"type": "object"}]])
def test_a_variables_schema_that_is_not_a_mapping_is_broken_not_a_crash(variables: Any) -> None:
    template = {"job_configuration": {"command": "{{ command }}"}, "variables": variables}
    report = check_job_variables({"command": "x"}, template, resolve=False)
    assert report.problems
    assert {p.kind for p in report.problems} == {ProblemKind.BROKEN_SCHEMA}
    assert all(p.path[:1] == ("variables",) for p in report.problems)
    assert strict_problems({"command": "x"}, template) == []


@pytest.mark.parametrize(
    "variables",
    [
        {"type": "object", "required": [["x"]], "properties": {"x": {"type": "string"}}},
        {"type": "object", "required": [{"x": 1}], "properties": {"x": {}}},
        {"type": "object", "required": [1], "properties": {1: {"type": "string"}}},
    ],
)
def test_strict_checks_survive_unhashable_or_non_string_names(variables: Any) -> None:
    template = {"job_configuration": {"command": "{{ x }}"}, "variables": variables}
    problems = strict_problems({"y": 1}, template)
    assert [p.kind for p in problems] == [ProblemKind.UNKNOWN_KEY]
