from __future__ import annotations

import pytest

from prefect_gitops.state.resources import (
    Address,
    FieldChange,
    Resource,
    State,
    canonical_json,
    join_path,
)


def test_address_text_round_trip() -> None:
    for address in (
        Address.pool("prod"),
        Address.queue("prod", "critical"),
        Address.deployment("etl", "daily"),
        Address.variable("x"),
        Address.limit("db.writes"),
        Address.flow("my flow"),
    ):
        assert Address.parse(str(address)) == address
    assert str(Address.queue("prod", "critical")) == "work_queue.prod/critical"


@pytest.mark.parametrize("text", ["nope", "work_pool.", "widget.x", ".x"])
def test_address_parse_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        Address.parse(text)


def test_fingerprint_ignores_order_and_meta() -> None:
    a = Resource(Address.pool("a"), {"x": 1, "y": [1, 2]}, {"id": "1"})
    b = Resource(Address.pool("b"), {"z": None})
    one = State.of([a, b])
    two = State.of(
        [
            Resource(Address.pool("b"), {"z": None}),
            Resource(a.address, {"y": [1, 2], "x": 1}, {"id": "2"}),
        ]
    )
    assert one.fingerprint() == two.fingerprint()
    assert one.fingerprint().startswith("sha256:")
    assert list(one) == [a.address, b.address]
    changed = State.of([Resource(a.address, {"x": 2, "y": [1, 2]}), b])
    assert changed.fingerprint() != one.fingerprint()


def test_canonical_json_is_stable() -> None:
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'


def test_join_path() -> None:
    assert join_path(("job_variables", "env", "X")) == "job_variables.env.X"
    assert (
        join_path(("schedules", "[daily]", "schedule", "cron")) == "schedules[daily].schedule.cron"
    )
    assert join_path(("pull_steps", 0, "a")) == "pull_steps[0].a"


def test_field_change_round_trip() -> None:
    change = FieldChange("tags", ["a"], ["a", "b"], "changed")
    assert FieldChange.from_dict(change.to_dict()) == change
    with pytest.raises(ValueError):
        FieldChange.from_dict({"path": "x", "kind": "weird"})
