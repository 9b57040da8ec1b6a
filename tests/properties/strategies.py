"""Hypothesis strategies shared by the property-based tests: YAML-ish values, mutations of
real documents, and prefect.yaml shapes with hostile leaves."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Scalars YAML round-trips, plus the awkward ones (big ints, NaN-free floats, odd text).
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["<<", "~", "yes", "no", "0x1F", "1e999", "{{ x }}", "::error::x", "\x1b[31m"]),
)
KEYS = st.one_of(
    st.text(min_size=1, max_size=12),
    st.sampled_from(["name", "entrypoint", "work_pool", "job_variables", "schedules", "tags"]),
)


def values(max_leaves: int = 25) -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


# Characters that change YAML structure when inserted somewhere.
YAML_NOISE = st.text(alphabet=":-[]{}&*!|>'\"#%@,?\n\t <x1", min_size=1, max_size=6)


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """`text` after a few insertions, deletions, duplications or re-indentations."""
    lines = text.splitlines(keepends=True) or [""]
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        action = draw(st.sampled_from(["insert", "delete", "dup", "indent", "dedent"]))
        at = draw(st.integers(min_value=0, max_value=max(len(lines) - 1, 0)))
        line = lines[at] if lines else ""
        if action == "insert":
            col = draw(st.integers(min_value=0, max_value=len(line)))
            lines[at] = line[:col] + draw(YAML_NOISE) + line[col:]
        elif action == "delete" and lines:
            del lines[at]
        elif action == "dup" and lines:
            lines.insert(at, line)
        elif action == "indent":
            lines[at] = "  " + line
        elif action == "dedent":
            lines[at] = line[2:] if line.startswith("  ") else line
    return "".join(lines)


DEPLOYMENT_KEYS = [
    "name", "entrypoint", "parameters", "tags", "description", "version", "schedule",
    "schedules", "work_pool", "job_variables", "concurrency_limit", "paused", "triggers",
    "enforce_parameter_schema", "pull", "build", "push", "slug", "flow_name",
]  # fmt: skip
POOL_KEYS = ["name", "work_queue_name", "job_variables"]
SCHEDULE_KEYS = ["cron", "interval", "rrule", "timezone", "anchor_date", "active", "slug", "day_or"]


def _field(keys: list[str], leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys), leaf, max_size=len(keys))


@st.composite
def deployments(draw: st.DrawFn) -> dict[str, Any]:
    """A deployment mapping, sometimes sane, sometimes with hostile values in any field."""
    deployment: dict[str, Any] = {
        "name": draw(st.one_of(st.text(min_size=1, max_size=10), SCALARS)),
        "entrypoint": draw(
            st.sampled_from(["flows/hello.py:hello", "flows/hello.py:nope", "x.py:y", "", 7])
        ),
    }
    deployment.update(draw(_field(DEPLOYMENT_KEYS, values(8))))
    if draw(st.booleans()):
        deployment["work_pool"] = draw(_field(POOL_KEYS, values(6)))
    if draw(st.booleans()):
        deployment["schedules"] = draw(st.lists(_field(SCHEDULE_KEYS, SCALARS), max_size=3))
    return deployment


SCHEDULE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "cron": st.one_of(
        st.sampled_from(["0 * * * *", "0 0 L * *", "0 0 1W * *", "* * * * * *", "@daily", "R"]),
        st.text(max_size=20),
    ),
    "interval": st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(),
        st.sampled_from(["PT1H", "01:00:00", "P1000000000D", "-5", "0"]),
    ),
    "rrule": st.one_of(
        st.sampled_from(
            [
                "FREQ=DAILY",
                "RRULE:FREQ=DAILY;UNTIL=99991231T000000Z",
                "FREQ=SECONDLY;COUNT=99999999999",
                "DTSTART:00010101T000000\nRRULE:FREQ=YEARLY",
                "FREQ=YEARLY;UNTIL=99999999T999999Z",
                "FREQ=DAILY;BYHOUR=99",
            ]
        ),
        st.text(max_size=40),
    ),
    "timezone": st.one_of(st.sampled_from(["UTC", "Europe/Paris", "Mars/Base", ""]), SCALARS),
    "anchor_date": st.one_of(
        st.sampled_from(["2024-01-01T00:00:00", "99999-01-01", "0001-01-01T00:00:00+14:00"]),
        SCALARS,
    ),
    "day_or": SCALARS,
    "active": SCALARS,
}


@st.composite
def schedules(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(sorted(SCHEDULE_VALUES)), unique=True, max_size=4))
    return {key: draw(SCHEDULE_VALUES[key]) for key in keys}
