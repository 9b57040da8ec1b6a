from __future__ import annotations

from prefect_gitops.render.masking import MASK
from prefect_gitops.render.structural import (
    MISSING,
    Leaf,
    format_pair,
    format_value,
    structural_diff,
)


def test_only_changed_leaves_with_their_paths() -> None:
    before = {"a": {"b": 1, "c": [1, 2]}, "d": "x", "gone": True}
    after = {"a": {"b": 2, "c": [1, 2]}, "d": "x", "new": None}
    assert structural_diff(before, after) == [
        Leaf("a.b", "changed", 1, 2),
        Leaf("gone", "removed", True, MISSING),
        Leaf("new", "added", MISSING, None),
    ]


def test_bool_and_int_are_different() -> None:
    assert structural_diff({"x": True}, {"x": 1}) == [Leaf("x", "changed", True, 1)]


def test_odd_keys_are_quoted() -> None:
    assert structural_diff({}, {"prefect.io/flow": "x"}, "labels") == [
        Leaf('labels["prefect.io/flow"]', "added", MISSING, "x")
    ]


def test_named_list_items_pair_by_slug() -> None:
    before = [{"slug": "a", "cron": "1"}, {"slug": "b", "cron": "2"}]
    after = [{"slug": "b", "cron": "3"}, {"slug": "a", "cron": "1"}]
    assert structural_diff(before, after, "schedules") == [
        Leaf("schedules[b].cron", "changed", "2", "3")
    ]


def test_short_lists_change_as_a_whole() -> None:
    assert structural_diff(["a", "b"], ["a", "c"], "tags") == [
        Leaf("tags", "changed", ["a", "b"], ["a", "c"])
    ]


def test_long_lists_change_by_position() -> None:
    before = [f"item-number-{i}" for i in range(10)]
    after = [*before[:9], "other"]
    assert structural_diff(before, after, "args") == [
        Leaf("args[9]", "changed", "item-number-9", "other")
    ]


def test_small_added_subtree_expands_big_one_does_not() -> None:
    small = {"k": {"a": "x" * 30, "b": "y" * 30}}
    assert structural_diff(MISSING, small, "v") == [
        Leaf("v.k.a", "added", MISSING, "x" * 30),
        Leaf("v.k.b", "added", MISSING, "y" * 30),
    ]
    big = {f"k{i}": "z" * 10 for i in range(20)}
    assert structural_diff(MISSING, big, "v") == [Leaf("v", "added", MISSING, big)]


def test_format_value() -> None:
    assert format_value(None) == "null"
    assert format_value(True) == "true"
    assert format_value(1.5) == "1.5"
    assert format_value("a\nb") == '"a\\nb"'
    assert format_value(MASK) == MASK
    assert format_value({"b": 1, "a": [1]}) == '{"a": [1], "b": 1}'
    assert format_value({f"k{i}": i for i in range(20)}) == "{…} (20 keys)"
    assert format_value(list(range(40))) == "[…] (40 items)"
    assert format_value("x" * 100) == '"' + "x" * 60 + '…"'


def test_format_pair_shows_where_long_strings_differ() -> None:
    assert format_pair("a" * 70 + "1", "a" * 70 + "2") == (
        '"…' + "a" * 20 + '1"',
        '"…' + "a" * 20 + '2"',
    )
    assert format_pair("1" + "a" * 70, "2" + "a" * 70) == (
        '"1' + "a" * 59 + '…"',
        '"2' + "a" * 59 + '…"',
    )
