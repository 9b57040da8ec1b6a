from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_gitops.repo.models import IgnoreRule
from prefect_gitops.state import diff
from prefect_gitops.state.diff import align, diff_specs, ignored_fields, resource_changes
from prefect_gitops.state.resources import Address, Resource, State


def paths(
    before: dict[str, Any], after: dict[str, Any], **kw: Any
) -> dict[str, tuple[Any, Any, str]]:
    return {c.path: (c.before, c.after, c.kind) for c in diff_specs(before, after, **kw)}


def test_nested_dicts_give_leaf_paths() -> None:
    before = {"job_variables": {"env": {"A": "1", "B": "2"}}, "n": 1}
    after = {"job_variables": {"env": {"A": "9", "C": "3"}}, "n": 1}
    assert paths(before, after) == {
        "job_variables.env.A": ("1", "9", "changed"),
        "job_variables.env.B": ("2", None, "removed"),
        "job_variables.env.C": (None, "3", "added"),
    }


def test_plain_lists_change_as_a_whole_and_numbers_by_value() -> None:
    before = {"tags": ["a", "b"], "interval": 3600, "pull": [{"x": 1}]}
    after = {"tags": ["a", "b", "c"], "interval": 3600.0, "pull": [{"x": 2}]}
    assert paths(before, after) == {
        "tags": (["a", "b"], ["a", "b", "c"], "changed"),
        "pull[0].x": (1, 2, "changed"),
    }


def test_schedules_are_keyed_by_slug() -> None:
    def sched(slug: str, cron: str) -> dict[str, Any]:
        return {"slug": slug, "schedule": {"cron": cron}, "active": True}

    before = {"schedules": [sched("a", "0 * * * *"), sched("b", "1 * * * *")]}
    after = {
        "schedules": [sched("b", "1 * * * *"), sched("a", "5 * * * *"), sched("c", "2 * * * *")]
    }
    changes = paths(before, after)
    assert changes["schedules[a].schedule.cron"] == ("0 * * * *", "5 * * * *", "changed")
    assert changes["schedules[c]"][2] == "added"
    assert len(changes) == 2


def test_skip_patterns_cover_children_and_globs() -> None:
    before = {
        "paused": False,
        "schedules": [{"slug": "a", "active": True, "schedule": {"cron": "x"}}],
    }
    after = {
        "paused": True,
        "schedules": [{"slug": "a", "active": False, "schedule": {"cron": "y"}}],
    }
    changes = paths(before, after, skip=["paused", "schedules.*.active"])
    assert set(changes) == {"schedules[a].schedule.cron"}
    assert paths(before, after, skip=["schedules"]) == {"paused": (False, True, "changed")}


def test_ignore_rules_match_both_address_forms() -> None:
    rules = [
        IgnoreRule(resource="deployment/*", fields=["paused"]),
        IgnoreRule(resource="work_pool.prod-*", fields=["concurrency_limit"]),
        IgnoreRule(fields=["description"]),
    ]
    assert ignored_fields(Address.deployment("f", "d"), rules) == ["paused", "description"]
    assert ignored_fields(Address.pool("prod-1"), rules) == ["concurrency_limit", "description"]
    assert ignored_fields(Address.pool("dev"), rules) == ["description"]


def test_unmanaged_and_opaque_fields_are_not_reported() -> None:
    desired = Resource(
        Address.deployment("f", "d"),
        {"schedules": [], "job_variables": {"token": "{{ prefect.blocks.secret.t }}", "x": 1}},
        {"unmanaged": ["schedules"], "opaque": ["job_variables.token"]},
    )
    live = Resource(
        desired.address,
        {"schedules": [{"slug": "s", "schedule": {}}], "job_variables": {"token": "plain", "x": 2}},
    )
    assert [c.path for c in resource_changes(live, desired)] == ["job_variables.x"]


def queue(pool: str, name: str, priority: int | None) -> Resource:
    return Resource(Address.queue(pool, name), {"pool": pool, "name": name, "priority": priority})


def test_priorities_compare_by_order() -> None:
    desired = State.of([queue("p", "a", 1), queue("p", "b", 5), queue("p", "c", 10)])
    renumbered = State.of(
        [queue("p", "a", 2), queue("p", "b", 3), queue("p", "c", 7), queue("p", "default", 1)]
    )
    aligned = align(desired, renumbered)
    for res in desired.values():
        assert aligned[res.address].spec["priority"] == res.spec["priority"]
    assert aligned[Address.queue("p", "a")].meta["stored_priority"] == 2
    reordered = State.of([queue("p", "a", 1), queue("p", "b", 10), queue("p", "c", 5)])
    aligned = align(desired, reordered)
    assert (
        aligned[Address.queue("p", "b")].spec["priority"] == 10
    )  # order differs: raw numbers shown


def deployment(schedules: list[dict[str, Any]], **meta: Any) -> Resource:
    return Resource(Address.deployment("f", "d"), {"schedules": schedules}, meta)


def item(slug: str | None, schedule: dict[str, Any]) -> dict[str, Any]:
    return {
        "slug": slug,
        "schedule": schedule,
        "active": True,
        "parameters": {},
        "max_scheduled_runs": None,
    }


