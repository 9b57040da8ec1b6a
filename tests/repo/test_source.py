from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from prefect_gitops.repo import source as source_module
from prefect_gitops.repo.source import MAX_DEPTH, Span, YamlLoadError, format_path, load_yaml
from tests.yaml_values import same_value

CORPUS = Path("/work/shared/corpus/real-world")


EQUAL_TO_SAFE_LOAD = [
    "",
    "# only a comment\n",
    "a: 1\n",
    "a: 1\nb: [1, 2, {c: d}]\n",
    "- 1\n- two\n- 3.5\n- true\n- null\n- ~\n- \n",
    "a: yes\nb: no\nc: on\nd: off\ne: True\nf: FALSE\n",
    "a: 0x1F\nb: 0o17\nc: 017\nd: 1_000\ne: 190:20:30\nf: +12\ng: -0\n",
    "a: 1e3\nb: .inf\nc: -.Inf\nd: 6.8523015e+5\ne: 1_000.5\n",
    "a: 2024-01-02\nb: 2024-01-02T03:04:05Z\nc: 2024-01-02 03:04:05.5 +02:00\n",
    "a: !!str 123\nb: !!int '42'\nc: !!float 1\nd: !!bool yes\ne: !!null ''\n",
    "a: !!binary aGVsbG8=\n",
    "a: ! 12\nb: '12'\nc: \"12\"\n",
    "a: |\n  line one\n  line two\nb: >\n  folded\n  text\n",
    "a: |-\n  keep\nb: >+\n  kept\n\n",
    "'quoted key': 1\n\"other\": 2\n? complex\n: 3\n",
    "7: int key\n2.5: float key\ntrue: bool key\n~: null key\n",
    "a: &anchor {x: 1, y: [1, 2]}\nb: *anchor\n",
    "a: &s scalar\nb: *s\nc: [*s, *s]\n",
    "defaults: &d\n  image: python\n  env: {A: 1}\ndep:\n  <<: *d\n  image: other\n",
    "a: &a {p: 1, q: 1}\nb: &b {p: 2, r: 2}\nc:\n  <<: [*a, *b]\n  q: 3\n",
    "a: &a {p: 1, q: 1}\nb: &b {p: 2, r: 2}\nc:\n  <<: *a\n  <<: *b\n",
    "a: &a {x: 1}\nb:\n  <<: *a\n  <<: {y: 2}\n",
    "<<: {a: 1}\nb: 2\n",
    "base: &base {a: 1}\nmid: &mid\n  <<: *base\n  b: 2\ntop:\n  <<: *mid\n  c: 3\n",
    "a: {'<<': 1, b: 2}\n",
    "k: &k key\n*k : value\n",
    "empty_map: {}\nempty_list: []\nempty_str: ''\n",
    "a: 'it''s'\nb: \"tab\\there\\u00e9\"\nc: plain # comment\n",
    "a: [1, [2, [3, [4]]]]\n",
    "--- \na: 1\n...\n",
    "%YAML 1.1\n---\na: 1\n",
    "a: {b: {c: {d: {e: f}}}}\n",
    "list:\n- &item {name: x}\n- *item\n- <<: *item\n  name: y\n",
    "a: .nan\n",
    "- !!str\n- !!str ''\n",
    "x: 'héllo wörld ✓'\n",
]


@pytest.mark.parametrize("text", EQUAL_TO_SAFE_LOAD)
def test_values_equal_safe_load(text: str) -> None:
    ours, _ = load_yaml(text, "f.yaml")
    assert same_value(ours, yaml.safe_load(text))


REJECTED_BY_BOTH = [
    "a: [1, 2\n",
    "a: 1\n b: 2\n",
    "a: *missing\n",
    "a: &x 1\nb: &x 2\n",
    "? [1]\n: 2\n",
    "a: !!python/object:os.system ls\n",
    "a: !custom 1\n",
    "a: 1\n---\nb: 2\n",
    "a: !!int nope\n",
    "a:\n  <<: 5\n",
    "a: 'unterminated\n",
    "\tkey: value\n",
]


@pytest.mark.parametrize("text", REJECTED_BY_BOTH)
def test_rejects_what_safe_load_rejects(text: str) -> None:
    with pytest.raises((yaml.YAMLError, ValueError)):
        yaml.safe_load(text)
    with pytest.raises(YamlLoadError):
        load_yaml(text, "f.yaml")


