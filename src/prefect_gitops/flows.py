"""Static analysis of flow entrypoints: never imports or runs user code.

`prefect deploy` imports the entrypoint's module to find the flow, its name and its
parameter schema. Users' CI usually lacks their flows' dependencies, so we read the
file with `ast` instead and derive what Prefect 3.9.1 would: the flow name (`name=` when
it is a literal, else the function name with `_` -> `-`) and the parameter schema that
`prefect.utilities.callables.parameter_schema` produces. For the schema we rebuild the
annotations as real typing objects from a whitelist (builtins, typing, datetime, uuid,
pathlib, decimal) and hand them to pydantic exactly as Prefect does, so the result is
identical by construction. Whatever is not literal enough to rebuild is reported as
unreadable, never guessed.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import decimal
import functools
import inspect
import operator
import os
import pathlib
import re
import stat
import typing
import uuid
from collections.abc import Mapping as AbcMapping
from collections.abc import Sequence as AbcSequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic.errors import PydanticInvalidForJsonSchema
from pydantic.fields import FieldInfo
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from .docstrings import parameter_docstrings
from .repofiles import FileProblem, read_capped, real, relative

ProblemKind = Literal[
    "format",  # not `path.py:func`, `module:func` or `module.func`
    "missing_file",
    "outside_repo",
    "module_not_found",  # module form not found in the repo: may be an installed package
    "unreadable_file",  # not UTF-8, not a regular file, over the size cap, a symlink loop
    "syntax_error",
    "too_complex",  # nested too deeply for the parser or for our reading of it
    "no_function",
    "not_a_flow",
    "not_analysable",  # defined in a way we cannot follow statically (assignment, import...)
]

BANNED_NAME_CHARS = "/%&><"
# Flow modules are rarely over 100 KiB; parsing 10 MiB takes half a minute and gigabytes.
MAX_FLOW_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class EntrypointProblem:
    kind: ProblemKind
    message: str
    file: str | None = None  # repo-relative path of the file involved, if any
    line: int | None = None


@dataclass(frozen=True)
class FlowParameter:
    name: str
    position: int
    required: bool
    kind: str  # inspect.Parameter kind name, e.g. "POSITIONAL_OR_KEYWORD", "VAR_KEYWORD"
    schema: dict[str, Any] | None  # the property schema; None when not readable statically
    unreadable: str | None = None  # why the annotation or default could not be read


@dataclass(frozen=True)
class FlowInfo:
    entrypoint: str
    file: str  # repo-relative path of the flow's file
    function: str  # `func` or `Class.method`
    line: int  # line of the `def`
    is_async: bool
    name: str | None  # None when `name=` is not a literal
    docstring: str | None  # `inspect.getdoc` of the function
    description: str | None  # the flow's description: `description=` literal, else the docstring
    parameters: tuple[FlowParameter, ...]
    has_var_keyword: bool
    schema_complete: bool
    # The body `prefect deploy` sends as `parameter_openapi_schema` (ParameterSchema dumped
    # with exclude_unset); None unless every parameter could be read.
    parameter_schema: dict[str, Any] | None
    definitions: dict[str, Any] = field(default_factory=dict)
    flow_run_name: str | None = None  # literal `flow_run_name=` of the decorator
    unreadable: tuple[str, ...] = ()  # everything we could not read, one sentence each

    def parameter(self, name: str) -> FlowParameter | None:
        for param in self.parameters:
            if param.name == name:
                return param
        return None


# -- locating the file --------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    path: Path
    object_path: str


@dataclass
class FileMemo:
    """File-system answers remembered for one run: a repository's entrypoints name the same
    few files hundreds of times, and those do not change while one command reads them.
    Pass one to `analyze_entrypoint` per run; without it every call asks the file system."""

    resolved: dict[Path, Path] = field(default_factory=dict)
    present: dict[Path, bool] = field(default_factory=dict)
    rels: dict[tuple[Path, Path], str] = field(default_factory=dict)
    # (file or module part, is a file, base dir, root) -> the file found for it
    located: dict[tuple[str, bool, Path, Path], Path] = field(default_factory=dict)
    modules: dict[Path, _Module | EntrypointProblem] = field(default_factory=dict)

    def resolve(self, path: Path) -> Path:
        found = self.resolved.get(path)
        if found is None:
            found = self.resolved[path] = real(path)
        return found

    def file_exists(self, path: Path) -> bool:
        """Something that is not a folder is there. A FIFO, a device or a symlink loop counts:
        reading it then says why it cannot be used, where "does not exist" would mislead."""
        found = self.present.get(path)
        if found is None:
            found = self.present[path] = os.path.lexists(path) and not path.is_dir()
        return found


def _inside(path: Path, root: Path, memo: FileMemo) -> bool:
    try:
        memo.resolve(path).relative_to(memo.resolve(root))
    except ValueError:
        return False
    return True


def _rel(path: Path, root: Path, memo: FileMemo) -> str:
    found = memo.rels.get((path, root))
    if found is None:
        found = memo.rels[(path, root)] = relative(path, root)
    return found


_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_OBJECT = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)?$")


def _module_file(module: str, base_dir: Path, memo: FileMemo) -> Path | None:
    parts = module.split(".")
    as_file = base_dir.joinpath(*parts[:-1], parts[-1] + ".py")
    if memo.file_exists(as_file):
        return as_file
    as_package = base_dir.joinpath(*parts, "__init__.py")
    if memo.file_exists(as_package):
        return as_package
    return None


def _locate(
    entrypoint: str, base_dir: Path, root: Path, memo: FileMemo
) -> _Target | EntrypointProblem:
    entrypoint = entrypoint.strip()
    if "\0" in entrypoint:
        return EntrypointProblem("format", f"entrypoint {entrypoint!r} contains a NUL byte")
    if entrypoint.endswith(".py") and ":" not in entrypoint:
        return EntrypointProblem(
            "format", f"entrypoint '{entrypoint}' names a file but no flow: add ':<function>'"
        )
    if ":" in entrypoint:
        left, object_path = entrypoint.rsplit(":", 1)
        is_script = ".py:" in entrypoint
    elif "." in entrypoint:
        left, object_path = entrypoint.rsplit(".", 1)
        is_script = False
    else:
        return EntrypointProblem(
            "format",
            f"entrypoint '{entrypoint}' must be 'path/to/file.py:function' or 'module.function'",
        )
    if not _OBJECT.match(object_path):
        return EntrypointProblem(
            "format", f"entrypoint '{entrypoint}': '{object_path}' is not a function name"
        )
    key = (left, is_script, base_dir, root)
    found = memo.located.get(key)
    if found is None:
        located = _locate_file(entrypoint, left, is_script, base_dir, root, memo)
        if isinstance(located, EntrypointProblem):
            return located
        found = memo.located[key] = located
    return _Target(found, object_path)


def _locate_file(
    entrypoint: str, left: str, is_script: bool, base_dir: Path, root: Path, memo: FileMemo
) -> Path | EntrypointProblem:
    if is_script:
        path = Path(left)
        path = path if path.is_absolute() else base_dir / path
        rel = _rel(path, root, memo)
        if not _inside(path, root, memo):
            return EntrypointProblem(
                "outside_repo", f"entrypoint file '{left}' is outside the repository", rel
            )
        if not memo.file_exists(path):
            return EntrypointProblem(
                "missing_file",
                f"entrypoint file '{left}' does not exist (looked for {rel})",
                rel,
            )
        return path
    if not _MODULE.match(left):
        return EntrypointProblem(
            "format",
            f"entrypoint '{entrypoint}': '{left}' is neither a .py file nor a module path",
        )
    found = _module_file(left, base_dir, memo)
    if found is None:
        return EntrypointProblem(
            "module_not_found",
            f"module '{left}' of entrypoint '{entrypoint}' is not in the repository "
            f"(looked under {_rel(base_dir, root, memo) or '.'}); it can only be checked if it is "
            "an installed package",
        )
    if not _inside(found, root, memo):
        return EntrypointProblem(
            "outside_repo",
            f"module '{left}' resolves outside the repository",
            _rel(found, root, memo),
        )
    return found


# -- reading a module ---------------------------------------------------------------------


@dataclass
class _Module:
    tree: ast.Module
    source: str
    # local name -> qualified name, e.g. {"f": "prefect.flow", "t": "typing"}
    imports: dict[str, str]
    # every module-level binding, for shadowing and "defined but not a def" checks
    bindings: dict[str, ast.AST]
    # top-level (and top-level `try`) def/class statements by name, the last one winning
    defs: dict[str, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]
    # (object path, repo-relative file) -> analysis; lives as long as the cached module
    results: dict[tuple[str, str], FlowInfo | EntrypointProblem] = field(default_factory=dict)


_CACHE: dict[tuple[str, int, int], _Module | EntrypointProblem] = {}


def _module_bodies(body: list[ast.stmt]) -> list[ast.stmt]:
    """Top-level statements, including those inside top-level `try` (import fallbacks)."""
    out: list[ast.stmt] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, ast.Try):
            for block in (stmt.body, stmt.orelse, stmt.finalbody):
                out.extend(_module_bodies(block))
            for handler in stmt.handlers:
                out.extend(_module_bodies(handler.body))
    return out


def _read_module(path: Path, root: Path, memo: FileMemo) -> _Module | EntrypointProblem:
    seen = memo.modules.get(path)
    if seen is None:
        seen = memo.modules[path] = _read_module_uncached(path, root, memo)
    return seen


_FILE_PROBLEMS: dict[str, ProblemKind] = {
    "missing": "missing_file",
    "outside": "outside_repo",
    "not_a_file": "unreadable_file",
    "too_large": "unreadable_file",
    "unreadable": "unreadable_file",
}


def _read_module_uncached(path: Path, root: Path, memo: FileMemo) -> _Module | EntrypointProblem:
    rel = _rel(path, root, memo)
    try:
        info: os.stat_result | None = os.stat(memo.resolve(path))
    except OSError:
        info = None  # reading it says why
    key = None
    if info is not None and stat.S_ISREG(info.st_mode):
        key = (str(memo.resolve(path)), info.st_mtime_ns, info.st_size)
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
    result = _parse_module(path, root, rel)
    if key is not None:
        _CACHE[key] = result
    return result


def _parse_module(path: Path, root: Path, rel: str) -> _Module | EntrypointProblem:
    try:
        source = read_capped(path, root, cap=MAX_FLOW_BYTES, name=rel).decode("utf-8-sig")
        tree = ast.parse(source, filename=rel)
    except FileProblem as problem:
        return EntrypointProblem(_FILE_PROBLEMS[problem.kind], problem.message, rel)
    except UnicodeDecodeError:
        return EntrypointProblem("unreadable_file", f"{rel} is not UTF-8 text", rel)
    except SyntaxError as exc:
        return EntrypointProblem(
            "syntax_error", f"{rel} has a Python syntax error: {exc.msg}", rel, exc.lineno
        )
    except (RecursionError, MemoryError):
        # CPython's parser gives up on expressions nested thousands deep; importing the
        # module would fail the same way.
        return EntrypointProblem(
            "too_complex", f"{rel} nests an expression too deeply for Python to parse it", rel
        )
    except ValueError as exc:  # e.g. a NUL byte
        return EntrypointProblem("unreadable_file", f"cannot read {rel}: {exc}", rel)
    return _index_module(tree, source)


def _index_module(tree: ast.Module, source: str) -> _Module:
    imports: dict[str, str] = {}
    bindings: dict[str, ast.AST] = {}
    defs: dict[str, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef] = {}
    for stmt in _module_bodies(tree.body):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    imports[alias.asname] = alias.name
                    bindings[alias.asname] = stmt
                else:
                    top = alias.name.split(".")[0]
                    imports[top] = top
                    bindings[top] = stmt
        elif isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                local = alias.asname or alias.name
                if stmt.level == 0 and stmt.module:
                    imports[local] = f"{stmt.module}.{alias.name}"
                else:
                    imports.pop(local, None)  # relative import: a user module
                bindings[local] = stmt
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            imports.pop(stmt.name, None)
            bindings[stmt.name] = stmt
            defs[stmt.name] = stmt
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                # most targets are one name; walking each costs seconds in a big module
                nodes = (target,) if isinstance(target, ast.Name) else ast.walk(target)
                for node in nodes:
                    if isinstance(node, ast.Name):
                        imports.pop(node.id, None)
                        bindings[node.id] = stmt
    return _Module(tree, source, imports, bindings, defs)


# -- the flow decorator ---------------------------------------------------------------------


def _qualified(node: ast.expr, module: _Module) -> str | None:
    """`f` -> `prefect.flow`, `p.flow` -> `prefect.flow`, `int` -> `builtins.int`."""
    if isinstance(node, ast.Name):
        if node.id in module.imports:
            return module.imports[node.id]
        if node.id in module.bindings:
            return None  # defined in the module itself
        return f"builtins.{node.id}"
    if isinstance(node, ast.Attribute):
        base = _qualified(node.value, module)
        if base is None or base.startswith("builtins."):
            return None
        return f"{base}.{node.attr}"
    return None


_FLOW_NAMES = frozenset(
    {"prefect.flow", "prefect.flows.flow", "prefect.Flow", "prefect.flows.Flow"}
)


def _flow_decorator(
    func: ast.FunctionDef | ast.AsyncFunctionDef, module: _Module
) -> tuple[ast.expr | None, bool]:
    """The `@flow` / `@flow(...)` decorator, and whether other unknown decorators exist."""
    found: ast.expr | None = None
    others = False
    for deco in func.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        name = _qualified(target, module)
        if name in _FLOW_NAMES:
            found = deco
        elif name not in ("builtins.staticmethod", "builtins.classmethod"):
            others = True
    return found, others


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


_VALUE_CONSTRUCTORS = frozenset(
    {"pathlib.Path", "datetime.datetime", "datetime.date", "datetime.time",
     "datetime.timedelta", "uuid.UUID", "decimal.Decimal"}
)  # fmt: skip


def _default(node: ast.expr, module: _Module) -> tuple[bool, Any]:
    """A literal, or a call like `Path("x")` / `timedelta(hours=1)` with literal arguments."""
    ok, value = _literal(node)
    if ok or not isinstance(node, ast.Call):
        return ok, value
    name = _qualified(node.func, module)
    if name not in _VALUE_CONSTRUCTORS:
        return False, None
    args = [_literal(a) for a in node.args]
    kwargs = {k.arg: _literal(k.value) for k in node.keywords}
    if any(not ok for ok, _ in args) or any(k is None or not v[0] for k, v in kwargs.items()):
        return False, None
    try:
        return True, _KNOWN_TYPES[name](
            *(v for _, v in args), **{k: v for k, (_, v) in kwargs.items() if k}
        )
    except (TypeError, ValueError, ArithmeticError, OverflowError):
        return False, None


# -- annotations -> typing objects ----------------------------------------------------------

_KNOWN_TYPES: dict[str, Any] = {
    **{f"builtins.{t.__name__}": t for t in (int, str, float, bool, bytes, list, dict, tuple, set, frozenset)},
    "builtins.object": object,
    **{f"{m}.{n}": getattr(typing, n) for m in ("typing", "typing_extensions") for n in (
        "Any", "Optional", "Union", "List", "Dict", "Tuple", "Set", "FrozenSet", "Literal",
        "Sequence", "Mapping", "MutableMapping", "MutableSequence", "Iterable",
    )},
    "collections.abc.Sequence": AbcSequence,
    "collections.abc.Mapping": AbcMapping,
    "datetime.datetime": datetime.datetime,
    "datetime.date": datetime.date,
    "datetime.time": datetime.time,
    "datetime.timedelta": datetime.timedelta,
    "uuid.UUID": uuid.UUID,
    "pathlib.Path": pathlib.Path,
    "decimal.Decimal": decimal.Decimal,
}  # fmt: skip


class _Unreadable(Exception):
    pass


def _annotation(node: ast.expr, module: _Module, depth: int = 0) -> Any:
    if depth > 20:
        raise _Unreadable("the annotation is nested too deeply")
    if isinstance(node, ast.Constant):
        if node.value is None:
            return None
        if isinstance(node.value, str):  # a string (forward reference) annotation
            try:
                inner = ast.parse(node.value.strip(), mode="eval").body
            except SyntaxError:
                raise _Unreadable(f"the annotation {node.value!r} is not valid Python") from None
            return _annotation(inner, module, depth + 1)
        raise _Unreadable(f"the annotation {node.value!r} is not a type")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left = _annotation(node.left, module, depth + 1)
        right = _annotation(node.right, module, depth + 1)
        none = type(None)
        try:
            return operator.or_(none if left is None else left, none if right is None else right)
        except TypeError:
            raise _Unreadable("the `|` union cannot be evaluated") from None
    if isinstance(node, ast.Subscript):
        base = _annotation(node.value, module, depth + 1)
        elements = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base is typing.Literal:
            values = []
            for element in elements:
                ok, value = _literal(element)
                if not ok:
                    raise _Unreadable("a `Literal` holds something other than literals")
                values.append(value)
            return typing.Literal[tuple(values)]
        args = tuple(
            Ellipsis
            if isinstance(e, ast.Constant) and e.value is Ellipsis
            else _annotation(e, module, depth + 1)
            for e in elements
        )
        try:
            return base[args if len(args) > 1 else args[0]]
        except TypeError as exc:
            raise _Unreadable(f"`{ast.unparse(node)}` is not a valid type: {exc}") from None
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = _qualified(node, module)
        if name is not None and name in _KNOWN_TYPES:
            return _KNOWN_TYPES[name]
        text = ast.unparse(node)
        if name is None:
            raise _Unreadable(f"`{text}` is defined in the flow's own code")
        raise _Unreadable(f"`{text}` ({name}) is not a type we can read without importing it")
    raise _Unreadable(f"`{ast.unparse(node)}` is not a literal type annotation")


# -- the schema, exactly as prefect.utilities.callables.generate_parameter_schema ------------


class _GenerateEmptySchemaForUserClasses(GenerateJsonSchema):
    def is_instance_schema(self, schema: core_schema.IsInstanceSchema) -> JsonSchemaValue:
        return {}


def _model_schema(name: str, fields: dict[str, Any]) -> dict[str, Any]:
    config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    model = pydantic.create_model(name, __config__=config, **fields)
    schema = pydantic.TypeAdapter(model).json_schema(
        by_alias=True,
        ref_template="#/definitions/{model}",
        schema_generator=_GenerateEmptySchemaForUserClasses,
    )
    if "$defs" in schema:
        schema["definitions"] = schema["$defs"]
    return schema


@functools.cache  # pydantic's metaclass makes a failed attribute lookup slow
def _shadows_base_model(name: str) -> bool:
    return hasattr(pydantic.BaseModel, name)


def _field_name(param: inspect.Parameter, aliases: dict[str, str]) -> str:
    if _shadows_base_model(param.name):
        name = param.name + "__"
        aliases[name] = param.name
        return name
    return param.name


def _field(
    param: inspect.Parameter, position: int, docs: dict[str, str], aliases: dict[str, str]
) -> tuple[str, Any, FieldInfo]:
    # mirrors prefect._internal.pydantic.v2_schema.process_v2_params
    name = _field_name(param, aliases)
    type_ = Any if param.annotation is inspect.Parameter.empty else param.annotation
    default = param.default
    if param.kind is inspect.Parameter.VAR_POSITIONAL:
        type_ = list[type_]  # type: ignore[valid-type]
        default = []
    elif param.kind is inspect.Parameter.VAR_KEYWORD:
        type_ = dict[str, type_]  # type: ignore[valid-type]
        default = {}
    info: FieldInfo = pydantic.Field(
        default=... if default is inspect.Parameter.empty else default,
        title=param.name,
        description=docs.get(param.name),
        alias=aliases.get(name),
        json_schema_extra={"position": position},
    )
    return name, type_, info


def _pydantic_parameter_schema(
    signature: inspect.Signature, docs: dict[str, str]
) -> dict[str, Any]:
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
            return _pydantic_parameter_schema(signature, docs)
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


# -- putting it together ----------------------------------------------------------------------


def _find_function(
    module: _Module, object_path: str
) -> ast.FunctionDef | ast.AsyncFunctionDef | str:
    """The function's node, or a sentence saying why there is none."""
    parts = object_path.split(".")
    scope: list[ast.stmt] = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        node: ast.stmt | None = module.defs.get(part) if index == 0 else None
        for stmt in scope:
            if (
                isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and stmt.name == part
            ):
                node = stmt
        if node is None:
            binding = module.bindings.get(part) if index == 0 else None
            if binding is not None:
                return f"not_analysable:'{part}' is assigned or imported, not defined with `def`"
            return f"no_function:'{part}' is not defined"
        if last:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return node
            return f"not_a_flow:'{part}' is a class, not a flow function"
        if not isinstance(node, ast.ClassDef):
            return f"no_function:'{part}' is not a class, so it has no '{parts[index + 1]}'"
        scope = list(node.body)
    return "no_function:nothing to look up"


