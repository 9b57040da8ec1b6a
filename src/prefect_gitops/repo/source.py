"""YAML text -> plain Python values, with a source position for every value.

PyYAML's `safe_load` forgets where values came from and silently keeps the last of two
duplicate keys. We build values straight from libyaml's event stream instead (one pass,
no node tree, no recursion), recording `line:column` for every key and value, rejecting
duplicate keys, bounding nesting depth and alias expansion, and resolving anchors,
aliases and `<<` merge keys exactly as `yaml.safe_load` does (which is what Prefect uses).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

PathKey = str | int
JsonPath = tuple[Any, ...]

MAX_DEPTH = 100
MAX_EXPANDED_NODES = 2_000_000

_Parser: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAGS = {None, "!", "tag:yaml.org,2002:map"}
_SEQ_TAGS = {None, "!", "tag:yaml.org,2002:seq"}
_BLOCK_STYLES = ("|", ">")
_HEADER_END = " \t\r\n\x85\u2028\u2029"


@dataclass(frozen=True, order=True)
class Span:
    """A position in a repository file: `file` is relative to the repo root, 1-based."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class YamlLoadError(Exception):
    """The text is not loadable YAML; carries a 1-based position and what kind of problem.

    `kind` is one of "syntax", "duplicate", "hostile" (nesting or alias expansion past our
    caps, whichever layer noticed first) and "unsupported" (tags, several documents).
    """

    def __init__(
        self,
        message: str,
        line: int,
        column: int,
        hint: str | None = None,
        *,
        kind: str = "syntax",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.hint = hint
        self.kind = kind


@dataclass
class SourceMap:
    """Positions of every key and value of one YAML document, by path."""

    file: str
    values: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    # A path reached through an alias or a merge key -> the path where its anchor was defined.
    redirects: dict[JsonPath, JsonPath] = field(default_factory=dict)
    # With `load_yaml(..., keep_last_duplicate=True)`: (path, where the later key is, the line
    # of the first one) for each key given twice; the later value is kept, as PyYAML does.
    duplicates: list[tuple[JsonPath, tuple[int, int], int]] = field(default_factory=list)

    def span(self, path: JsonPath, *, key: bool = False) -> Span:
        """The position of `path` (its key when `key`), else of its nearest known ancestor."""
        line, column = self._lookup(tuple(path), key, 0)
        return Span(self.file, line, column)

    def _lookup(self, path: JsonPath, key: bool, hops: int) -> tuple[int, int]:
        if key and path in self.keys:
            return self.keys[path]
        if path in self.values:
            return self.values[path]
        if hops > 50:
            return (1, 1)
        for cut in range(len(path), -1, -1):
            prefix = path[:cut]
            target = self.redirects.get(prefix)
            if target is not None:
                return self._lookup(target + path[cut:], key, hops + 1)
            if cut < len(path) and prefix in self.values:
                return self.values[prefix]
        return (1, 1)


@dataclass(slots=True)
class _Frame:
    is_map: bool
    path: JsonPath
    mark: tuple[int, int]
    anchor: str | None
    value: Any
    size: int = 1
    key: Any = None
    has_key: bool = False
    key_mark: tuple[int, int] = (1, 1)
    merges: list[tuple[Any, JsonPath, tuple[int, int]]] = field(default_factory=list)
    flow: bool = False  # `[...]` or `{...}`


@dataclass
class _Anchor:
    value: Any
    path: JsonPath
    size: int


class _Builder:
    def __init__(self, file: str, text: str, *, keep_last_duplicate: bool = False) -> None:
        self.text = text
        self.keep_last_duplicate = keep_last_duplicate
        self.smap = SourceMap(file)
        self.stack: list[_Frame] = []
        self.anchors: dict[str, _Anchor] = {}
        self.open_anchors: set[str] = set()
        self.anchor_marks: dict[str, tuple[int, int]] = {}
        self.root: Any = None
        # A `<<` merge whose value depends on the PyYAML release (see `_merged_value`).
        self.release_dependent = False
        # ids of merged mappings where an own key overrode a merged one (kept alive by
        # the document): merging such a mapping again is release-dependent.
        self.overriding: set[int] = set()
        self.documents = 0
        self.resolver = Resolver()
        self.constructor = SafeConstructor()
        # plain (untagged, unquoted) scalar text -> its value: keys and values repeat a lot
        self.plain: dict[str, Any] = {}

    # -- where the next node goes -------------------------------------------------------
    def _child_path(self) -> JsonPath:
        if not self.stack:
            return ()
        parent = self.stack[-1]
        if parent.is_map:
            return (*parent.path, parent.key) if parent.has_key else (*parent.path, "<key>")
        return (*parent.path, len(parent.value))

    def _is_key_position(self) -> bool:
        return bool(self.stack) and self.stack[-1].is_map and not self.stack[-1].has_key

    # -- events -------------------------------------------------------------------------
    def feed(self, event: Any) -> None:
        kind = type(event)
        if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            frame = self.stack.pop()
            value = self._finish_map(frame) if frame.is_map else frame.value
            if frame.anchor is not None:
                self.open_anchors.discard(frame.anchor)
            self._complete(value, frame.size, frame.mark, frame.anchor, frame.path, is_alias=False)
            return
        start = event.start_mark
        mark = (start.line + 1, start.column + 1)
        if kind is yaml.ScalarEvent:
            anchor = event.anchor
            if anchor is not None:
                self._define_anchor(anchor, mark)
            value = self._scalar(event, mark)
            # a scalar's own path is only needed to remember where its anchor points
            origin = self._child_path() if anchor is not None else ()
            self._complete(value, 1, mark, anchor, origin, is_alias=False)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            self._open_collection(event, kind is yaml.MappingStartEvent, mark)
        elif kind is yaml.AliasEvent:
            self._alias(event.anchor, mark)
        elif kind is yaml.DocumentStartEvent:
            self.documents += 1
            if self.documents > 1:
                raise YamlLoadError(
                    "the file holds more than one YAML document ('---'); Prefect reads only one",
                    *mark,
                    kind="unsupported",
                )

    def _open_collection(self, event: Any, is_map: bool, mark: tuple[int, int]) -> None:
        tag = event.tag
        if (is_map and tag not in _MAP_TAGS) or (not is_map and tag not in _SEQ_TAGS):
            raise YamlLoadError(
                f"unsupported YAML tag {tag!r} (Prefect reads files with yaml.safe_load)",
                *mark,
                kind="unsupported",
            )
        if len(self.stack) >= MAX_DEPTH:
            raise _too_deep(*mark)
        if event.anchor is not None:
            self._define_anchor(event.anchor, mark)
            self.open_anchors.add(event.anchor)
        self.stack.append(
            _Frame(
                is_map,
                self._child_path(),
                mark,
                event.anchor,
                {} if is_map else [],
                flow=bool(event.flow_style),
            )
        )

    def _alias(self, name: str, mark: tuple[int, int]) -> None:
        if name in self.open_anchors:
            raise YamlLoadError(f"alias *{name} refers to its own anchor (a cycle)", *mark)
        anchor = self.anchors.get(name)
        if anchor is None:
            raise YamlLoadError(f"alias *{name} refers to an anchor that is not defined", *mark)
        path = self._child_path()
        if not self._is_key_position():
            self.smap.redirects[path] = anchor.path
        self._complete(anchor.value, anchor.size, mark, None, anchor.path, is_alias=True)

    def _define_anchor(self, name: str, mark: tuple[int, int]) -> None:
        # yaml.safe_load refuses a second anchor of the same name in one document.
        first = self.anchor_marks.get(name)
        if first is not None:
            raise YamlLoadError(
                f"duplicate anchor &{name} (first defined at line {first[0]})", *mark
            )
        self.anchor_marks[name] = mark

    def _scalar(self, event: Any, mark: tuple[int, int]) -> Any:
        tag = event.tag
        if not event.style and self.stack and self.stack[-1].flow:  # plain: None or ""
            _check_flow_plain(event.value, mark)
        if tag is None and event.implicit[0]:
            known = self.plain.get(event.value, _UNSEEN)
            if known is _UNSEEN:
                known = self._scalar_value(event, mark)
                if not isinstance(known, _MergeKey):
                    self.plain[event.value] = known
            return known
        return self._scalar_value(event, mark)

    def _scalar_value(self, event: Any, mark: tuple[int, int]) -> Any:
        tag = event.tag
        if event.style in _BLOCK_STYLES:
            self._check_block_header(event.start_mark.index, mark)
        if tag is None or tag == "!":
            # PyYAML's own parser resolves every `!`-tagged scalar as plain (so `a: !` is
            # null); libyaml marks an empty one as not implicit.
            if event.implicit[0] or tag == "!":
                tag = self.resolver.resolve(  # type: ignore[no-untyped-call]
                    ScalarNode, event.value, (True, False)
                )
            else:
                tag = _STR_TAG
        if tag == _STR_TAG:
            return event.value
        if tag == _MERGE_TAG:
            return _MergeKey()
        construct = SafeConstructor.yaml_constructors.get(tag)
        if construct is None:
            raise YamlLoadError(
                f"unknown YAML tag {tag!r}; Prefect reads files with yaml.safe_load, "
                "which cannot construct it",
                *mark,
                kind="unsupported",
            )
        try:
            return construct(self.constructor, ScalarNode(tag, event.value))
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            raise YamlLoadError(
                f"invalid {tag.rsplit(':', 1)[-1]} value {event.value!r}: {exc}", *mark
            ) from None

    def _check_block_header(self, index: int, mark: tuple[int, int]) -> None:
        """PyYAML refuses a block scalar header followed by anything but a space or a line
        break (`key: >#comment`), which libyaml accepts."""
        end = index + 1
        while end < len(self.text) and end < index + 4 and self.text[end] in "+-0123456789":
            end += 1
        if end < len(self.text) and self.text[end] not in _HEADER_END:
            raise YamlLoadError(
                "YAML syntax error: expected chomping or indentation indicators, "
                f"but found {self.text[end]!r} (while scanning a block scalar)",
                *mark,
            )

    def _complete(
        self,
        value: Any,
        size: int,
        mark: tuple[int, int],
        anchor: str | None,
        origin: JsonPath,
        *,
        is_alias: bool,
    ) -> None:
        if type(value) is _MergeKey and not self._is_key_position():
            # yaml.safe_load has no constructor for a `<<` anywhere but as a mapping key
            raise YamlLoadError("'<<' is a merge key; as a value it must be quoted ('<<')", *mark)
        if anchor is not None:
            self.anchors[anchor] = _Anchor(value, origin, size)
        if not self.stack:
            self.root = value
            if not is_alias:
                self.smap.values[()] = mark
            return
        parent = self.stack[-1]
        parent.size += size
        if parent.size > MAX_EXPANDED_NODES:
            raise YamlLoadError(
                f"aliases expand to more than {MAX_EXPANDED_NODES:,} values "
                "(an alias-expansion bomb?)",
                *parent.mark,
                kind="hostile",
            )
        if not parent.is_map:
            path = (*parent.path, len(parent.value))
            parent.value.append(value)
            self.smap.values.setdefault(path, mark)
            return
        if not parent.has_key:
            if type(value) is not str and (
                not isinstance(value, Hashable) or isinstance(value, (dict, list))
            ):
                raise YamlLoadError("a mapping key must be a plain value, not a collection", *mark)
            parent.key, parent.has_key, parent.key_mark = value, True, mark
            return
        key = parent.key
        parent.has_key = False
        if isinstance(key, _MergeKey):
            self._collect_merge(parent, value, origin, mark)
            return
        path = (*parent.path, key)
        if key in parent.value:
            self._duplicate_key(path, parent.key_mark)
        parent.value[key] = value
        self.smap.keys[path] = parent.key_mark
        self.smap.values[path] = mark

    def _duplicate_key(self, path: JsonPath, key_mark: tuple[int, int]) -> None:
        first = self.smap.keys.get(path, (0, 0))
        if self.keep_last_duplicate:
            self.smap.duplicates.append((path, key_mark, first[0]))
            return
        raise YamlLoadError(
            f"duplicate key {path[-1]!r} (first defined at line {first[0]}); "
            "YAML loaders silently keep only the last one",
            *key_mark,
            kind="duplicate",
        )

    def _collect_merge(
        self, frame: _Frame, value: Any, origin: JsonPath, mark: tuple[int, int]
    ) -> None:
        if isinstance(value, dict):
            frame.merges.append((value, origin, mark))
            return
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            origins = self.smap_item_origins(origin, len(value))
            frame.merges.extend(
                (item, item_origin, mark) for item, item_origin in zip(value, origins, strict=True)
            )
            return
        raise YamlLoadError(
            "a merge key '<<' needs a mapping or a list of mappings (e.g. '<<: *defaults')",
            *mark,
        )

    def smap_item_origins(self, seq_path: JsonPath, count: int) -> list[JsonPath]:
        return [self.smap.redirects.get((*seq_path, i), (*seq_path, i)) for i in range(count)]

    def _finish_map(self, frame: _Frame) -> dict[Any, Any]:
        if not frame.merges:
            return frame.value  # type: ignore[no-any-return]
        # Merged pairs first, in order, then the mapping's own keys, which override them.
        # Which of two merged values for one key wins differs between PyYAML releases, so
        # when that happens `release_dependent` leaves the value to PyYAML itself.
        merged: dict[Any, Any] = {}
        for source, origin, _mark in frame.merges:
            if id(source) in self.overriding:
                self.release_dependent = True
            for key, val in source.items():
                if key in merged and merged[key] is not val:
                    self.release_dependent = True
                merged[key] = val
                here: JsonPath = (*frame.path, key)
                self.smap.redirects[here] = (*origin, key)
        for key in frame.value:
            own: JsonPath = (*frame.path, key)
            self.smap.redirects.pop(own, None)
        if not merged.keys().isdisjoint(frame.value):
            self.overriding.add(id(merged))
        merged.update(frame.value)
        return merged


_UNSEEN: Any = object()


class _MergeKey:
    """The `<<` key; never ends up in a loaded value."""

    __slots__ = ()

    def __hash__(self) -> int:
        return 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _MergeKey)