def _corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.yaml"))


def _has_duplicate_key(text: str) -> bool:
    def walk(node: yaml.Node) -> bool:
        if isinstance(node, yaml.MappingNode):
            keys = [k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)]
            if len(keys) != len(set(keys)):
                return True
            return any(walk(v) for _, v in node.value)
        if isinstance(node, yaml.SequenceNode):
            return any(walk(v) for v in node.value)
        return False

    node = yaml.compose(text, Loader=yaml.SafeLoader)
    return node is not None and walk(node)


def test_corpus_is_there() -> None:
    assert len(_corpus_files()) == 150


@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: p.name[:3])
def test_corpus_file_equals_safe_load(path: Path) -> None:
    text = path.read_bytes().decode("utf-8")
    try:
        expected = yaml.safe_load(text)
    except yaml.YAMLError:
        with pytest.raises(YamlLoadError):
            load_yaml(text, path.name)
        return
    try:
        ours, _ = load_yaml(text, path.name)
    except YamlLoadError as exc:
        # The one deliberate difference: PyYAML silently keeps the last of two duplicate keys.
        assert exc.message.startswith("duplicate key")
        assert _has_duplicate_key(text)
        return
    assert same_value(ours, expected)


# -- positions ---------------------------------------------------------------------------------


POSITIONS = """\
name: demo
deployments:
  - name: etl
    work_pool:
      name: pool
      job_variables:
        env: {A: "1"}
    tags: [a, b]
"""


def test_positions_of_keys_and_values() -> None:
    _, smap = load_yaml(POSITIONS, "prefect.yaml")
    assert smap.span(("name",), key=True) == Span("prefect.yaml", 1, 1)
    assert smap.span(("name",)) == Span("prefect.yaml", 1, 7)
    assert smap.span(("deployments", 0)) == Span("prefect.yaml", 3, 5)
    assert smap.span(("deployments", 0, "name"), key=True) == Span("prefect.yaml", 3, 5)
    assert smap.span(("deployments", 0, "name")) == Span("prefect.yaml", 3, 11)
    assert smap.span(("deployments", 0, "work_pool", "job_variables"), key=True).line == 6
    assert smap.span(("deployments", 0, "work_pool", "job_variables", "env", "A")) == Span(
        "prefect.yaml", 7, 18
    )
    assert smap.span(("deployments", 0, "tags", 1)) == Span("prefect.yaml", 8, 15)


def test_missing_path_falls_back_to_nearest_ancestor() -> None:
    _, smap = load_yaml(POSITIONS, "prefect.yaml")
    missing = ("deployments", 0, "work_pool", "job_variables", "image")
    assert smap.span(missing) == smap.span(("deployments", 0, "work_pool", "job_variables"))
    assert smap.span(("nope", 3)) == Span("prefect.yaml", 1, 1)


def test_positions_through_aliases_and_merge_keys_point_at_the_anchor() -> None:
    text = (
        "definitions:\n"
        "  pool: &pool\n"
        "    name: shared\n"
        "    job_variables: {image: x}\n"
        "deployments:\n"
        "  - name: a\n"
        "    work_pool: *pool\n"
        "  - name: b\n"
        "    work_pool:\n"
        "      <<: *pool\n"
        "      work_queue_name: q\n"
    )
    data, smap = load_yaml(text, "p.yaml")
    assert data["deployments"][0]["work_pool"]["name"] == "shared"
    assert smap.span(("deployments", 0, "work_pool", "name"), key=True).line == 3
    assert smap.span(("deployments", 0, "work_pool", "job_variables", "image")).line == 4
    assert smap.span(("deployments", 1, "work_pool", "name"), key=True).line == 3
    assert smap.span(("deployments", 1, "work_pool", "work_queue_name"), key=True).line == 11


def test_own_key_overriding_a_merged_key_keeps_its_own_position() -> None:
    text = "d: &d {image: a}\nx:\n  <<: *d\n  image: b\n"
    data, smap = load_yaml(text, "p.yaml")
    assert data["x"]["image"] == "b"
    assert smap.span(("x", "image"), key=True).line == 4


# -- errors --------------------------------------------------------------------------------------


