from __future__ import annotations

import json

from prefect_gitops.ownership import (
    LABEL,
    MAX_VALUE_CHARS,
    Inventory,
    build_inventory,
    decode_inventory,
    encode_inventory,
    inventory_base_name,
    is_owned,
)
from prefect_gitops.state import Address, Resource


def test_base_name_follows_variable_name_rules() -> None:
    assert inventory_base_name("Analytics-K8s") == "prefect_gitops_analytics_k8s"
    assert inventory_base_name("***") == "prefect_gitops_default"


def test_large_inventory_is_sharded_under_the_cap_and_reads_back() -> None:
    resources = [
        Resource(Address.deployment("flow", f"deployment-{i:04d}"), {"i": i}) for i in range(1000)
    ]
    inventory = build_inventory(
        "big", resources, applied_at="2026-01-01T00:00:00Z", desired="sha256:x"
    )
    parts = encode_inventory(inventory)
    assert len(parts) > 1
    assert all(len(json.dumps(value)) <= MAX_VALUE_CHARS for _, value in parts)
    assert [name for name, _ in parts][:2] == ["prefect_gitops_big", "prefect_gitops_big_2"]
    variables = [{"name": name, "value": value} for name, value in parts]
    decoded = decode_inventory("big", reversed(variables))
    assert decoded == inventory


def test_incomplete_or_foreign_inventories_are_ignored() -> None:
    inventory = Inventory("p", {"work_pool.a": "abc"}, "t1", None)
    ((name, value),) = encode_inventory(inventory)
    assert decode_inventory("p", [{"name": name, "value": value}]) == inventory
    assert decode_inventory("other", [{"name": name, "value": value}]) is None
    torn = dict(value, parts=2)
    assert decode_inventory("p", [{"name": name, "value": torn}]) is None
    assert decode_inventory("p", [{"name": name, "value": "not json object"}]) is None


def test_is_owned_by_label_or_inventory() -> None:
    labelled = Resource(Address.deployment("f", "d"), {}, {"labels": {LABEL: "p"}})
    listed = Resource(Address.pool("a"), {})
    stranger = Resource(Address.pool("b"), {})
    inventory = Inventory("p", {"work_pool.a": "x"})
    assert is_owned(labelled, "p", None)
    assert not is_owned(labelled, "q", None)
    assert is_owned(listed, "p", inventory)
    assert not is_owned(stranger, "p", inventory)
