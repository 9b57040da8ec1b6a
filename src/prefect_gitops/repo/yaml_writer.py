"""Write YAML people edit: block style, keys in the given order, and named anchors.

`dump_yaml(data, anchors={id(obj): "name"})` emits `&name` on the first occurrence of each
listed object and `*name` wherever the *same* object (by identity) occurs again. Nothing
else is ever aliased, even when equal objects repeat.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    anchor_names: Mapping[int, str] = {}

    def ignore_aliases(self, data: Any) -> bool:
        return id(data) not in self.anchor_names

    def generate_anchor(self, node: Any) -> Any:
        # `represented_objects` maps id(object) -> node while a document is serialized.
        for key, represented in self.represented_objects.items():
            if represented is node and key in self.anchor_names:
                return self.anchor_names[key]
        return super().generate_anchor(node)  # pragma: no cover - every alias is named

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        # Indent list items under their key (`key:\n  - item`), as most YAML is written.
        return super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not value.startswith((" ", "\n")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    # Short lists of plain values read best inline: `tags: [etl, docker]`.
    plain = all(isinstance(v, (str, int, float, bool)) and "\n" not in str(v) for v in value)
    inline = plain and sum(len(str(v)) + 2 for v in value) <= 60
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=inline)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(list, _list)


def dump_yaml(data: Any, *, anchors: Mapping[int, str] | None = None, header: str = "") -> str:
    """`data` as a YAML document; `header` lines become `# ` comments on top."""
    dumper_class = type("_NamedDumper", (_Dumper,), {"anchor_names": dict(anchors or {})})
    text = yaml.dump(
        data,
        Dumper=dumper_class,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comment + text
