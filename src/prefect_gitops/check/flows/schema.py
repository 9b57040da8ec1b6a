"""The parameter schema `prefect deploy` sends, computed exactly as
`prefect.utilities.callables.generate_parameter_schema` (with
`prefect._internal.pydantic.v2_schema`) does, from a signature of real types.

The flows module builds that signature from source without importing user code; this module
only runs pydantic on it, memoising the per-parameter work that repositories repeat.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any

import pydantic
from pydantic.errors import (
    PydanticInvalidForJsonSchema,
    PydanticUndefinedAnnotation,
    PydanticUserError,
)
from pydantic.fields import FieldInfo
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import PydanticUndefined, core_schema


class _GenerateEmptySchemaForUserClasses(GenerateJsonSchema):
    def is_instance_schema(self, schema: core_schema.IsInstanceSchema) -> JsonSchemaValue:
        return {}


def _model_schema(name: str, fields: dict[str, Any]) -> dict[str, Any]:
    config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    model = pydantic.create_model(name, __config__=config, **fields)
    # prefect._internal.pydantic.v2_schema.create_v2_schema turns these two into the
    # TypeError that makes the parameter `Any`; other pydantic refusals fail `prefect deploy`
    try:
        adapter = pydantic.TypeAdapter(model)
    except PydanticUndefinedAnnotation as exc:
        raise TypeError(exc.message) from None
    try:
        schema = adapter.json_schema(
            by_alias=True,
            ref_template="#/definitions/{model}",
            schema_generator=_GenerateEmptySchemaForUserClasses,
        )
    except PydanticUserError as exc:
        if exc.code == "class-not-fully-defined":
            raise TypeError(str(exc)) from None
        raise
    if "$defs" in schema:
        schema["definitions"] = schema["$defs"]
    return schema


@functools.cache  # pydantic's metaclass makes a failed attribute lookup slow
def shadows_base_model(name: str) -> bool:
    return hasattr(pydantic.BaseModel, name)


def _field_name(param: inspect.Parameter, aliases: dict[str, str]) -> str:
    if shadows_base_model(param.name):
        name = param.name + "__"
        aliases[name] = param.name
        return name
    return param.name


def schema_default(default: Any) -> Any:
    """A parameter's default as Prefect's schema takes it: for `x: int = Field(1, ...)`, the
    Field's own default (`PydanticUndefined`, so required, when it has none)."""
    return default.default if isinstance(default, FieldInfo) else default


def is_required(param: inspect.Parameter) -> bool:
    """Whether Prefect's parameter schema lists `param` as required."""
    if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
        return False
    default = schema_default(param.default)
    return default is inspect.Parameter.empty or default is PydanticUndefined


def _field(
    param: inspect.Parameter, position: int, docs: dict[str, str], aliases: dict[str, str]
) -> tuple[str, Any, FieldInfo]:
    # mirrors prefect._internal.pydantic.v2_schema.process_v2_params, which we do not
    # import: importing anything of prefect costs seconds
    name = _field_name(param, aliases)
    type_ = Any if param.annotation is inspect.Parameter.empty else param.annotation
    existing = param.default if isinstance(param.default, FieldInfo) else None
    default = schema_default(param.default)
    description = docs.get(param.name)
    extra: dict[str, Any] = {}
    if existing is not None:
        description = existing.description or description
        if isinstance(existing.json_schema_extra, dict):
            extra.update(existing.json_schema_extra)
    extra.setdefault("position", position)
    if param.kind is inspect.Parameter.VAR_POSITIONAL:
        type_ = list[type_]  # type: ignore[valid-type]
        default = []
    elif param.kind is inspect.Parameter.VAR_KEYWORD:
        type_ = dict[str, type_]  # type: ignore[valid-type]
        default = {}
    info: FieldInfo = pydantic.Field(
        default=... if default is inspect.Parameter.empty else default,
        title=param.name,
        description=description,
        alias=aliases.get(name),
        json_schema_extra=extra,
    )
    return name, type_, info