def test_duplicate_key_is_an_error_at_the_second_key() -> None:
    with pytest.raises(YamlLoadError) as info:
        load_yaml("a: 1\nb:\n  c: 1\n  c: 2\n", "f")
    assert "duplicate key 'c' (first defined at line 3)" in info.value.message
    assert (info.value.line, info.value.column) == (4, 3)


def test_duplicate_keys_that_are_equal_after_construction() -> None:
    with pytest.raises(YamlLoadError, match="duplicate key"):
        load_yaml("1: a\n1.0: b\n", "f")


def test_duplicate_anchor_is_rejected_like_safe_load() -> None:
    with pytest.raises(YamlLoadError, match="duplicate anchor &x"):
        load_yaml("a: &x 1\nb: &x 2\n", "f")


def test_recursive_alias_is_rejected() -> None:
    with pytest.raises(YamlLoadError, match="cycle"):
        load_yaml("a: &a [1, *a]\n", "f")


def test_alias_expansion_bomb_is_rejected_quickly() -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    with pytest.raises(YamlLoadError, match="alias-expansion bomb") as info:
        load_yaml("\n".join(lines) + "\n", "f")
    assert info.value.line > 1


@pytest.mark.parametrize("style", ["flow", "block"])
def test_nesting_depth_is_bounded(style: str) -> None:
    depth = MAX_DEPTH + 5
    if style == "flow":
        text = "a: " + "[" * depth + "]" * depth + "\n"
    else:
        text = "".join(f"{'  ' * i}k{i}:\n" for i in range(depth)) + "  " * depth + "v: 1\n"
    with pytest.raises(YamlLoadError, match=f"nesting deeper than {MAX_DEPTH}"):
        load_yaml(text, "f")


# Merge keys resolve differently across the PyYAML releases pyproject.toml allows:
# 6.0.3 lets the later of two `<<` keys win and the first mapping of a `<<: [..]` list;
# 6.0.4 keeps the first `<<` key and dedupes merged keys by object identity.
MERGE_CASES = [
    "a: &a {p: 1, q: 1}\nb: &b {p: 2, r: 2}\nc:\n  <<: *a\n  <<: *b\n",
    "a: &a {pp: 1, q: 1}\nb: &b {pp: 2, r: 2}\nc:\n  <<: *a\n  <<: *b\n",
    "a: &a {pp: 1}\nb: &b {pp: 2}\nc:\n  <<: [*a, *b]\n",
    "a: &a {p: 1}\nb: &b {p: 2}\nc:\n  <<: [*a, *b]\n",
    "base: &base {aa: 1}\nmid: &mid\n  <<: *base\n  aa: 2\ntop:\n  <<: *mid\n",
    "base: &base {a: 1}\nmid: &mid\n  <<: *base\n  a: 2\ntop:\n  <<: [*mid, *base]\n",
    "base: &base {a: 1}\nmid: &mid\n  <<: *base\n  a: 2\ntop:\n  <<: *mid\n",
    "base: &base {a: 1, b: 2}\ntop:\n  <<: [*base, *base]\n  b: 3\n",
]


def _flatten_as_6_0_3(self: Any, node: yaml.MappingNode) -> None:
    """PyYAML 6.0.3's merge order, re-stated: every `<<` in turn, list items reversed."""
    merge: list[Any] = []
    own: list[Any] = []
    for key_node, value_node in node.value:
        if key_node.tag != "tag:yaml.org,2002:merge":
            own.append((key_node, value_node))
            continue
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        if not all(isinstance(s, yaml.MappingNode) for s in sources):
            raise yaml.constructor.ConstructorError(None, None, "bad merge", node.start_mark)
        collected: list[Any] = []
        for source in reversed(sources) if isinstance(value_node, yaml.SequenceNode) else sources:
            _flatten_as_6_0_3(self, source)
            collected.extend(source.value)
        merge.extend(collected)
    node.value = merge + own


@pytest.mark.parametrize("text", MERGE_CASES)
def test_merges_equal_the_installed_safe_load(text: str) -> None:
    ours, _ = load_yaml(text, "f.yaml")
    assert same_value(ours, yaml.safe_load(text))


@pytest.mark.parametrize("text", MERGE_CASES)
def test_merges_follow_pyyaml_6_0_3_rules_when_installed(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yaml.constructor.SafeConstructor, "flatten_mapping", _flatten_as_6_0_3)
    ours, _ = load_yaml(text, "f.yaml")
    assert same_value(ours, yaml.safe_load(text))


