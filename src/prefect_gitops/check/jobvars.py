"""Job variables against a work pool's base job template, with the Prefect server's rules.

Mirrors `prefect/server/api/validation.py` and `prefect/utilities/schema_tools/validation.py`
(3.9.1), without importing Prefect:

- the pool's `variables` schema must be a valid Draft 2020-12 schema ("the pool's schema
  is broken" is reported apart from "your job variables are wrong");
- deployment level: the pool's defaults (those valid against the raw schema) are merged
  under the job variables with a shallow `dict.update`, then validated against the
  preprocessed schema (optional properties accept null, tuple `items` lists become
  `prefixItems`, block definitions accept `{"$ref": ...}`) with every `required` key
  removed recursively (but not inside lists: that is what the server does);
- pool level (creation): every default, merged, against the same preprocessed schema.

Values that are Prefect templates are first resolved as `prefect deploy` does (blocks,
then variables, then the environment, then step outputs, dropping what is still
unresolved). What only exists at deploy time (a block's data, a step output, an
environment variable not set here) becomes an `Unknown`: it is never reported as a type
error, and a note says why it cannot be checked offline.

Pure: no I/O. Problems are data; `rules/` turns them into located diagnostics.
"""

from __future__ import annotations

import enum
import functools
import itertools
import json
from collections.abc import Hashable, Iterator, Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import referencing
import referencing.exceptions
from jsonschema.exceptions import ValidationError, best_match

from ..prefect import templating
from ..prefect.templating import Opaque, PlaceholderKind
from ..repo.suggest import did_you_mean
from .quickvalid import surely_valid

Path = tuple[str | int, ...]


class ProblemKind(str, enum.Enum):
    INVALID = "invalid"  # the server answers 422
    BROKEN_SCHEMA = "broken-schema"  # the pool's variables schema is not valid (422 too)
    OFFLINE = "offline"  # depends on a value that exists only at deploy time
    DROPPED = "dropped"  # `prefect deploy` drops an unresolved placeholder
    UNKNOWN_KEY = "unknown-key"  # a warning (strict: error): the server accepts and ignores it
    UNREFERENCED = "unreferenced"  # strict: job_configuration never uses it
    MISSING_REQUIRED = "missing-required"  # strict: the server only fails at run creation


SERVER_REJECTS = frozenset({ProblemKind.INVALID, ProblemKind.BROKEN_SCHEMA})


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    path: Path  # inside job_variables (deployments) or the base job template (pools)
    message: str
    rule: str = ""  # the JSON Schema keyword that failed, e.g. "type", "enum"

    @property
    def rejected_by_server(self) -> bool:
        return self.kind in SERVER_REJECTS


def rejected(problems: list[Problem]) -> bool:
    """The server's verdict: would it answer 422?"""
    return any(p.rejected_by_server for p in problems)


# -- values unknown offline -------------------------------------------------------------------

_TOKENS = itertools.count()


class Unknown(Opaque):
    """A value that exists only at deploy time; inside text it stands as a unique token."""

    def __init__(
        self,
        text: str,
        reason: str,
        *,
        name: str | None = None,
        registry: dict[str, Unknown] | None = None,
    ) -> None:
        self.text = text  # what the user wrote, e.g. "{{ build-image.image }}"
        self.reason = reason
        self.token = f"\x00unknown-{next(_TOKENS)}\x00"
        self.name = name  # a step output's dotted name, so that `a.b` can extend it
        self.registry = registry
        if registry is not None:
            registry[self.token] = self

    def __str__(self) -> str:
        return self.token

    def __repr__(self) -> str:
        return self.text

    def __getitem__(self, key: object) -> Unknown:
        if self.name is None:
            return self
        name = f"{self.name}.{key}"
        return Unknown(f"{{{{ {name} }}}}", self.reason, name=name, registry=self.registry)