def _events(text: str) -> Iterator[Any]:
    parser = _Parser(text)
    try:
        yield from iter(parser.get_event, None)  # None once the stream has ended
    finally:
        parser.dispose()


def _check_flow_plain(value: str, mark: tuple[int, int]) -> None:
    """PyYAML ends a plain scalar inside `[ ]` or `{ }` at any of `?[]{}` (and then refuses
    the document); libyaml, which we parse with, reads them as part of the value."""
    for char in _FLOW_STOPS:
        if char in value:
            raise YamlLoadError(
                f"YAML syntax error: {char!r} inside the unquoted value {value!r} in a flow "
                "collection ([...] or {...}); PyYAML, which Prefect reads with, refuses it",
                *mark,
                hint="quote the value",
            )


_FLOW_STOPS = "?[]{}"


def _too_deep(line: int, column: int) -> YamlLoadError:
    return YamlLoadError(
        f"nesting deeper than {MAX_DEPTH} levels; this is not a Prefect configuration",
        line,
        column,
        kind="hostile",
    )


def _from_pyyaml(exc: yaml.YAMLError) -> YamlLoadError:
    if not isinstance(exc, yaml.MarkedYAMLError):
        return YamlLoadError(f"YAML error: {exc}", 1, 1)
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or "invalid YAML"
    if "nesting depth" in problem:
        # PyYAML >= 6.0.4 caps nesting in its scanner, sometimes before our own cap
        return _too_deep(line, column)
    context = f" ({exc.context})" if exc.context else ""
    return YamlLoadError(f"YAML syntax error: {problem}{context}", line, column)


