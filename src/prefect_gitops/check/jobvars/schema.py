"""The server's handling of a pool's `variables` schema, as `prefect/server/api/validation.py`
and `prefect/utilities/schema_tools/validation.py` (3.9.1) do it: the schema checked against
the Draft 2020-12 metaschema, preprocessed (optional properties accept null, tuple `items`
become `prefixItems`, block definitions accept `{"$ref": ...}`) with every `required` key
removed, the pool defaults that count, and validation errors worded as problems. Each schema
is compiled once and the problems of a (property, value) remembered: a repository has
thousands of deployments on a few pools.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Hashable
from copy import deepcopy
from typing import Any

import jsonschema
import referencing
import referencing.exceptions
from jsonschema.exceptions import ValidationError, best_match

from ...prefect.templating import Opaque
from ..quickvalid import surely_valid
from .deploytime import SCALARS, Resolved, Unknown, has_unknown
from .problems import Path, Problem, ProblemKind, short


def _skip_unknown(check: Any) -> Any:
    def wrapped(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        if isinstance(instance, Opaque):
            return None
        return check(validator, value, instance, schema)

    return wrapped


# Draft 2020-12 as the server uses it; an `Unknown` instance satisfies every keyword.
_Validator: Any = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    {
        name: _skip_unknown(check)
        for name, check in jsonschema.Draft202012Validator.VALIDATORS.items()
    },
)


_FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER


_BLOCK_REF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "$ref": {
            "oneOf": [
                {"type": "string", "format": "uuid"},
                {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 1},
            ]
        }
    },
    "required": ["$ref"],
}


def remove_nested_keys(keys: frozenset[str], obj: Any) -> Any:
    """Prefect's `remove_nested_keys`: through dicts only, never into lists."""
    if not isinstance(obj, dict):
        return obj
    return {k: remove_nested_keys(keys, v) for k, v in obj.items() if k not in keys}


def _fix_null_typing(key: str, schema: dict[str, Any], required: Any, allow_none: bool) -> None:
    if (
        key not in required
        and "type" in schema
        and schema.get("type") != "null"
        and ("default" not in schema or allow_none)
    ):
        schema["anyOf"] = [{"type": schema["type"]}, {"type": "null"}]
        del schema["type"]


def _fix_tuple_items(schema: dict[str, Any]) -> None:
    if schema.get("items") and isinstance(schema["items"], list) and not schema.get("prefixItems"):
        schema["prefixItems"] = deepcopy(schema["items"])
        del schema["items"]


def _process_properties(properties: Any, required: Any, allow_none: bool) -> None:
    if not isinstance(properties, dict):
        return
    required = required if isinstance(required, (list, dict, str)) else []
    for key, schema in properties.items():
        if not isinstance(schema, dict):
            continue
        _fix_null_typing(key, schema, required, allow_none)
        _fix_tuple_items(schema)
        if "properties" in schema:
            _process_properties(schema["properties"], schema.get("required", []), allow_none)


def preprocess_schema(
    schema: dict[str, Any], *, allow_none_with_default: bool = False
) -> dict[str, Any]:
    """Prefect's `preprocess_schema` (pydantic-v1 era fixes), on a copy."""
    schema = deepcopy(schema)
    if "properties" in schema:
        _process_properties(
            schema["properties"], schema.get("required", []), allow_none_with_default
        )
    definitions = schema.get("definitions")
    if isinstance(definitions, dict):
        for definition in list(definitions.values()):
            if not isinstance(definition, dict):
                continue
            if "properties" in definition:
                _process_properties(
                    definition["properties"],
                    definition.get("required", []),
                    allow_none_with_default,
                )
            if "block_type_slug" in definition and isinstance(definition.get("title"), str):
                definitions[definition["title"]] = {
                    "oneOf": [definition, deepcopy(_BLOCK_REF_SCHEMA)]
                }
    return schema


def schema_problems(variables: Any, prefix: Path = ("variables",)) -> list[Problem]:
    """The pool's variables schema against the Draft 2020-12 metaschema."""
    return (
        list(compile_schema(schema_key(variables)).schema_problems)
        if keyable(variables)
        else [Problem(ProblemKind.BROKEN_SCHEMA, prefix, "the variables schema is not JSON data")]
    )


def _variables_problems(variables: Any) -> list[Problem]:
    problems = _meta_problems(variables)
    if not problems and not isinstance(variables, dict):
        # `true` is a valid JSON Schema, but the server reads `variables` as a mapping.
        problems.append(
            Problem(
                ProblemKind.BROKEN_SCHEMA,
                ("variables",),
                "the pool's variables schema must be a mapping (a JSON Schema object), "
                f"not {json.dumps(variables)}",
                "type",
            )
        )
    return problems


