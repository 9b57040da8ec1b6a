"""jobvars' shortcuts (per-property memo, `surely_valid`, untemplated values) change no result.

Each case is checked against the unshortened path: whole-instance jsonschema validation and
the full templating passes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from prefect_gitops.check.jobvars.deploytime import _resolve_templated, resolve_for_deploy
from prefect_gitops.check.jobvars.problems import Problem
from prefect_gitops.check.jobvars.schema import _Validator, compile_schema, schema_key
from prefect_gitops.check.quickvalid import surely_valid
from prefect_gitops.prefect import templates


def _variables(pool_type: str) -> dict[str, Any]:
    template = templates.default_template(pool_type)
    assert template is not None
    return dict(template["variables"])


CUSTOM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "a": {"type": ["string", "integer"]},
        "n": {"type": "integer", "minimum": 0, "default": 1},
        "mode": {"enum": ["x", "y", 3], "default": "x"},
        "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "nested": {
            "type": "object",
            "properties": {"x": {"type": "integer"}, "y": {"anyOf": [{"type": "null"}]}},
            "additionalProperties": False,
        },
        "blk": {"$ref": "#/definitions/B"},
    },
    "definitions": {"B": {"type": "object", "properties": {"t": {"type": "string"}}}},
}
NOT_BY_PROPERTY: dict[str, Any] = {**CUSTOM, "additionalProperties": False}

SCHEMAS = {
    "process": _variables("process"),
    "docker": _variables("docker"),
    "kubernetes": _variables("kubernetes"),
    "custom": CUSTOM,
    "not-by-property": NOT_BY_PROPERTY,
}

VALUES: list[dict[str, Any]] = [
    {},
    {"env": {"A": "1"}, "stream_output": True},
    {"env": {"A": 1, "B": None, "C": {"D": 1}}, "stream_output": "yes"},
    {"env": [1, 2], "labels": {"a": 1}, "command": 7, "working_dir": None},
    {"image": 7, "auto_remove": 0, "volumes": "v", "networks": [1], "mem_limit": 1.5},
    {"namespace": None, "cpu_request": -0.0, "finished_job_ttl": 1.0, "job_watch_timeout_seconds": True},
    {"image_pull_policy": "Sometimes", "service_account_name": ["x"], "unknown_key": {"x": 1}},
    {"image_pull_policy": "Always", "finished_job_ttl": 2.5, "env": {"X": "{{ $HOME }}"}},
    {"a": True, "n": -1, "mode": 3, "pair": ["a", "b"], "tags": ["t", 1], "nested": {"z": 1}},
    {"a": 1.0, "n": 2.0, "mode": "z", "pair": ["a", 1, 2], "tags": [], "nested": {"x": True}},
    {"blk": {"t": 1}, "env": {"k": "v"}, "nested": {"x": 1, "y": None}, "mode": "y"},
    {"blk": {"$ref": {"block_document_id": "abc"}}, "a": "x", "n": float("nan")},
]  # fmt: skip


def _dump(problems: list[Problem]) -> str:
    return json.dumps([[p.kind, list(p.path), p.message, p.rule] for p in problems])


@pytest.mark.parametrize("name", SCHEMAS)
def test_memoised_validation_equals_whole_instance_validation(name: str) -> None:
    compiled = compile_schema(schema_key(SCHEMAS[name]))
    assert (compiled.by_property is None) == (name == "not-by-property")
    for _ in range(2):  # the second round is served from the memo
        for value in VALUES:
            resolved = resolve_for_deploy(value, environ={}, has_steps=True)
            merged = {**compiled.defaults, **resolved.value}
            whole = compiled._validate_whole(merged, resolved)
            assert _dump(compiled.validate(merged, resolved)) == _dump(whole), value


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("has_steps", [True, False])
def test_untemplated_values_skip_templating_with_the_same_result(
    value: dict[str, Any], has_steps: bool
) -> None:
    fast = resolve_for_deploy(value, environ={"HOME": "/h"}, has_steps=has_steps)
    slow = _resolve_templated(value, environ={"HOME": "/h"}, variables=None, has_steps=has_steps)
    assert repr(fast.value) == repr(slow.value)
    assert _dump(fast.problems) == _dump(slow.problems)
    assert fast.value is not value


@pytest.mark.parametrize(
    ("schema", "value", "sure"),
    [
        ({"type": "integer"}, 1.0, True),
        ({"type": "integer"}, True, False),
        ({"type": "number"}, False, False),
        ({"type": ["null", "string"]}, None, True),
        ({"type": ["nope", "string"]}, "x", False),
        ({"enum": ["a", 1]}, "a", True),
        ({"enum": ["a", 1]}, 1, False),
        ({"anyOf": [{"type": "object"}, {"type": "null"}]}, {}, True),
        ({"additionalProperties": {"type": "string"}, "properties": {"a": {}}}, {"a": 1}, True),
        ({"additionalProperties": {"type": "string"}}, {"a": 1}, False),
        ({"patternProperties": {"a": {}}}, {}, False),
        ({"items": {"type": "string"}}, ["a", 1], False),
        ({"minimum": 0}, 1, False),
        ({"$ref": "#/definitions/x"}, 1, False),
        ({"position": 0, "title": "n", "type": "integer", "format": "date"}, 3, True),
        ({"properties": {"a": {"type": "string"}}}, {"a": 1}, False),
        ({"type": "object"}, __import__("collections").OrderedDict(), False),
        ({"items": False}, [], True),
        ({"additionalProperties": False}, {"a": 1}, False),
    ],
)
def test_surely_valid_is_never_wrong(schema: dict[str, Any], value: Any, sure: bool) -> None:
    assert surely_valid(schema, value) is sure
    if sure:
        assert not list(_Validator(schema).iter_errors(value))
        assert not list(Draft202012Validator(schema).iter_errors(value))
