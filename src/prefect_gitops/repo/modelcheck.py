"""A file's data checked against its pydantic model, every error a located diagnostic: the
unknown key with a did-you-mean, the missing key at its mapping, the wrong value with the
type expected and a hint."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .diagnostics import Diagnostics
from .project import SourceFile
from .source import JsonPath, format_path
from .suggest import did_you_mean

M = TypeVar("M", bound=BaseModel)


def _has(container: Any, part: Any) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)


def _data_path(data: Any, loc: Iterable[Any]) -> JsonPath:
    """Keep only the parts of a pydantic `loc` that exist in the data (drop union tags)."""
    out: list[Any] = []
    current = data
    for part in loc:
        if _has(current, part):
            out.append(part)
            current = current[part]
    return tuple(out)


def _union_prefix(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The part of `loc` before its first union-branch tag (a part the data does not have)."""
    current = data
    for i, part in enumerate(loc):
        if not _has(current, part):
            return loc[:i]
        current = current[part]
    return loc


_EXPECTED = {
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "list_type": "a list",
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "time_delta_type": "a duration",
    "time_delta_parsing": "a duration",
    "datetime_type": "a date and time",
    "datetime_parsing": "a date and time",
    "datetime_from_date_parsing": "a date and time",
    "date_type": "a date",
    "date_parsing": "a date",
    "none_required": "nothing (null)",
}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _type_hint(path: JsonPath, value: Any, expected: list[str]) -> str | None:
    last = next((p for p in reversed(path) if isinstance(p, str)), None)
    if "a string" in expected and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'quote it to keep it as text: "{value}"'
    if last == "work_pool" and path and path[-1] == "work_pool" and isinstance(value, str):
        return f"write `work_pool: {{name: {value}}}`"
    if last == "schedule" and isinstance(value, str):
        return f'a schedule is a mapping: `schedule: {{cron: "{value}"}}`'
    if last == "schedules" and isinstance(value, str):
        return f'a schedule is a mapping, e.g. `- cron: "{value}"`'
    if last in ("build", "push", "pull") and isinstance(value, str):
        return "steps are mappings, e.g. `- prefect.deployments.steps.git_clone: {repository: ...}`"
    return None


@dataclass(frozen=True)
class _ErrorSite:
    """Where a model's errors are reported: the file, the value's path in it, whose it is."""

    source: SourceFile
    prefix: JsonPath
    label: str
    resource: str | None


def model_errors(
    exc: ValidationError,
    data: Any,
    source: SourceFile,
    prefix: JsonPath,
    diags: Diagnostics,
    *,
    label: str,
    resource: str | None,
    unknown_is_error: bool,
    known_fields: Iterable[str] = (),
) -> None:
    """Turn a pydantic error into one diagnostic per offending value.

    A value that fails every branch of a union gets one message listing what each branch
    expected; when a branch got further into the value, its (more specific) errors win.
    """
    site = _ErrorSite(source, prefix, label, resource)
    groups: dict[JsonPath, list[tuple[JsonPath, Mapping[str, Any]]]] = {}
    for err in exc.errors():
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            if unknown_is_error:
                _unknown_key_error(site, _data_path(data, loc), loc[-1], diags, known_fields)
            continue
        if err["type"] == "missing":
            missing = (*_data_path(data, loc[:-1]), loc[-1])
            groups.setdefault(missing, []).append((missing, err))
            continue
        groups.setdefault(_data_path(data, _union_prefix(data, loc)), []).append(
            (_data_path(data, loc), err)
        )
    for group_path, errs in groups.items():
        if errs[0][1]["type"] == "missing":
            _missing_key_error(site, group_path, diags)
        else:
            _invalid_value_error(site, data, errs, diags)


def _unknown_key_error(
    site: _ErrorSite, path: JsonPath, key: Any, diags: Diagnostics, known_fields: Iterable[str]
) -> None:
    parent_path = path[:-1] if path and path[-1] == key else path
    where_text = format_path((*site.prefix, *parent_path)) or "the top level"
    diags.error(
        "S001",
        f"{site.label}: unknown key '{key}' in {where_text}",
        site.source.span((*site.prefix, *parent_path, key), key=True),
        path=format_path((*site.prefix, *parent_path, key)),
        resource=site.resource,
        hint=did_you_mean(str(key), known_fields),
    )


def _missing_key_error(site: _ErrorSite, group_path: JsonPath, diags: Diagnostics) -> None:
    key, where = group_path[-1], group_path[:-1]
    inside_of = f" in `{format_path((*site.prefix, *where))}`" if where else ""
    diags.error(
        "S009",
        f"{site.label}: missing required key '{key}'{inside_of}",
        site.source.span((*site.prefix, *where), key=bool(where)),
        path=format_path((*site.prefix, *group_path)),
        resource=site.resource,
    )


def _invalid_value_error(
    site: _ErrorSite,
    data: Any,
    errs: list[tuple[JsonPath, Mapping[str, Any]]],
    diags: Diagnostics,
) -> None:
    """One diagnostic for a value, from the errors of the branches that got deepest into it."""
    deepest = max(len(p) for p, _ in errs)
    chosen = [(p, e) for p, e in errs if len(p) == deepest]
    path = chosen[0][0]
    value = _value_at(data, path)
    expected: list[str] = []
    others: list[str] = []
    for _, detail in chosen:
        wanted = _EXPECTED.get(detail["type"])
        bucket, text = (expected, wanted) if wanted else (others, _clean_message(detail))
        if text not in bucket:
            bucket.append(text)
    shown = format_path((*site.prefix, *path)) or "the document"
    if expected and not others:
        message = f"`{shown}` should be {' or '.join(expected)}, not {_kind(value)}"
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            message += f" ({short_repr(value)})"
    else:
        reasons = others + [f"expected {e}" for e in expected]
        message = f"`{shown}` = {short_repr(value)} is invalid: {'; or '.join(reasons)}"
    banned = any("Prefect server rejects" in str(e.get("msg")) for _, e in chosen)
    diags.error(
        "S013" if banned else "S002",
        f"{site.label}: {message}",
        site.source.span((*site.prefix, *path)),
        path=format_path((*site.prefix, *path)),
        resource=site.resource,
        hint=_type_hint((*site.prefix, *path), value, expected),
    )


def field_names(model: type[BaseModel]) -> set[str]:
    """Every field name of a model and of the models nested in it."""
    names: set[str] = set()
    todo: list[type[BaseModel]] = [model]
    seen: set[type[BaseModel]] = set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name, info in current.model_fields.items():
            names.add(info.alias or name)
            for arg in _walk_types(info.annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    todo.append(arg)
    return names


def _walk_types(annotation: Any) -> list[Any]:
    out = [annotation]
    for arg in getattr(annotation, "__args__", ()) or ():
        out.extend(_walk_types(arg))
    return out


def _clean_message(err: Mapping[str, Any]) -> str:
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg[0].lower() + msg[1:] if msg else msg


def _value_at(data: Any, path: JsonPath) -> Any:
    current = data
    for part in path:
        current = current[part]
    return current


def short_repr(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_model(
    model: type[M],
    data: Any,
    source: SourceFile,
    prefix: JsonPath,
    diags: Diagnostics,
    *,
    label: str,
    resource: str | None,
    unknown_is_error: bool,
) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        model_errors(
            exc,
            data,
            source,
            prefix,
            diags,
            label=label,
            resource=resource,
            unknown_is_error=unknown_is_error,
            known_fields=field_names(model),
        )
        return None