def _meta_problems(variables: Any) -> list[Problem]:
    meta = jsonschema.Draft202012Validator(
        jsonschema.Draft202012Validator.META_SCHEMA, format_checker=_FORMATS
    )
    problems = []
    for error in sorted(meta.iter_errors(variables), key=lambda e: list(map(str, e.absolute_path))):
        leaf = best_match([error])
        where = ".".join(str(p) for p in error.absolute_path) or "(top)"
        problems.append(
            Problem(
                ProblemKind.BROKEN_SCHEMA,
                ("variables", *error.absolute_path),
                f"the pool's variables schema is not a valid JSON Schema: at {where}: {leaf.message}",
                str(leaf.validator),
            )
        )
    return problems


def schema_key(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True)


def keyable(schema: Any) -> bool:
    try:
        json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError):
        return False
    return True


class _Compiled:
    """Everything the server derives from one variables schema, built once."""

    def __init__(self, variables: Any) -> None:
        self.variables = variables
        self.schema_problems = _variables_problems(variables)
        self.defaults: dict[str, Any] = {}
        self.deploy_validator: Any = None
        self.load_problems: list[Problem] = []
        # property -> subschema when the schema validates each property on its own (see
        # `validate`); then the problems of one value are remembered per property.
        self.by_property: dict[Any, Any] | None = None
        self.memo: dict[tuple[Any, Hashable], list[Problem]] = {}
        if self.schema_problems:
            return
        registry: referencing.Registry[Any] = referencing.Registry()
        required_free = frozenset({"required"})
        raw = _Validator(
            remove_nested_keys(required_free, variables), format_checker=_FORMATS, registry=registry
        )
        processed = preprocess_schema(variables, allow_none_with_default=True)
        # `jsonschema.validate`, which the server uses for the verdict, checks no formats;
        # the defaults check (`iter_errors` on a validator built with a checker) does.
        deploy_schema = remove_nested_keys(required_free, processed)
        self.deploy_validator = _Validator(deploy_schema, registry=registry)
        if (
            deploy_schema.keys() <= _ANNOTATIONS | {"type", "properties"}
            and deploy_schema.get("type", "object") == "object"
            and isinstance(deploy_schema.get("properties"), dict)
        ):
            self.by_property = deploy_schema["properties"]
        properties = variables.get("properties", {})
        if not isinstance(properties, dict):
            return
        for name, attrs in properties.items():
            if not isinstance(attrs, dict) or "default" not in attrs:
                continue
            default = attrs["default"]
            if isinstance(default, dict) and "$ref" in default:
                ref = default["$ref"]
                if isinstance(ref, dict) and ref.get("block_document_id") is not None:
                    self.defaults[name] = Unknown(short(default), "it is a block document")
                continue
            try:
                invalid = any(True for _ in raw.iter_errors({name: default}))
            except referencing.exceptions.Unresolvable as exc:
                self.load_problems.append(_unresolvable(exc))
                continue
            except RecursionError:
                self.load_problems.append(_circular())
                continue
            if not invalid:
                self.defaults[name] = default

    def pool_default_problems(self) -> list[Problem]:
        """Pool creation: all defaults, merged, against the preprocessed schema."""
        if self.schema_problems:
            return list(self.schema_problems)
        properties = self.variables.get("properties", {})
        if not isinstance(properties, dict):
            return []
        merged: dict[str, Any] = {}
        problems: list[Problem] = []
        for name, attrs in properties.items():
            if not isinstance(attrs, dict) or "default" not in attrs:
                continue
            default = attrs["default"]
            if isinstance(default, dict) and "$ref" in default:
                problems.append(
                    Problem(
                        ProblemKind.OFFLINE,
                        ("variables", "properties", name, "default"),
                        "cannot be checked offline (the default is a block document reference; "
                        "the server answers 404 if that block does not exist)",
                        "$ref",
                    )
                )
                merged[name] = Unknown(short(default), "it is a block document")
                continue
            merged[name] = default
        for problem in self.validate(merged):
            path = problem.path
            if problem.kind is ProblemKind.INVALID and path:
                path = ("variables", "properties", path[0], "default", *path[1:])
            problems.append(Problem(problem.kind, path, problem.message, problem.rule))
        return problems

    def validate(self, instance: dict[str, Any], shown: Resolved | None = None) -> list[Problem]:
        if self.schema_problems:
            return list(self.schema_problems)
        if self.by_property is None:
            return self._validate_whole(instance, shown)
        # The schema checks nothing at the top but `properties` (and `type: object`), so the
        # errors for the instance are, in the schema's property order, those of each present
        # property validated alone. Deployments repeat the pool defaults and most values,
        # so each (property, value) is validated once; values with unknowns never repeat.
        problems = list(self.load_problems)
        if len(self.memo) > _MEMO_LIMIT:
            self.memo.clear()
        for name in self.by_property:
            if name not in instance:
                continue
            value = instance[name]
            key = _value_key(value)
            found = self.memo.get((name, key)) if key is not None else None
            if found is None and key is not None and surely_valid(self.by_property[name], value):
                found = self.memo[(name, key)] = []
            if found is None:
                try:
                    errors = list(self.deploy_validator.iter_errors({name: value}))
                except (referencing.exceptions.Unresolvable, RecursionError):
                    return self._validate_whole(instance, shown)
                found = self._problems(errors, shown)
                if key is not None:
                    self.memo[(name, key)] = found
            problems.extend(found)
        return problems

    def _validate_whole(self, instance: dict[str, Any], shown: Resolved | None) -> list[Problem]:
        problems = list(self.load_problems)
        try:
            errors = list(self.deploy_validator.iter_errors(instance))
        except referencing.exceptions.Unresolvable as exc:
            return [*problems, _unresolvable(exc)]
        except RecursionError:
            return [*problems, _circular()]
        return problems + self._problems(errors, shown)

    def _problems(self, errors: list[ValidationError], shown: Resolved | None) -> list[Problem]:
        problems: list[Problem] = []
        for error in errors:
            if has_unknown(error.instance) and not _certain(error):
                continue  # covered by the "cannot be checked offline" note
            rule, message, path = _describe(error, shown)
            if has_unknown(error.instance):
                message += " (whatever its placeholders resolve to, it is text)"
            problems.append(Problem(ProblemKind.INVALID, path, message, rule))
        return problems