def test_unslugged_live_schedules_match_generated_slugs() -> None:
    cron = {"cron": "0 1 * * *", "timezone": None, "day_or": True}
    interval = {"interval": 60.0, "anchor_date": None, "timezone": "UTC"}
    desired = deployment(
        [item("schedule-1", interval), item("schedule-2", cron)],
        generated_slugs=["schedule-1", "schedule-2"],
    )
    live_interval = {"interval": 60.0, "anchor_date": "2026-01-01T00:00:00Z", "timezone": "UTC"}
    live = deployment(
        [item(None, cron), item(None, live_interval)], unslugged_ids=["id-cron", "id-int"]
    )
    aligned = align(State.of([desired]), State.of([live]))[desired.address]
    assert resource_changes(aligned, desired) == []
    assert aligned.meta["schedule_ids"] == {"schedule-1": "id-int", "schedule-2": "id-cron"}
    assert aligned.meta["assigned_slugs"] == ["schedule-1", "schedule-2"]


def test_extra_unslugged_live_schedule_shows_as_removed() -> None:
    cron = {"cron": "0 1 * * *", "timezone": None, "day_or": True}
    desired = deployment([item("daily", cron)])
    live = deployment(
        [item("daily", cron), item(None, cron)], unslugged_ids=["x"], schedule_ids={"daily": "d"}
    )
    aligned = align(State.of([desired]), State.of([live]))[desired.address]
    changes = resource_changes(aligned, desired)
    assert [(c.path, c.kind) for c in changes] == [("schedules[#1]", "removed")]
    assert aligned.meta["schedule_ids"] == {"daily": "d", "#1": "x"}


def test_changed_unslugged_schedule_is_matched_by_the_others_content() -> None:
    cron = {"cron": "0 5 * * *", "timezone": None, "day_or": True}
    interval = {"interval": 60.0, "anchor_date": None, "timezone": "UTC"}
    desired = deployment(
        [item("schedule-1", cron), item("schedule-2", interval)],
        generated_slugs=["schedule-1", "schedule-2"],
    )
    live_interval = {**interval, "anchor_date": "2026-01-01T00:00:00Z"}
    live_cron = {**cron, "cron": "0 4 * * *"}
    live = deployment([item(None, live_interval), item(None, live_cron)], unslugged_ids=["i", "c"])
    aligned = align(State.of([desired]), State.of([live]))[desired.address]
    changes = resource_changes(aligned, desired)
    assert [(c.path, c.before, c.after) for c in changes] == [
        ("schedules[schedule-1].schedule.cron", "0 4 * * *", "0 5 * * *")
    ]
    assert aligned.meta["schedule_ids"] == {"schedule-1": "c", "schedule-2": "i"}


def dep_resource(spec: dict[str, Any], meta: dict[str, Any] | None = None) -> Resource:
    return Resource(Address.deployment("f", "d"), spec, meta or {})


def test_tags_reordered_on_the_server_only_are_no_change_but_counts_matter() -> None:
    want = dep_resource({"tags": ["k8s", "etl", "k8s"]})
    for have, changed in (
        (["etl", "k8s", "k8s"], False),  # the same tags, another order
        (["k8s", "etl"], True),  # a duplicate lost
        (["etl", "k8s", "x"], True),
    ):
        aligned = align(
            State({want.address: want}), State({want.address: dep_resource({"tags": have})})
        )
        changes = diff_specs(aligned[want.address].spec, want.spec)
        assert bool(changes) is changed, have


def test_version_accepts_what_prefect_deploy_writes_elsewhere() -> None:
    want = dep_resource({"version": "abc"}, {"version_alternatives": [None]})
    for have, changed in ((None, False), ("abc", False), ("old-md5", True)):
        live = State({want.address: dep_resource({"version": have})})
        aligned = align(State({want.address: want}), live)
        assert bool(diff_specs(aligned[want.address].spec, want.spec)) is changed, have
    strict = dep_resource({"version": "abc"})
    aligned = align(
        State({strict.address: strict}), State({strict.address: dep_resource({"version": None})})
    )
    assert diff_specs(aligned[strict.address].spec, strict.spec)


def test_equal_specs_are_not_serialized(monkeypatch: pytest.MonkeyPatch) -> None:
    """A no-op plan of 10,000 deployments compared each pair as canonical JSON text; equal
    data is now told apart from unequal without it."""
    dumped: list[object] = []
    monkeypatch.setattr(diff, "canonical_json", lambda v: dumped.append(v) or json.dumps(v))
    spec = {"name": "d", "tags": ["a"], "schedules": [{"slug": "s", "schedule": {"cron": "1"}}]}
    assert diff.diff_specs(spec, json.loads(json.dumps(spec))) == [] and dumped == []
    assert diff.diff_specs(spec, {**spec, "tags": ["b"]}) != [] and dumped


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2) | st.sampled_from([0.0, 1.0, 2.5, "1", "a"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("ab"), inner),
    max_leaves=8,
)


@given(a=_VALUES, b=_VALUES)
def test_python_equality_implies_no_field_change(a: Any, b: Any) -> None:
    """The shortcut is exact: what Python calls equal (1 == 1.0 == True) the deep comparison
    it skips (deepdiff, numeric types ignored) finds equal too."""
    if a == b:
        assert diff._equal(a, b)


def test_deepdiff_is_imported_only_for_a_difference() -> None:
    """A no-op plan never needs deepdiff: it is imported on the first difference."""
    code = (
        "import sys; from prefect_gitops.state.diff import diff_specs; "
        "assert diff_specs({'a': [1]}, {'a': [1.0]}) == []; print('deepdiff' in sys.modules); "
        "assert diff_specs({'a': 1}, {'a': 2}); print('deepdiff' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]