def _signature(
    func: ast.FunctionDef | ast.AsyncFunctionDef, module: _Module
) -> tuple[inspect.Signature, dict[str, str]]:
    """The signature with real types, and parameter name -> why it could not be read."""
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    specs: list[tuple[ast.arg, Any, ast.expr | None]] = []
    for arg, default_expr in zip(positional, defaults, strict=True):
        kind = (
            inspect.Parameter.POSITIONAL_ONLY
            if arg in args.posonlyargs
            else inspect.Parameter.POSITIONAL_OR_KEYWORD
        )
        specs.append((arg, kind, default_expr))
    if args.vararg:
        specs.append((args.vararg, inspect.Parameter.VAR_POSITIONAL, None))
    for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        specs.append((arg, inspect.Parameter.KEYWORD_ONLY, kw_default))
    if args.kwarg:
        specs.append((args.kwarg, inspect.Parameter.VAR_KEYWORD, None))

    params: list[inspect.Parameter] = []
    unreadable: dict[str, str] = {}
    for arg, kind, default_node in specs:
        annotation: Any = inspect.Parameter.empty
        if arg.annotation is not None:
            try:
                annotation = _annotation(arg.annotation, module)
            except _Unreadable as exc:
                unreadable[arg.arg] = f"parameter '{arg.arg}': {exc}"
        default: Any = inspect.Parameter.empty
        if default_node is not None:
            ok, default = _default(default_node, module)
            if not ok:
                default = None
                unreadable.setdefault(
                    arg.arg,
                    f"parameter '{arg.arg}': the default `{ast.unparse(default_node)}` "
                    "is not a literal",
                )
        params.append(inspect.Parameter(arg.arg, kind, default=default, annotation=annotation))
    # Python orders *args before keyword-only parameters, as `inspect.signature` does.
    return inspect.Signature(params), unreadable