class _StepOutputs(Mapping[str, Any]):
    """Every name is a step output of unknown value (the deployment has build/push steps)."""

    def __init__(self, registry: dict[str, Unknown]) -> None:
        self.registry = registry

    def __getitem__(self, key: str) -> Unknown:
        return Unknown(
            f"{{{{ {key} }}}}",
            "it is the output of a build or push step",
            name=key,
            registry=self.registry,
        )

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class _UnsetEnv(Mapping[str, str]):
    """Environment variables still unresolved after the environment pass: not set here."""

    def __init__(self, registry: dict[str, Unknown]) -> None:
        self.registry = registry

    def __getitem__(self, key: str) -> str:
        unknown = Unknown(f"{{{{ ${key} }}}}", f"environment variable {key} is not set here")
        return _register(self.registry, unknown).token

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _register(registry: dict[str, Unknown], unknown: Unknown) -> Unknown:
    registry[unknown.token] = unknown
    return unknown


def _unknowns_in(value: Any, registry: Mapping[str, Unknown]) -> list[Unknown]:
    if isinstance(value, Unknown):
        return [value]
    if isinstance(value, str):
        if "\x00unknown-" not in value:
            return []
        return [u for token, u in registry.items() if token in value]
    if isinstance(value, dict):
        return [u for v in value.values() for u in _unknowns_in(v, registry)]
    if isinstance(value, list):
        return [u for v in value for u in _unknowns_in(v, registry)]
    return []


def _has_unknown(value: Any) -> bool:
    if isinstance(value, Opaque):
        return True
    if isinstance(value, str):
        return "\x00unknown-" in value
    if isinstance(value, dict):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_unknown(v) for v in value)
    return False


