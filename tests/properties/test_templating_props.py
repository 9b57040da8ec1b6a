"""Property: our templating equals Prefect's own (`prefect.utilities.templating`) on any
template and values: the same placeholders found, the same result or the same failure."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prefect.utilities import templating as prefect_templating

from prefect_gitops.prefect import templating

PROPS = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
NAMES = st.sampled_from(["a", "b", "a.b", "x[0]", "$HOME", "$X", "prefect.variables.v", "c"])


@st.composite
def template_text(draw: st.DrawFn) -> str:
    parts = draw(
        st.lists(
            st.one_of(
                st.text(alphabet="ab {}$._-", max_size=6),
                NAMES.map(lambda n: "{{ " + n + " }}"),
                NAMES.map(lambda n: "{{" + n + "}}"),
            ),
            max_size=4,
        )
    )
    return "".join(parts)


TEMPLATES = st.recursive(
    st.one_of(template_text(), st.integers(), st.none(), st.booleans()),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)
KINDS = {
    "STANDARD": "STANDARD",
    "BLOCK_DOCUMENT": "BLOCK",
    "VARIABLE": "VARIABLE",
    "ENV_VAR": "ENV",
}
VALUES = st.dictionaries(
    st.sampled_from(["a", "b", "c", "x"]),
    st.one_of(st.integers(), st.text(max_size=5), st.none(), st.lists(st.integers(), max_size=2),
              st.dictionaries(st.sampled_from(["b", "0"]), st.integers(), max_size=2)),
    max_size=4,
)  # fmt: skip


def _outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        return "error", type(exc).__name__


@PROPS
@given(TEMPLATES)
def test_find_placeholders_equals_prefect(template: Any) -> None:
    ours = {(p.full_match, p.name, p.kind.name) for p in templating.find_placeholders(template)}
    theirs = {
        (p.full_match, p.name, KINDS[p.type.name])
        for p in prefect_templating.find_placeholders(template)
    }
    assert ours == theirs


@PROPS
@given(TEMPLATES, VALUES, st.booleans())
def test_apply_values_equals_prefect(template: Any, values: dict[str, Any], remove: bool) -> None:
    environ = {"HOME": "/root", "X": "1"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("os.environ", environ)
        theirs = _outcome(prefect_templating.apply_values, template, values, remove_notset=remove)
    ours = _outcome(
        templating.apply_values, template, values, remove_notset=remove, environ=environ
    )
    if theirs[0] == "ok" and theirs[1] is prefect_templating.NotSet:
        assert ours == ("ok", templating.NotSet)
    else:
        assert ours == theirs