# Top-level schema keywords that never produce an error.
_ANNOTATIONS = frozenset(
    {"title", "description", "$comment", "$schema", "definitions", "$defs", "examples"}
)


_MEMO_LIMIT = 20_000  # per schema; clearing only costs re-validation


def _value_key(value: Any) -> Hashable | None:
    """A key equal only for values that validate and print the same; None when the value is
    not plain data (unknowns, `Opaque`, subclasses) and so must be checked every time."""
    kind = type(value)
    if kind is str:
        return None if "\x00unknown-" in value else value
    if kind in SCALARS:
        return (kind, repr(value))  # repr: -0.0 and 0.0 print differently
    if kind is list:
        items = [_value_key(v) for v in value]
        return None if None in items else ("list", tuple(items))
    if kind is dict:
        pairs = [(_value_key(k), _value_key(v)) for k, v in value.items()]
        return None if any(None in p for p in pairs) else ("dict", tuple(pairs))
    return None


@functools.lru_cache(maxsize=128)
def compile_schema(key: str) -> _Compiled:
    return _Compiled(json.loads(key))


# Many deployments share one pool template object: look it up by identity first (the
# object is kept alive in the cache, so its id cannot be reused while it is there).
_BY_IDENTITY: dict[int, tuple[Any, _Compiled]] = {}


def compiled_for(variables: Any) -> _Compiled | None:
    hit = _BY_IDENTITY.get(id(variables))
    if hit is not None and hit[0] is variables:
        return hit[1]
    if not keyable(variables):
        return None
    compiled = compile_schema(schema_key(variables))
    if len(_BY_IDENTITY) > 256:
        _BY_IDENTITY.clear()
    _BY_IDENTITY[id(variables)] = (variables, compiled)
    return compiled


def _unresolvable(exc: Exception) -> Problem:
    return Problem(
        ProblemKind.BROKEN_SCHEMA,
        ("variables",),
        f"the pool's variables schema has a $ref that cannot be resolved: {exc}",
        "$ref",
    )


def _circular() -> Problem:
    return Problem(
        ProblemKind.BROKEN_SCHEMA,
        ("variables",),
        "the pool's variables schema has circular $refs (the server answers 500)",
        "$ref",
    )


def _type_errors_only(error: ValidationError) -> bool:
    """Every leaf under an anyOf/oneOf at this same instance is a `type` mismatch."""
    if error.validator == "type":
        return True
    if error.validator in ("anyOf", "oneOf") and error.context:
        return all(
            tuple(sub.absolute_path) == tuple(error.absolute_path) and _type_errors_only(sub)
            for sub in error.context
        )
    return False


def _certain(error: ValidationError) -> bool:
    """A type mismatch holds whatever an unknown turns out to be (text stays text)."""
    return _type_errors_only(error)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return short(value)


def _types(error: ValidationError) -> list[str]:
    if error.validator == "type":
        wanted = error.validator_value
        return list(wanted) if isinstance(wanted, list) else [str(wanted)]
    out: list[str] = []
    for sub in error.context or ():
        for name in _types(sub):
            if name not in out:
                out.append(name)
    return out


def _describe(error: ValidationError, shown: Resolved | None) -> tuple[str, str, Path]:
    """(schema keyword, message, path) for one top-level error; anyOf/oneOf via best_match."""
    path: Path = tuple(error.absolute_path)
    instance = shown.show(error.instance) if shown is not None else error.instance
    if _type_errors_only(error):
        return "type", f"{_show(instance)} is not of type {' or '.join(_types(error))}", path
    leaf = best_match([error])
    message = leaf.message
    if shown is not None and "\x00unknown-" in message:
        message = str(shown.show(message))
    leaf_path: Path = tuple(leaf.absolute_path)
    if leaf_path[: len(path)] == path:
        path = leaf_path
    if leaf.validator == "type" and not has_unknown(leaf.instance):
        message = f"{_show(leaf.instance)} is not of type {' or '.join(_types(leaf))}"
    return str(leaf.validator), message, path