def _leaves(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


# -- prefect deploy's templating of job variables ----------------------------------------------


@dataclass
class Resolved:
    """What `prefect deploy` would send as `job_variables`, with unknowns marked."""

    value: Any
    problems: list[Problem] = field(default_factory=list)
    registry: dict[str, Unknown] = field(default_factory=dict)

    def show(self, value: Any) -> Any:
        """`value` with unknown tokens turned back into the placeholders the user wrote."""
        if isinstance(value, Unknown):
            return value.text
        if isinstance(value, str) and "\x00unknown-" in value:
            for token, unknown in self.registry.items():
                value = value.replace(token, unknown.text)
            return value
        if isinstance(value, dict):
            return {k: self.show(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.show(v) for v in value]
        return value


def _resolve_blocks(node: Any, registry: dict[str, Unknown]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, dict) and ref.get("block_document_id"):
            return _register(registry, Unknown(_short(node), "it is a block document reference"))
        return {key: _resolve_blocks(value, registry) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve_blocks(item, registry) for item in node]
    if not isinstance(node, str):
        return node
    blocks = [p for p in templating.find_placeholders(node) if p.kind is PlaceholderKind.BLOCK]
    if not blocks:
        return node

    def unknown(p: templating.Placeholder) -> Unknown:
        ref = templating.block_reference(p.name)
        where = f"block '{ref[0]}/{ref[1]}'" if ref else f"block placeholder {p.full_match}"
        return _register(registry, Unknown(p.full_match, f"it is read from {where} at deploy time"))

    only = templating.is_whole_placeholder(node)
    if only is not None:
        return unknown(only)
    for placeholder in blocks:
        node = node.replace(placeholder.full_match, unknown(placeholder).token)
    return node


_TEMPLATED: Any = object()
_SCALARS = (str, int, float, bool, type(None))


def _untemplated_copy(value: Any) -> Any:
    """A copy of `value` when no templating pass can change it (plain data without `{{` or
    a `$ref` key anywhere), else `_TEMPLATED`."""
    kind = type(value)
    if kind is str:
        return _TEMPLATED if "{{" in value else value
    if kind in _SCALARS:
        return value
    if kind is dict:
        if "$ref" in value:
            return _TEMPLATED
        out: dict[Any, Any] = {}
        for key, item in value.items():
            copied = _untemplated_copy(item)
            if copied is _TEMPLATED:
                return _TEMPLATED
            out[key] = copied
        return out
    if kind is list:
        items = [_untemplated_copy(item) for item in value]
        return _TEMPLATED if any(i is _TEMPLATED for i in items) else items
    return _TEMPLATED


def resolve_for_deploy(
    job_variables: Any,
    *,
    environ: Mapping[str, str] | None = None,
    variables: Mapping[str, Any] | None = None,
    has_steps: bool = False,
) -> Resolved:
    """Template job variables in `prefect deploy`'s order, as far as can be done offline.

    1. blocks (unknown offline), 2. Prefect variables (`variables`: those the repository
    declares; any other is unknown), 3. the environment pass over `environ`, 4. the
    step-output pass: with build/push steps every remaining standard placeholder is an
    unknown step output; without them `prefect deploy` drops it (key removed, or the text
    emptied), which we mirror and report. `{{ ctx.* }}` stays for the worker.
    """
    untemplated = _untemplated_copy(job_variables)
    if untemplated is not _TEMPLATED:
        return Resolved(untemplated)  # what every pass would give back
    return _resolve_templated(
        job_variables, environ=environ, variables=variables, has_steps=has_steps
    )


def _resolve_templated(
    job_variables: Any,
    *,
    environ: Mapping[str, str] | None,
    variables: Mapping[str, Any] | None,
    has_steps: bool,
) -> Resolved:
    out = Resolved(None)
    registry = out.registry
    value = _resolve_blocks(deepcopy(job_variables), registry)

    def undeclared(p: templating.Placeholder) -> Unknown:
        name = p.name[len(templating.VARIABLE_PREFIX) :]
        return _register(
            registry,
            Unknown(p.full_match, f"Prefect variable '{name}' is not declared in the repository"),
        )

    value = templating.resolve_variables(value, variables or {}, on_missing=undeclared)
    try:
        value = templating.resolve_env(value, environ or {})
    except templating.TemplateTypeError as exc:
        out.problems.append(
            Problem(ProblemKind.INVALID, (), f"prefect deploy cannot template it: {exc}")
        )
        out.value = value
        return out

    if not has_steps:
        out.problems += _dropped_step_outputs(value)
    step_values: Mapping[str, Any] = _StepOutputs(registry) if has_steps else {}
    value = templating.apply_values(
        value, step_values, skip_prefixes=["ctx."], environ=_UnsetEnv(registry)
    )
    out.value = value
    out.problems += _offline_problems(value, registry)
    return out


def _dropped_step_outputs(value: Any) -> list[Problem]:
    """The step-output placeholders `prefect deploy` drops when no build or push step runs."""
    problems: list[Problem] = []
    for path, leaf in _leaves(value):
        if not isinstance(leaf, str):
            continue
        names = sorted(p.full_match for p in templating.find_placeholders(leaf) if p.is_step_output)
        if not names:
            continue
        whole = templating.is_whole_placeholder(leaf) is not None
        effect = "drops this key" if whole else f"replaces {', '.join(names)} with ''"
        problems.append(
            Problem(
                ProblemKind.DROPPED,
                path,
                f"no value for {', '.join(names)}: no build or push step, nor environment "
                f"variable, provides it, so prefect deploy {effect}",
                "placeholder",
            )
        )
    return problems


def _offline_problems(value: Any, registry: Mapping[str, Unknown]) -> list[Problem]:
    problems: list[Problem] = []
    for path, leaf in _leaves(value):
        unknowns = _unknowns_in(leaf, registry)
        if unknowns:
            reasons = "; ".join(dict.fromkeys(f"{u.text}: {u.reason}" for u in unknowns))
            problems.append(
                Problem(
                    ProblemKind.OFFLINE,
                    path,
                    f"cannot be checked offline ({reasons})",
                    "placeholder",
                )
            )
    return problems


# -- the server's schema handling ----------------------------------------------------------------


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
        list(_compile(_key(variables)).schema_problems)
        if _keyable(variables)
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


def _key(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True)


def _keyable(schema: Any) -> bool:
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
                    self.defaults[name] = Unknown(_short(default), "it is a block document")
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
                merged[name] = Unknown(_short(default), "it is a block document")
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
            if _has_unknown(error.instance) and not _certain(error):
                continue  # covered by the "cannot be checked offline" note
            rule, message, path = _describe(error, shown)
            if _has_unknown(error.instance):
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
    if kind in _SCALARS:
        return (kind, repr(value))  # repr: -0.0 and 0.0 print differently
    if kind is list:
        items = [_value_key(v) for v in value]
        return None if None in items else ("list", tuple(items))
    if kind is dict:
        pairs = [(_value_key(k), _value_key(v)) for k, v in value.items()]
        return None if any(None in p for p in pairs) else ("dict", tuple(pairs))
    return None


@functools.lru_cache(maxsize=128)
def _compile(key: str) -> _Compiled:
    return _Compiled(json.loads(key))


# Many deployments share one pool template object: look it up by identity first (the
# object is kept alive in the cache, so its id cannot be reused while it is there).
_BY_IDENTITY: dict[int, tuple[Any, _Compiled]] = {}


def _compiled_for(variables: Any) -> _Compiled | None:
    hit = _BY_IDENTITY.get(id(variables))
    if hit is not None and hit[0] is variables:
        return hit[1]
    if not _keyable(variables):
        return None
    compiled = _compile(_key(variables))
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
    return _short(value)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    if leaf.validator == "type" and not _has_unknown(leaf.instance):
        message = f"{_show(leaf.instance)} is not of type {' or '.join(_types(leaf))}"
    return str(leaf.validator), message, path


# -- public entry points ---------------------------------------------------------------------


@dataclass
class JobVariablesReport:
    problems: list[Problem]
    sent: Any  # what prefect deploy would send (unknowns marked), or the input when not resolved
    merged: dict[str, Any] | None  # pool defaults + sent, as validated; None when not validated

    @property
    def rejected(self) -> bool:
        return rejected(self.problems)


def check_job_variables(
    job_variables: Any,
    template: Mapping[str, Any] | None,
    *,
    environ: Mapping[str, str] | None = None,
    variables: Mapping[str, Any] | None = None,
    has_steps: bool = False,
    resolve: bool = True,
) -> JobVariablesReport:
    """The server's verdict on a deployment's job variables (`POST /deployments/`).

    `resolve=False` validates the values literally, as the REST API receives them;
    otherwise they are first templated as `prefect deploy` would (`resolve_for_deploy`).
    """
    shown: Resolved | None = None
    problems: list[Problem] = []
    sent = job_variables
    if resolve:
        shown = resolve_for_deploy(
            job_variables, environ=environ, variables=variables, has_steps=has_steps
        )
        problems.extend(shown.problems)
        sent = shown.value
        if rejected(problems):
            return JobVariablesReport(problems, sent, None)
    # The server skips validation for empty job variables or a template without variables.
    if not sent or not isinstance(sent, dict) or not template:
        return JobVariablesReport(problems, sent, None)
    variables_schema = template.get("variables")
    if not variables_schema:
        return JobVariablesReport(problems, sent, None)
    compiled = _compiled_for(variables_schema)
    if compiled is None:
        problems.extend(schema_problems(variables_schema))
        return JobVariablesReport(problems, sent, None)
    merged = {**compiled.defaults, **sent}
    problems.extend(compiled.validate(merged, shown))
    return JobVariablesReport(problems, sent, merged)


def check_pool_template(template: Any) -> list[Problem]:
    """The server's verdict on a base job template at pool creation; paths are in the template.

    `validate_base_job_template` (both keys, every placeholder declared) and then
    `validate_job_variable_defaults_for_work_pool` (schema valid, defaults valid).
    """
    if template is None or template == {}:
        return []
    if not isinstance(template, dict):
        return [Problem(ProblemKind.INVALID, (), "the base job template must be a mapping", "type")]
    problems: list[Problem] = []
    job_config = template.get("job_configuration")
    variables = template.get("variables")
    if not (job_config and variables):
        missing = [k for k in ("job_configuration", "variables") if not template.get(k)]
        problems.append(
            Problem(
                ProblemKind.INVALID,
                (),
                "the base job template must contain both a non-empty `job_configuration` and "
                f"a non-empty `variables` (missing or empty: {', '.join(missing)})",
                "required",
            )
        )
        return problems
    if not isinstance(job_config, dict):
        return [
            Problem(
                ProblemKind.INVALID,
                ("job_configuration",),
                "`job_configuration` must be a mapping",
                "type",
            )
        ]
    if not isinstance(variables, dict):
        return [
            Problem(
                ProblemKind.INVALID,
                ("variables",),
                "`variables` must be a mapping (a JSON Schema)",
                "type",
            )
        ]
    properties = variables.get("properties", {})
    declared = set(properties) if isinstance(properties, dict) else set()
    for name, where in undeclared_placeholders(job_config, declared):
        problems.append(
            Problem(
                ProblemKind.INVALID,
                ("job_configuration", *where),
                f"job_configuration uses {{{{ {name} }}}}, which is not a variable of the "
                "template (the server requires every placeholder to be declared in "
                "`variables.properties`)",
                "placeholder",
            )
        )
    if not _keyable(variables):
        return [*problems, *schema_problems(variables)]
    problems.extend(_compile(_key(variables)).pool_default_problems())
    return problems


def undeclared_placeholders(
    job_config: Mapping[str, Any], declared: set[str]
) -> list[tuple[str, Path]]:
    """Placeholders (all kinds) the server finds in `job_configuration` that are not declared.

    The server searches `json.dumps` of each value (so keys count, and non-ASCII is escaped).
    """
    out: list[tuple[str, Path]] = []
    for key, value in job_config.items():
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            continue
        names = {p.name for p in templating.find_placeholders(text)} - declared
        for name in sorted(names):
            out.append((name, (key, *_locate(value, name))))
    return out


def _locate(value: Any, name: str, path: Path = ()) -> Path:
    if isinstance(value, str):
        return path
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and any(
                p.name == name for p in templating.find_placeholders(key)
            ):
                return (*path, key)
            if name in json.dumps(item, default=str):
                return _locate(item, name, (*path, key))
    if isinstance(value, list):
        for index, item in enumerate(value):
            if name in json.dumps(item, default=str):
                return _locate(item, name, (*path, index))
    return path


def referenced_variables(job_config: Any) -> set[str]:
    """Variables the job configuration uses: first segment of each standard placeholder."""
    names: set[str] = set()
    try:
        placeholders = templating.find_placeholders(json.dumps(job_config))
    except (TypeError, ValueError):
        return names
    for p in placeholders:
        if p.kind is PlaceholderKind.STANDARD:
            names.add(p.name.replace("[", ".").split(".", 1)[0])
    if isinstance(job_config, dict) and isinstance(job_config.get("env"), dict):
        names.add("env")  # a literal env in job_configuration is merged with `env` values
    return names


def strict_problems(
    job_variables: Mapping[str, Any], template: Mapping[str, Any] | None
) -> list[Problem]:
    """What the server lets through: unknown keys, unused variables, required ones unset."""
    if not template or not isinstance(template.get("variables"), dict):
        return []
    variables = template["variables"]
    properties = variables.get("properties")
    if not isinstance(properties, dict):
        return []
    job_config = template.get("job_configuration") or {}
    used = referenced_variables(job_config)
    problems: list[Problem] = []
    for key in job_variables:
        base = str(key).split(".", 1)[0]  # "env.FOO" is expanded into env at run time
        if key not in properties and base not in properties:
            hint = did_you_mean(str(key), [str(p) for p in properties])
            problems.append(
                Problem(
                    ProblemKind.UNKNOWN_KEY,
                    (key,),
                    f"'{key}' is not a variable of the pool: the server accepts it and Prefect "
                    "drops it, so it has no effect" + (f"; {hint}" if hint else ""),
                    "additionalProperties",
                )
            )
        elif base not in used:
            problems.append(
                Problem(
                    ProblemKind.UNREFERENCED,
                    (key,),
                    f"'{key}' has no effect: the pool's job_configuration never uses {{{{ {base} }}}}",
                    "job_configuration",
                )
            )
    required = variables.get("required")
    if isinstance(required, list):
        set_keys = {str(k).split(".", 1)[0] for k in job_variables}
        for name in required:
            if not isinstance(name, str):
                continue  # a broken schema, reported as such (J002)
            attrs = properties.get(name)
            has_default = isinstance(attrs, dict) and "default" in attrs
            if name not in set_keys and not has_default:
                problems.append(
                    Problem(
                        ProblemKind.MISSING_REQUIRED,
                        (),
                        f"the pool requires '{name}' and has no default for it: every flow run "
                        "fails to be created unless it sets it",
                        "required",
                    )
                )
    return problems


def variable_names(template: Mapping[str, Any] | None) -> list[str]:
    if not template or not isinstance(template.get("variables"), dict):
        return []
    properties = template["variables"].get("properties")
    return sorted(properties) if isinstance(properties, dict) else []
