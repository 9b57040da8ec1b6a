from __future__ import annotations

import json
import re

import pytest

from prefect_gitops.state.ownership import (
    LABEL,
    MAX_VALUE_CHARS,
    ForeignInventoryError,
    Inventory,
    build_inventory,
    decode_inventory,
    encode_inventory,
    inventory_base_name,
    inventory_names,
    inventory_search,
    is_owned,
    our_inventory_variables,
    owner_key,
)
from prefect_gitops.state.resources import Address, Resource


def test_base_name_follows_variable_name_rules() -> None:
    name = inventory_base_name("Analytics-K8s")
    assert re.fullmatch(r"prefect_gitops_analytics_k8s_[0-9a-f]{10}", name)
    assert re.fullmatch(r"prefect_gitops_default_[0-9a-f]{10}", inventory_base_name("***"))
    assert len(inventory_base_name("x" * 400) + "_1000") <= 255


def test_names_that_sanitise_alike_never_share_an_inventory_name() -> None:
    projects = ["Team A", "team-a", "team_a", "alpha", "alpha-2", "alpha_2", "alpha@dev"]
    owners = [*map(owner_key, projects), owner_key("alpha", "dev"), owner_key("alpha", "prod")]
    names = [name for owner in owners for name in inventory_names(owner, 30)]
    assert len(names) == len(set(names))  # no part of one owner is any part of another


def test_owner_key_is_one_to_one_over_project_and_environment() -> None:
    pairs = [("a", None), ("a", "dev"), ("a@dev", None), ("a%40dev", None), ("a", "d@v"),
             ("a@d", "v"), ("a%", None), ("a%25", None)]  # fmt: skip
    keys = [owner_key(p, e) for p, e in pairs]
    assert len(set(keys)) == len(keys)
    assert owner_key("plain-name") == "plain-name"  # labels of existing projects stay valid


def test_another_projects_part_named_like_ours_is_not_read() -> None:
    """`alpha`'s old second part name was `alpha-2`'s first: now neither the name nor the
    content can be mistaken for ours."""
    alpha = Inventory("alpha", {"work_pool.a": "x"}, "t1", None)
    other = Inventory("alpha-2", {"work_pool.b": "y"}, "t2", None)
    variables = [{"name": n, "value": v} for n, v in [*encode_inventory(alpha),
                                                       *encode_inventory(other)]]  # fmt: skip
    assert decode_inventory("alpha", variables) == alpha
    assert decode_inventory("alpha-2", variables) == other
    # Our content stored under another part's name is not a part either.
    ((_, value),) = encode_inventory(alpha)
    moved = [{"name": inventory_names("alpha", 2)[1], "value": value}]
    assert decode_inventory("alpha", moved) is None


def test_a_foreign_variable_under_our_name_is_refused() -> None:
    name = inventory_base_name("alpha")
    foreign = [{"name": name, "value": {"v": 1, "project": "beta", "part": 1}}]
    with pytest.raises(ForeignInventoryError, match=name):
        our_inventory_variables("alpha", foreign)
    user_var = [{"name": inventory_names("alpha", 2)[1], "value": "hello"}]
    with pytest.raises(ForeignInventoryError):
        our_inventory_variables("alpha", user_var)
    unrelated = [{"name": "prefect_gitops_alpha_2", "value": "theirs"}]
    assert our_inventory_variables("alpha", unrelated) == {}


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
    base = inventory_base_name("big")
    assert [name for name, _ in parts][:2] == [base, f"{base}_2"]
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


def test_ownership_is_per_environment() -> None:
    dev, prod = owner_key("shop", "dev"), owner_key("shop", "prod")
    deployment = Resource(Address.deployment("f", "d-dev"), {}, {"labels": {LABEL: dev}})
    assert is_owned(deployment, dev, None)
    assert not is_owned(deployment, prod, None)
    assert not is_owned(deployment, "shop", None)
    ((name, value),) = encode_inventory(Inventory(dev, {"work_pool.a": "x"}, "t", None))
    assert decode_inventory(prod, [{"name": name, "value": value}]) is None
    assert inventory_base_name(dev) != inventory_base_name(prod)


def test_an_inventory_written_before_the_hashed_names_is_still_read() -> None:
    """After an upgrade, objects listed under `prefect_gitops_<slug>` stay owned, but only
    when the content names exactly this project (not `alpha-2`'s, not a user's)."""
    legacy = {"v": 1, "project": "alpha", "part": 1, "parts": 1, "applied_at": "t",
              "desired": None, "items": {"work_pool.a": "x"}}  # fmt: skip
    others = {**legacy, "project": "alpha-2", "items": {"work_pool.b": "y"}}
    variables = [
        {"name": "prefect_gitops_alpha", "value": legacy},
        {"name": "prefect_gitops_alpha_2", "value": others},
    ]
    assert decode_inventory("alpha", variables) == Inventory("alpha", {"work_pool.a": "x"}, "t")
    assert decode_inventory("alpha-2", variables) == Inventory("alpha-2", {"work_pool.b": "y"}, "t")
    # Today's inventory wins over a legacy one.
    ((name, value),) = encode_inventory(Inventory("alpha", {"work_pool.c": "z"}, "t2", None))
    current = decode_inventory("alpha", [*variables, {"name": name, "value": value}])
    assert current is not None and dict(current.items) == {"work_pool.c": "z"}
    assert all(inventory_search(p) in n for p, n in (("alpha", name),
                                                     ("alpha", "prefect_gitops_alpha")))  # fmt: skip