def pydantic_parameter_schema(signature: inspect.Signature, docs: dict[str, str]) -> dict[str, Any]:
    """Prefect's algorithm verbatim: one probe model per parameter, then the whole model."""
    fields: dict[str, Any] = {}
    aliases: dict[str, str] = {}
    for position, param in enumerate(signature.parameters.values()):
        name, type_, info = _field(param, position, docs, aliases)
        if name in ("cls", "self"):
            continue
        try:
            _model_schema("CheckParameter", {name: (type_, info)})
        except (ValueError, TypeError, PydanticInvalidForJsonSchema):
            type_ = Any
        fields[name] = (type_, info)
    return _parameters_schema(_model_schema("Parameters", fields))


def _parameters_schema(schema: dict[str, Any]) -> dict[str, Any]:
    # ParameterSchema(**schema).model_dump(exclude_unset=True)
    return {
        k: schema[k]
        for k in ("title", "type", "properties", "required", "definitions")
        if k in schema
    }


# Generating a schema through pydantic costs milliseconds per model, and a repository
# repeats the same few parameters (`n: int`, `dry_run: bool = False`) across hundreds of
# flows. A parameter's property schema depends only on what its probe model sees, so it is
# computed once per distinct field and the `Parameters` schema is assembled from those.
# Keys use `repr`, which tells apart everything the annotation and default readers can
# build (`1` / `True` / `1.0`, `List[int]` / `list[int]`); `type` guards the rest.
_FieldKey = tuple[Any, ...]


@dataclass(frozen=True)
class _FieldSchema:
    key: str  # the property's key (alias or name)
    schema: dict[str, Any]  # the property schema (never handed out: callers get copies)
    required: bool


_FIELD_CACHE: dict[_FieldKey, _FieldSchema | None] = {}


def _value_key(value: Any) -> tuple[str, str]:
    return type(value).__qualname__, repr(value)


def _field_key(
    param: inspect.Parameter, position: int, docs: dict[str, str], alias: str | None
) -> _FieldKey:
    return (
        param.name,
        param.kind,
        _value_key(param.annotation),
        _value_key(param.default),
        docs.get(param.name),
        alias,
        position,
    )


def _probe_field(name: str, type_: Any, info: FieldInfo) -> _FieldSchema | None:
    """The field's property schema as the `Parameters` model would hold it, or None when
    only the whole model can tell (definitions, or even `Any` fails)."""
    try:
        schema = _model_schema("CheckParameter", {name: (type_, info)})
    except (ValueError, TypeError, PydanticInvalidForJsonSchema):
        try:
            schema = _model_schema("CheckParameter", {name: (Any, info)})
        except (ValueError, TypeError, PydanticInvalidForJsonSchema):
            return None
    properties = schema.get("properties", {})
    if "definitions" in schema or len(properties) != 1:
        return None
    ((key, prop),) = properties.items()
    return _FieldSchema(key, prop, key in schema.get("required", ()))


def _json_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) for v in value]
    return value


def generate_parameter_schema(signature: inspect.Signature, docs: dict[str, str]) -> dict[str, Any]:
    """What `prefect deploy` sends as `parameter_openapi_schema` for this signature."""
    fields: list[_FieldSchema] = []
    names: set[str] = set()
    aliases: dict[str, str] = {}
    for position, param in enumerate(signature.parameters.values()):
        name = _field_name(param, aliases)
        if name in ("cls", "self"):
            continue
        key = _field_key(param, position, docs, aliases.get(name))
        if key in _FIELD_CACHE:
            probed = _FIELD_CACHE[key]
        else:  # `_field` sets the same alias again
            _, type_, info = _field(param, position, docs, aliases)
            probed = _FIELD_CACHE[key] = _probe_field(name, type_, info)
        if probed is None or name in names or any(f.key == probed.key for f in fields):
            return pydantic_parameter_schema(signature, docs)
        names.add(name)
        fields.append(probed)
    schema: dict[str, Any] = {
        "title": "Parameters",
        "type": "object",
        "properties": {f.key: _json_copy(f.schema) for f in fields},
    }
    required = [f.key for f in fields if f.required]
    if required:
        schema["required"] = required
    return schema