def test_two_merge_keys_later_wins_under_6_0_3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yaml.constructor.SafeConstructor, "flatten_mapping", _flatten_as_6_0_3)
    ours, _ = load_yaml(MERGE_CASES[0], "f.yaml")
    assert ours["c"] == {"p": 2, "q": 1, "r": 2}


# Merges where no key gets two different merged values: every PyYAML release agrees.
UNAMBIGUOUS_MERGES = [
    "d: &d {image: a, env: {A: 1}}\nx:\n  <<: *d\n  image: b\n",
    "a: &a {x: 1, y: 2}\nb: &b {z: 3, w: 4}\nc:\n  <<: [*a, *b]\n  v: 5\n",
    "a: &a {x: 1}\nb: &b {y: 2}\nc:\n  <<: *a\n  <<: *b\n  x: 3\n",
    "base: &base {a: 1}\nmid: &mid\n  <<: *base\n  b: 2\ntop:\n  <<: *mid\n  c: 3\n",
    "one: &one 1\na: &a {x: *one}\nb: &b {x: *one}\nc:\n  <<: [*a, *b]\n",
]


@pytest.mark.parametrize("text", UNAMBIGUOUS_MERGES)
def test_unambiguous_merges_are_built_in_one_pass(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = yaml.safe_load(text)

    def no_second_parse(text: str) -> Any:
        raise AssertionError("parsed the document a second time")

    monkeypatch.setattr(source_module, "_merged_value", no_second_parse)
    ours, _ = load_yaml(text, "f.yaml")
    assert same_value(ours, expected)
    assert json.dumps(ours) == json.dumps(expected)  # the same key order, too


def test_scanner_nesting_cap_is_a_hostile_input_error() -> None:
    # PyYAML 6.0.4's scanner stops deep flow nesting itself; that is the same verdict.
    text = "deployments: " + "[" * 5_000 + "]" * 5_000 + "\n"
    with pytest.raises(YamlLoadError, match="nesting deeper than") as info:
        load_yaml(text, "f")
    assert info.value.kind == "hostile"


@pytest.mark.parametrize(
    "text", ["parameters: {x: <<}\n", "a: [<<]\n", "<<\n", "a: &m <<\n", "a: !!merge <<\n"]
)
def test_merge_key_as_a_value_is_refused(text: str) -> None:
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text)
    with pytest.raises(YamlLoadError, match="merge key"):
        load_yaml(text, "f")


def test_nesting_below_the_limit_is_fine() -> None:
    depth = MAX_DEPTH - 2
    text = "[" * depth + "]" * depth
    value, _ = load_yaml(text, "f")
    assert value == yaml.safe_load(text)


def test_set_and_omap_tags_are_refused_with_a_clear_message() -> None:
    with pytest.raises(YamlLoadError, match="unsupported YAML tag"):
        load_yaml("a: !!set {x, y}\n", "f")


def test_syntax_error_position_is_one_based() -> None:
    with pytest.raises(YamlLoadError) as info:
        load_yaml("a: 1\nb: [1, 2\nc: 3\n", "f")
    assert info.value.message.startswith("YAML syntax error")
    assert info.value.line >= 2


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), ""),
        (
            ("deployments", 2, "work_pool", "job_variables", "env"),
            "deployments[2].work_pool.job_variables.env",
        ),
        (("prefect-version",), "prefect-version"),
        (
            ("pull", 0, "prefect.deployments.steps.git_clone"),
            "pull[0]['prefect.deployments.steps.git_clone']",
        ),
        ((0, "a"), "[0].a"),
    ],
)
def test_format_path(path: tuple[object, ...], text: str) -> None:
    assert format_path(path) == text


@pytest.mark.parametrize("text", ["tags: [q?uick, ops]\n", "a: {k: x?y}\n", "- [a, b?]\n"])
def test_flow_plain_scalars_pyyaml_refuses_are_refused(text: str) -> None:
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text)
    with pytest.raises(YamlLoadError, match="flow collection"):
        load_yaml(text, "f")


def test_question_marks_in_block_and_quoted_flow_values_stay_fine() -> None:
    text = "a: q?x\nb: ['q?x', \"y?\"]\n"
    assert load_yaml(text, "f")[0] == yaml.safe_load(text)
