"""Prefect's `{{ placeholder }}` templating, re-implemented (Prefect 3.9.1 semantics).

A faithful re-implementation of `prefect.utilities.templating` (we never import Prefect
at run time): the placeholder pattern, the four placeholder kinds, `apply_values` with its
exact keep/drop rules, and offline versions of the block/variable/environment passes that
`prefect deploy` runs over a deployment before sending it.

Behaviour worth knowing (all mirrored on purpose):

- A string that is exactly one *standard* placeholder takes the value's type; a missing
  value yields `NotSet`, which drops the dict key or list item (`remove_notset=True`).
- Inline placeholders are interpolated with `str()`: `"x-{{ n }}"` -> `"x-{'a': 1}"`.
- `{{ $NAME }}` always yields a string from the environment, `""` when unset (the key stays).
- Substitution is a single pass: a substituted value is never expanded again.
- `prefect.blocks.*` and `prefect.variables.*` are left untouched by `apply_values`.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

PLACEHOLDER_PATTERN: Final = re.compile(r"({{\s*([\w\.\-\[\]$]+)\s*}})")
BLOCK_PREFIX: Final = "prefect.blocks."
VARIABLE_PREFIX: Final = "prefect.variables."
ENV_PREFIX: Final = "$"

_log = logging.getLogger(__name__)


class _NotSetType:
    """The one `NotSet` value: a placeholder had no value (distinct from `None`)."""

    _instance: _NotSetType | None = None

    def __new__(cls) -> _NotSetType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NotSet"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "NotSet"


NotSet: Final = _NotSetType()


class PlaceholderKind(str, enum.Enum):
    STANDARD = "standard"
    BLOCK = "block"
    VARIABLE = "variable"
    ENV = "env"


@dataclass(frozen=True)
class Placeholder:
    full_match: str  # e.g. "{{  $HOME }}"
    name: str  # e.g. "$HOME"
    kind: PlaceholderKind

    @property
    def is_step_output(self) -> bool:
        """`{{ step_id.key }}`: filled by a build/push step (`ctx.*` is Prefect's own context)."""
        return self.kind is PlaceholderKind.STANDARD and not self.name.startswith("ctx.")


class Opaque:
    """Base of our own markers for values unknown offline; templating passes them through.

    Prefect never sees these: they stand for a value (a block's data, a step output...)
    that only exists at deploy time.
    """


class TemplateTypeError(ValueError):
    """A value Prefect's templating cannot walk (not str/int/float/bool/None/dict/list)."""


def placeholder_kind(name: str) -> PlaceholderKind:
    if name.startswith(BLOCK_PREFIX):
        return PlaceholderKind.BLOCK
    if name.startswith(VARIABLE_PREFIX):
        return PlaceholderKind.VARIABLE
    if name.startswith(ENV_PREFIX):
        return PlaceholderKind.ENV
    return PlaceholderKind.STANDARD


def find_placeholders(template: Any) -> set[Placeholder]:
    """Every placeholder in a string, or in the values (not keys) of nested dicts/lists."""
    if template is None or isinstance(template, (int, float, bool, Opaque)):
        return set()
    if isinstance(template, str):
        if "{{" not in template:  # most strings: no regex (a plan runs this ~40x per deployment)
            return set()
        return {
            Placeholder(full, name, placeholder_kind(name))
            for full, name in PLACEHOLDER_PATTERN.findall(template)
        }
    if isinstance(template, dict):
        found: set[Placeholder] = set()
        for value in template.values():
            found |= find_placeholders(value)
        return found
    if isinstance(template, list):
        found = set()
        for item in template:
            found |= find_placeholders(item)
        return found
    raise TemplateTypeError(f"Unexpected type: {type(template)}")


def may_hold_placeholders(value: Any) -> bool:
    """False only when no string in `value` holds a placeholder: its repr has no `{{` (one
    C-speed repr instead of a walk; repr escapes no brace, and no structure repr shows
    `{{`: a dict is never a key). A pass over such a value changes nothing."""
    return "{{" in repr(value)


def is_whole_placeholder(text: str) -> Placeholder | None:
    """The placeholder when `text` is exactly one placeholder and nothing else."""
    found = find_placeholders(text)
    if len(found) == 1:
        (only,) = found
        if only.full_match == text:
            return only
    return None


def _canonical_int(key: str) -> int | str:
    try:
        number = int(key)
    except ValueError:
        return key
    return number if str(number) == key else key


def lookup(values: Any, name: str, default: Any = NotSet) -> Any:
    """Prefect's `get_from_dict`: `a.b[0].c` through dicts, lists (and strings)."""
    current = values
    try:
        for part in name.replace("[", ".").replace("]", "").split("."):
            key: Any = part
            if isinstance(current, Mapping):
                if key not in current:
                    key = _canonical_int(part)
            else:
                with contextlib.suppress(ValueError):
                    key = int(part)
            current = current[key]
    except (TypeError, KeyError, IndexError):
        return default
    return current


def apply_values(
    template: Any,
    values: Mapping[str, Any],
    *,
    remove_notset: bool = True,
    warn_on_notset: bool = False,
    skip_prefixes: Collection[str] | None = None,
    environ: Mapping[str, str] | None = None,
    on_notset: Callable[[Placeholder], None] | None = None,
) -> Any:
    """Replace placeholders in `template` with `values`, exactly as Prefect 3.9.1 does.

    `environ` stands in for `os.environ` when resolving `{{ $NAME }}` (Prefect reads the
    process environment). `on_notset` is called for each placeholder that found no value.
    Returns `NotSet` for a whole-string placeholder without a value.
    """
    return _Substitution(
        values,
        env=os.environ if environ is None else environ,
        prefixes=tuple(skip_prefixes or ()),
        remove_notset=remove_notset,
        warn_on_notset=warn_on_notset,
        on_notset=on_notset,
    ).walk(template)


@dataclass(frozen=True)
class _Substitution:
    """One `apply_values` pass: its values and options, walked over a template."""

    values: Mapping[str, Any]
    env: Mapping[str, str]
    prefixes: tuple[str, ...]
    remove_notset: bool
    warn_on_notset: bool
    on_notset: Callable[[Placeholder], None] | None

    def walk(self, node: Any) -> Any:
        if node is NotSet or node is None or isinstance(node, (int, float, Opaque)):
            return node
        if isinstance(node, str):
            return self.substitute(node)
        if isinstance(node, dict):
            out: dict[Any, Any] = {}
            for key, value in node.items():
                new = self.walk(value)
                if new is not NotSet:
                    out[key] = new
                elif not self.remove_notset:
                    out[key] = value
            return out
        if isinstance(node, list):
            items: list[Any] = []
            for value in node:
                new = self.walk(value)
                if new is not NotSet:
                    items.append(new)
                elif not self.remove_notset:
                    items.append(value)
            return items
        raise TemplateTypeError(f"Unexpected template type {type(node).__name__!r}")

    def substitute(self, text: str) -> Any:
        placeholders = find_placeholders(text)
        if self.prefixes:
            placeholders = {p for p in placeholders if not p.name.startswith(self.prefixes)}
        if not placeholders:
            return text
        if len(placeholders) == 1:
            (only,) = placeholders
            if only.full_match == text and only.kind is PlaceholderKind.STANDARD:
                value = lookup(self.values, only.name)
                if value is NotSet:
                    self.missing(only, only.name)
                return value
        replacements: dict[str, str] = {}
        for placeholder in placeholders:
            if placeholder.kind is PlaceholderKind.STANDARD:
                value = lookup(self.values, placeholder.name)
            elif placeholder.kind is PlaceholderKind.ENV:
                value = self.env.get(placeholder.name.lstrip(ENV_PREFIX), NotSet)
            else:
                continue
            if value is NotSet:
                self.missing(placeholder, placeholder.full_match)
                if self.remove_notset:
                    replacements[placeholder.full_match] = ""
            else:
                replacements[placeholder.full_match] = str(value)
        return PLACEHOLDER_PATTERN.sub(
            lambda match: replacements.get(match.group(1), match.group(1)), text
        )

    def missing(self, placeholder: Placeholder, shown: str) -> None:
        if self.warn_on_notset:
            _log.warning(
                "Value for placeholder %r not found in provided values. Please ensure that "
                "the placeholder is spelled correctly and that the corresponding value is "
                "provided.",
                shown,
            )
        if self.on_notset is not None:
            self.on_notset(placeholder)


def resolve_variables(
    template: Any,
    variables: Mapping[str, Any],
    *,
    on_missing: Callable[[Placeholder], Any] | None = None,
) -> Any:
    """Prefect's `resolve_variables`, reading from a mapping instead of the API.

    A string that is exactly `{{ prefect.variables.x }}` becomes the typed value; inline,
    it is `str()`'d. A missing variable becomes `""` as Prefect does, unless `on_missing`
    returns something other than `NotSet` for it (e.g. to keep the text for later).
    """

    def value_of(placeholder: Placeholder) -> Any:
        name = placeholder.name.replace(VARIABLE_PREFIX, "")
        if name in variables:
            return variables[name]
        if on_missing is not None:
            kept = on_missing(placeholder)
            if kept is not NotSet:
                return kept
        return ""

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            placeholders = find_placeholders(node)
            if not any(p.kind is PlaceholderKind.VARIABLE for p in placeholders):
                return node
            if len(placeholders) == 1:
                (only,) = placeholders
                if only.full_match == node:
                    return value_of(only)
            text = node
            # Prefect replaces one placeholder after another (not a single pass).
            for placeholder in sorted(placeholders, key=lambda p: p.full_match):
                if placeholder.kind is PlaceholderKind.VARIABLE:
                    text = text.replace(placeholder.full_match, str(value_of(placeholder)))
            return text
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(template)


def resolve_env(template: Any, environ: Mapping[str, str]) -> Any:
    """`prefect deploy`'s environment pass: `apply_values(cfg, os.environ, remove_notset=False)`.

    Resolves `{{ $NAME }}` and any standard placeholder named like an environment variable;
    what has no value is left in place.
    """
    return apply_values(template, environ, remove_notset=False, environ=environ)


def block_reference(name: str) -> tuple[str, str, str | None] | None:
    """`prefect.blocks.<type-slug>.<name>[.<path>]` -> (type slug, document name, path)."""
    if not name.startswith(BLOCK_PREFIX):
        return None
    parts = name[len(BLOCK_PREFIX) :].split(".", 2)
    if len(parts) < 2:
        return None
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None
