"""Property: our positioned loader agrees with `yaml.safe_load` (what Prefect uses) on any
document, generated or mutated, or refuses it with a located `YamlLoadError`; never crashes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from prefect_gitops.repo.source import YamlLoadError, load_yaml
from tests.properties.strategies import mutated, values
from tests.yaml_values import same_value

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SEED_TEXTS = sorted(
    p.read_text(encoding="utf-8")
    for p in EXAMPLES.glob("*/prefect.yaml")
)  # fmt: skip
PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _agrees_or_refuses(text: str) -> None:
    try:
        ours, smap = load_yaml(text, "f.yaml")
    except YamlLoadError as exc:
        assert exc.line >= 1 and exc.column >= 1
        assert exc.kind in {"syntax", "duplicate", "hostile", "unsupported"}
        return
    try:
        theirs = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):
        pytest.fail(f"we accept what yaml.safe_load refuses: {text!r}")
    assert same_value(ours, theirs), text
    assert smap.span(()).line >= 1


@PROPS
@given(values())
def test_dumped_values_load_back_equal(value: Any) -> None:
    text = yaml.safe_dump(value, sort_keys=False)
    ours, _ = load_yaml(text, "f.yaml")
    assert same_value(ours, yaml.safe_load(text))


@PROPS
@given(st.sampled_from(SEED_TEXTS).flatmap(mutated))
@example("parameters: {x: <<}\n")  # a merge key as a value: safe_load refuses it
@example("a: &a {p: 1}\nb: &b {p: 2}\nc:\n  <<: *a\n  <<: *b\n")
@example("a: [" * 3000 + "]" * 3000)
@example("tags: [q?uickstart, ops]\n")  # PyYAML ends a flow plain scalar at `?`
def test_mutated_documents_agree_or_are_refused(text: str) -> None:
    _agrees_or_refuses(text)


@PROPS
@given(st.text(alphabet=":-[]{}&*!|>'\"#%@,?\n\t <x1a", max_size=60))
def test_noise_agrees_or_is_refused(text: str) -> None:
    _agrees_or_refuses(text)