def _per_parameter(
    signature: inspect.Signature, schema: dict[str, Any], unreadable: dict[str, str]
) -> tuple[FlowParameter, ...]:
    properties = schema.get("properties", {})
    out: list[FlowParameter] = []
    for position, param in enumerate(signature.parameters.values()):
        if param.name in ("self", "cls"):
            continue
        prop_name = param.name + "__" if _shadows_base_model(param.name) else param.name
        prop = properties.get(param.name, properties.get(prop_name))
        out.append(
            FlowParameter(
                name=param.name,
                position=position,
                required=param.default is inspect.Parameter.empty
                and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD),
                kind=param.kind.name,
                schema=None if param.name in unreadable else prop,
                unreadable=unreadable.get(param.name),
            )
        )
    return tuple(out)


def analyze_entrypoint(
    entrypoint: str, base_dir: Path, root: Path, *, memo: FileMemo | None = None
) -> FlowInfo | EntrypointProblem:
    """Read the flow an entrypoint names, without importing anything.

    `base_dir` is the prefect.yaml's folder (Prefect resolves entrypoints against the working
    directory `prefect deploy` runs in); `root` is the repository, which the file must not leave.
    `memo` shares file-system answers between the calls of one run (see `FileMemo`).
    """
    memo = FileMemo() if memo is None else memo
    target = _locate(entrypoint, base_dir, root, memo)
    if isinstance(target, EntrypointProblem):
        return target
    rel = _rel(target.path, root, memo)
    module = _read_module(target.path, root, memo)
    if isinstance(module, EntrypointProblem):
        return module
    key = (target.object_path, rel)
    cached = module.results.get(key)
    if cached is None:
        try:
            cached = _analyze_function(entrypoint, target, rel, module)
        except (RecursionError, MemoryError):
            # An annotation, default or decorator nested hundreds deep: our readers (and
            # `ast.unparse`, `ast.literal_eval`) recurse once per level.
            cached = EntrypointProblem(
                "too_complex",
                f"{rel}: '{target.object_path}' nests an expression too deeply to read statically",
                rel,
            )
        module.results[key] = cached
    if isinstance(cached, FlowInfo) and cached.entrypoint != entrypoint:
        cached = dataclasses.replace(cached, entrypoint=entrypoint)
    return cached


