"""Our templating against Prefect's own `apply_values`, case by case."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from prefect.utilities import templating as prefect_templating
from prefect.utilities.annotations import NotSet as PrefectNotSet

from prefect_gitops.prefect import templating
from prefect_gitops.prefect.templating import NotSet, PlaceholderKind

ENV = {"PG_TPL_FOO": "foo-value", "PG_TPL_NUM": "5", "PG_TPL_BRACES": "{{ n }}"}
VALUES: dict[str, Any] = {
    "n": 5,
    "s": "text",
    "b": True,
    "none": None,
    "d": {"a": 1, "inner": {"k": "v"}},
    "lst": [10, {"x": "y"}, [1, 2]],
    "get-commit": {"stdout": "abc123"},
    "years": {"2026": 42, 7: "int-key"},
    "braces": "{{ s }}",
    "PG_TPL_FOO": "standard-wins",
}

TEMPLATES: list[Any] = [
    "plain text",
    "",
    "{{ n }}",
    "{{n}}",
    "{{   n   }}",
    "{{ s }}",
    "{{ b }}",
    "{{ none }}",
    "{{ d }}",
    "{{ d.a }}",
    "{{ d.inner.k }}",
    "{{ lst[1].x }}",
    "{{ lst.1.x }}",
    "{{ lst[2][1] }}",
    "{{ lst[-1] }}",
    "{{ lst[9] }}",
    "{{ s[0] }}",
    "{{ years.2026 }}",
    "{{ years.7 }}",
    "{{ get-commit.stdout }}",
    "{{ missing }}",
    "{{ d.missing }}",
    "x-{{ n }}",
    "x-{{ d }}",
    "x-{{ none }}",
    "x-{{ missing }}-y",
    "a-{{ missing }}-b-{{ n }}",
    "{{ n }}{{ n }}",
    "{{ n }} {{ s }}",
    "{{ braces }}",
    "x{{ braces }}",
    "{{ $PG_TPL_FOO }}",
    "{{ $PG_TPL_MISSING }}",
    "pre-{{ $PG_TPL_NUM }}-{{ $PG_TPL_MISSING }}",
    "{{ $PG_TPL_BRACES }}",
    "{{ $$PG_TPL_FOO }}",
    "{{ PG_TPL_FOO }}",
    "{{ prefect.variables.x }}",
    "{{ prefect.blocks.secret.token }}",
    "x-{{ prefect.variables.x }}-{{ n }}",
    "{{ ctx.flow.name }}",
    "{{ ctx.flow.name }}-{{ n }}",
    "{{ ctx.flow_run.id }}-{{ missing }}",
    "{{ bad name }}",
    "{{ ä }}",
    "{ n }",
    "{{ n }",
    5,
    1.5,
    True,
    None,
    {"k": "{{ n }}", "gone": "{{ missing }}", "kept": "x-{{ missing }}"},
    {"nested": {"deep": ["{{ n }}", "{{ missing }}", "{{ $PG_TPL_MISSING }}", 3]}},
    ["{{ missing }}", "{{ s }}", ["{{ missing }}"], {"a": "{{ missing }}"}],
    {"{{ n }}": "keys are not templated"},
]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.delenv("PG_TPL_MISSING", raising=False)
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    return ENV


def _ours_as_prefect(value: Any) -> Any:
    return PrefectNotSet if value is NotSet else value


@pytest.mark.parametrize("template", TEMPLATES, ids=repr)
@pytest.mark.parametrize(
    ("remove_notset", "skip"),
    [(True, None), (False, None), (True, ["ctx."]), (False, ["ctx.", "prefect."])],
)
def test_apply_values_matches_prefect(
    env: dict[str, str], template: Any, remove_notset: bool, skip: list[str] | None
) -> None:
    theirs = prefect_templating.apply_values(
        template, VALUES, remove_notset=remove_notset, skip_prefixes=skip
    )
    ours = templating.apply_values(
        template, VALUES, remove_notset=remove_notset, skip_prefixes=skip, environ=env
    )
    assert _ours_as_prefect(ours) == theirs
    assert type(_ours_as_prefect(ours)) is type(theirs)


@pytest.mark.parametrize("template", TEMPLATES, ids=repr)
def test_environment_pass_matches_prefect_deploy(env: dict[str, str], template: Any) -> None:
    # `prefect deploy` step 3: apply_values(deploy_config, os.environ, remove_notset=False)
    import os

    theirs = prefect_templating.apply_values(template, dict(os.environ), remove_notset=False)
    ours = templating.resolve_env(template, dict(os.environ))
    assert _ours_as_prefect(ours) == theirs


@pytest.mark.parametrize("template", TEMPLATES, ids=repr)
def test_find_placeholders_matches_prefect(template: Any) -> None:
    theirs = {
        (p.full_match, p.name, p.type.value) for p in prefect_templating.find_placeholders(template)
    }
    kinds = {
        PlaceholderKind.STANDARD: "standard",
        PlaceholderKind.BLOCK: "block_document",
        PlaceholderKind.VARIABLE: "variable",
        PlaceholderKind.ENV: "env_var",
    }
    ours = {(p.full_match, p.name, kinds[p.kind]) for p in templating.find_placeholders(template)}
    assert ours == theirs


def test_unexpected_types_raise_like_prefect() -> None:
    import datetime

    when = datetime.date(2024, 1, 1)
    with pytest.raises(ValueError):
        prefect_templating.apply_values({"a": when}, {})
    with pytest.raises(templating.TemplateTypeError):
        templating.apply_values({"a": when}, {})


def test_single_pass_does_not_expand_substituted_values(env: dict[str, str]) -> None:
    assert templating.apply_values("x{{ braces }}", VALUES, environ=env) == "x{{ s }}"
    assert templating.apply_values("{{ $PG_TPL_BRACES }}", VALUES, environ=env) == "{{ n }}"


def test_on_notset_reports_each_missing_placeholder() -> None:
    seen: list[str] = []
    result = templating.apply_values(
        {"a": "{{ gone }}", "b": "x-{{ $NOPE }}"},
        {},
        environ={},
        on_notset=lambda p: seen.append(p.name),
    )
    assert result == {"b": "x-"}
    assert sorted(seen) == ["$NOPE", "gone"]


def test_placeholder_kinds() -> None:
    assert templating.placeholder_kind("prefect.blocks.secret.x") is PlaceholderKind.BLOCK
    assert templating.placeholder_kind("prefect.variables.x") is PlaceholderKind.VARIABLE
    assert templating.placeholder_kind("$HOME") is PlaceholderKind.ENV
    assert templating.placeholder_kind("build-image.image") is PlaceholderKind.STANDARD
    assert templating.placeholder_kind("prefect.other") is PlaceholderKind.STANDARD


class _Variable:
    def __init__(self, value: Any) -> None:
        self.value = value


class _FakeClient:
    """Stands in for PrefectClient.read_variable_by_name only."""

    def __init__(self, variables: dict[str, Any]) -> None:
        self.variables = variables

    async def read_variable_by_name(self, name: str) -> _Variable | None:
        return _Variable(self.variables[name]) if name in self.variables else None


VARIABLES: dict[str, Any] = {"x": "hello", "n": 3, "obj": {"a": [1]}, "empty": ""}


@pytest.mark.parametrize(
    "template",
    [
        "{{ prefect.variables.x }}",
        "{{ prefect.variables.n }}",
        "{{ prefect.variables.obj }}",
        "{{ prefect.variables.missing }}",
        "a-{{ prefect.variables.x }}-{{ prefect.variables.missing }}-{{ n }}",
        "{{prefect.variables.obj}}/x",
        {"k": ["{{ prefect.variables.n }}", "{{ $HOME }}"], "m": 4},
        "{{ prefect.blocks.secret.x }}",
        7,
    ],
    ids=repr,
)
def test_resolve_variables_matches_prefect(template: Any) -> None:
    theirs = asyncio.run(
        prefect_templating.resolve_variables(template, client=_FakeClient(VARIABLES))  # type: ignore[arg-type]
    )
    assert templating.resolve_variables(template, VARIABLES) == theirs


def test_resolve_variables_can_keep_unknown_ones() -> None:
    kept = templating.resolve_variables(
        {"a": "{{ prefect.variables.unknown }}", "b": "{{ prefect.variables.x }}"},
        VARIABLES,
        on_missing=lambda p: p.full_match,
    )
    assert kept == {"a": "{{ prefect.variables.unknown }}", "b": "hello"}


def test_block_reference() -> None:
    assert templating.block_reference("prefect.blocks.secret.tok") == ("secret", "tok", None)
    assert templating.block_reference("prefect.blocks.json.cfg.value.a[0]") == (
        "json",
        "cfg",
        "value.a[0]",
    )
    assert templating.block_reference("prefect.blocks.secret") is None
    assert templating.block_reference("$HOME") is None


def test_step_outputs_are_the_standard_placeholders_outside_prefects_context() -> None:
    """One predicate for what only a build/push step fills (desired, jobvars and the rules)."""
    text = "{{ build.image }} {{ ctx.flow.name }} {{ $HOME }} {{ prefect.variables.v }}"
    found = {p.name: p.is_step_output for p in templating.find_placeholders(text)}
    assert found == {
        "build.image": True,
        "ctx.flow.name": False,
        "$HOME": False,
        "prefect.variables.v": False,
    }


class _CountingPattern:
    """PLACEHOLDER_PATTERN that records the strings it scans."""

    def __init__(self, real: re.Pattern[str]) -> None:
        self.real = real
        self.scanned: list[str] = []

    def findall(self, text: str) -> list[Any]:
        self.scanned.append(text)
        return self.real.findall(text)

    def sub(self, repl: Any, text: str) -> str:
        return self.real.sub(repl, text)


def test_strings_without_braces_are_not_scanned(monkeypatch: pytest.MonkeyPatch) -> None:
    # A plan walks every deployment's strings through several templating passes: only the
    # few holding "{{" can hold a placeholder, the regex is not run over the rest.
    counting = _CountingPattern(templating.PLACEHOLDER_PATTERN)
    monkeypatch.setattr(templating, "PLACEHOLDER_PATTERN", counting)
    template = {"a": "plain", "b": ["x", {"c": "y {not one}"}], "d": "at {{ $HOME }}"}
    found = templating.find_placeholders(template)
    assert [p.full_match for p in found] == ["{{ $HOME }}"]
    assert counting.scanned == ["at {{ $HOME }}"]
    counting.scanned.clear()
    resolved = templating.resolve_env({"k": "v", "e": "{{ $X }}-{x}"}, {"X": "1"})
    assert resolved == {"k": "v", "e": "1-{x}"}
    assert counting.scanned == ["{{ $X }}-{x}"]