def _scan_like_prefect(text: str) -> None:
    """Refuse the tabs PyYAML's own scanner refuses (in plain scalars, between tokens).

    libyaml, which we parse with for speed, accepts them; Prefect's `yaml.safe_load` does
    not. Only files holding a tab pay for this second, pure-Python scan.
    """
    try:
        for _ in yaml.scan(text, Loader=yaml.SafeLoader):
            pass
    except yaml.YAMLError as exc:
        raise _from_pyyaml(exc) from None


def _merged_value(text: str) -> Any:
    """The document as the installed PyYAML's `safe_load` builds it.

    Where one key gets two different merged values, which one wins changed between PyYAML
    releases (6.0.3: the later `<<` key, but the first mapping of a `<<: [..]` list; 6.0.4:
    the later one, unless both keys are one string object, as CPython makes every
    one-character key, then the first), so only such documents take their value from PyYAML
    itself; positions still come from our own pass, which has already bounded depth and
    alias expansion.
    """
    try:
        return yaml.load(text, Loader=_Parser)  # _Parser is a safe loader
    except yaml.YAMLError as exc:
        raise _from_pyyaml(exc) from None


def load_yaml(text: str, file: str, *, keep_last_duplicate: bool = False) -> tuple[Any, SourceMap]:
    """Parse one YAML document. Raises `YamlLoadError` with a position on any problem; a key
    given twice in one mapping is one, unless `keep_last_duplicate` (then the later value is
    kept, as `yaml.safe_load` keeps it, and `SourceMap.duplicates` says where)."""
    builder = _Builder(file, text, keep_last_duplicate=keep_last_duplicate)
    try:
        for event in _events(text):
            builder.feed(event)
    except yaml.YAMLError as exc:
        raise _from_pyyaml(exc) from None
    if "\t" in text:
        _scan_like_prefect(text)
    if builder.release_dependent:
        return _merged_value(text), builder.smap
    return builder.root, builder.smap


def format_path(path: JsonPath) -> str:
    """`("deployments", 2, "work_pool", "env")` -> `deployments[2].work_pool.env`."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out.append(f"[{part}]")
        else:
            text = str(part)
            if text.replace("_", "").replace("-", "").isalnum():
                out.append(f".{text}" if out else text)
            else:
                out.append(f"[{text!r}]")
    return "".join(out)