def _analyze_function(
    entrypoint: str, target: _Target, rel: str, module: _Module
) -> FlowInfo | EntrypointProblem:
    found = _find_function(module, target.object_path)
    if isinstance(found, str):
        kind, message = found.split(":", 1)
        return EntrypointProblem(kind, f"{rel}: {message}", rel)  # type: ignore[arg-type]
    func = found
    decorator, others = _flow_decorator(func, module)
    if decorator is None:
        if others:
            return EntrypointProblem(
                "not_analysable",
                f"{rel}:{func.lineno}: '{target.object_path}' has decorators we cannot follow "
                "statically and no `@flow`; whether it is a flow is only known at import time",
                rel,
                func.lineno,
            )
        return EntrypointProblem(
            "not_a_flow",
            f"{rel}:{func.lineno}: '{target.object_path}' is not decorated with `@flow` "
            "(prefect deploy fails: 'is not a flow')",
            rel,
            func.lineno,
        )
    notes: list[str] = []
    keywords = (
        {k.arg: k.value for k in decorator.keywords if k.arg}
        if isinstance(decorator, ast.Call)
        else {}
    )
    if isinstance(decorator, ast.Call) and decorator.args:
        notes.append("`@flow(...)` has positional arguments; they are not read")

    name: str | None = func.name.replace("_", "-")
    if "name" in keywords:
        ok, value = _literal(keywords["name"])
        if ok and isinstance(value, str):
            name = value or name
        elif ok and value is None:
            pass
        else:
            name = None
            notes.append(f"the flow name `{ast.unparse(keywords['name'])}` is not a literal")

    docstring = ast.get_docstring(func, clean=True)
    description: str | None = docstring
    if "description" in keywords:
        ok, value = _literal(keywords["description"])
        if ok and (value is None or isinstance(value, str)):
            description = value or docstring
        else:
            description = None
            notes.append("the flow description is not a literal")

    flow_run_name: str | None = None
    if "flow_run_name" in keywords:
        ok, value = _literal(keywords["flow_run_name"])
        if ok and isinstance(value, str):
            flow_run_name = value

    signature, unreadable = _signature(func, module)
    complete = not unreadable
    docs = parameter_docstrings(docstring)
    schema = generate_parameter_schema(signature, docs)
    return FlowInfo(
        entrypoint=entrypoint,
        file=rel,
        function=target.object_path,
        line=func.lineno,
        is_async=isinstance(func, ast.AsyncFunctionDef),
        name=name,
        docstring=docstring,
        description=description,
        parameters=_per_parameter(signature, schema, unreadable),
        has_var_keyword=func.args.kwarg is not None,
        schema_complete=complete,
        parameter_schema=schema if complete else None,
        definitions=dict(schema.get("definitions", {})),
        flow_run_name=flow_run_name,
        unreadable=(*unreadable.values(), *notes),
    )


def banned_name_chars(name: str) -> list[str]:
    return sorted({c for c in name if c in BANNED_NAME_CHARS})


def clear_cache() -> None:
    _CACHE.clear()
