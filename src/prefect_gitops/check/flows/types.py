"""Annotations and defaults of flow code turned into real Python objects, without importing it.

Known types come from a whitelist (builtins, typing, datetime, uuid, pathlib, decimal); the
pydantic models, dataclasses, TypedDicts and enums defined in the repository are rebuilt from
their source: same bases, fields, annotations, literal defaults, `Field(...)`, members and
docstrings, so pydantic derives from them the schema it derives from the user's classes.

Names are looked up as Prefect 3.9.1 would see them: after an import of the module when that
import would work here (every import it runs is the standard library, installed, or a
repository module that imports in turn), else in the namespace of Prefect's static fallback
(`safe_load_namespace`), where what cannot be evaluated is `Absent`.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import datetime
import decimal
import enum
import functools
import importlib.util
import operator
import pathlib
import sys
import types
import typing
import uuid
from collections.abc import Mapping as AbcMapping
from collections.abc import Sequence as AbcSequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import pydantic.dataclasses
import typing_extensions

from .facts import EntrypointProblem
from .pysource import (
    FileMemo,
    ImportStmt,
    SourceModule,
    inside_repo,
    literal_value,
    module_file,
    name_error,
    qualified_name,
    read_module,
    repo_relative,
)


def read_constant(node: ast.expr, module: SourceModule, an: Analysis) -> tuple[bool, Any]:
    """A literal, or a module-level constant (`NAME = "etl"`, `from .settings import NAME`)."""
    try:
        return True, _value(node, module, an, 0)
    except Unreadable:
        return False, None


_VALUE_CONSTRUCTORS = frozenset(
    {"pathlib.Path", "datetime.datetime", "datetime.date", "datetime.time",
     "datetime.timedelta", "uuid.UUID", "decimal.Decimal"}
)  # fmt: skip


class Unreadable(Exception):
    pass


class Absent(Unreadable):
    """The name is not there when Prefect loads the file statically: evaluating it fails, so
    Prefect drops the annotation (or sets the default to None)."""


def read_default(node: ast.expr, module: SourceModule, an: Analysis) -> Any:
    """A literal, a call like `Path("x")` / `timedelta(hours=1)` with literal arguments, a
    member of an enum, an instance of a model defined in the repository, or a list, tuple,
    set or dict of those. Raises `Unreadable` saying why not (`Absent` under static loading)."""
    return _value(node, module, an, 0)


def _value(node: ast.expr, module: SourceModule, an: Analysis, depth: int) -> Any:
    if depth > 20:
        raise Unreadable("the value is nested too deeply")
    ok, value = literal_value(node)
    if ok:
        return value
    if isinstance(node, (ast.Name, ast.Attribute)):
        constant = _module_constant(node, module, an, depth + 1)
        if constant is not None:
            return _value(constant[1], constant[0], an, depth + 1)
        found = _lookup(node, module, an, depth + 1)
        if isinstance(found, enum.Enum):
            return found
        raise Unreadable(f"`{ast.unparse(node)}` is not a literal")
    if isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict)):
        return _display(node, module, an, depth + 1)
    if not isinstance(node, ast.Call):
        raise Unreadable(f"`{ast.unparse(node)}` is not a literal")
    func = _callable(node.func, module, an, depth + 1)
    args = [_value(a, module, an, depth + 1) for a in node.args]
    kwargs: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise Unreadable(f"`{ast.unparse(node)}` unpacks `**` arguments")
        if keyword.arg == "default_factory":
            kwargs[keyword.arg] = _callable(keyword.value, module, an, depth + 1)
        else:
            kwargs[keyword.arg] = _value(keyword.value, module, an, depth + 1)
    try:
        return func(*args, **kwargs)
    except Exception as exc:  # our rebuilt classes validate like the user's would
        raise Unreadable(f"`{ast.unparse(node)}` fails: {exc}") from None


def _display(
    node: ast.List | ast.Tuple | ast.Set | ast.Dict, module: SourceModule, an: Analysis, depth: int
) -> Any:
    """A list, tuple, set or dict written out whose items are values `_value` reads, e.g.
    `[ExportFormat.CSV]` or `{"eu": Window("a", "b")}` (all-literal ones never get here)."""
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise Unreadable(f"`{ast.unparse(node)}` unpacks `**` items")
        return {
            _value(key, module, an, depth): _value(item, module, an, depth)
            for key, item in zip(node.keys, node.values, strict=True)
            if key is not None
        }
    if any(isinstance(item, ast.Starred) for item in node.elts):
        raise Unreadable(f"`{ast.unparse(node)}` unpacks `*` items")
    items = [_value(item, module, an, depth) for item in node.elts]
    try:
        return {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items)
    except TypeError as exc:  # an unhashable set member
        raise Unreadable(f"`{ast.unparse(node)}` fails: {exc}") from None


def _module_constant(
    node: ast.expr, module: SourceModule, an: Analysis, depth: int
) -> tuple[SourceModule, ast.expr] | None:
    """The value expression of a module-level `NAME = ...` a name refers to (in this module
    or a repository module it imports), with the module to read it in."""
    if depth > 20:
        return None
    if isinstance(node, ast.Attribute):
        try:
            base = _lookup(node.value, module, an, depth + 1)
        except Unreadable:
            return None
        if isinstance(base, SourceModule):
            return _module_constant(ast.Name(node.attr), base, an, depth + 1)
        return None
    if not isinstance(node, ast.Name) or is_absent(node.id, module, an):
        return None
    binding = module.bindings.get(node.id)
    if (
        isinstance(binding, ast.Assign)
        and len(binding.targets) == 1
        and isinstance(binding.targets[0], ast.Name)
    ):
        return module, binding.value
    source = module.sources.get(node.id)
    if isinstance(binding, ast.ImportFrom) and source is not None:
        repo = _repo_module(module, source[0], source[1], an)
        if isinstance(repo, SourceModule):
            return _module_constant(ast.Name(source[2]), repo, an, depth + 1)
    return None


_CALLABLES: dict[str, Any] = {
    **{name: None for name in _VALUE_CONSTRUCTORS},
    "pydantic.Field": pydantic.Field,
    "pydantic.fields.Field": pydantic.Field,
    "pydantic.ConfigDict": pydantic.ConfigDict,
    "dataclasses.field": dataclasses.field,
    "enum.auto": enum.auto,
    **{f"builtins.{t.__name__}": t for t in (list, dict, set, tuple, frozenset)},
}


def _callable(node: ast.expr, module: SourceModule, an: Analysis, depth: int) -> Any:
    name = qualified_name(node, module)
    if name in _CALLABLES:
        return _CALLABLES[name] or _KNOWN_TYPES[name]
    found = _lookup(node, module, an, depth)
    if isinstance(found, type) and id(found) in _REBUILT:
        return found
    raise Unreadable(f"`{ast.unparse(node)}` is not a call we can evaluate without importing it")


# -- annotations -> typing objects ----------------------------------------------------------

_KNOWN_TYPES: dict[str, Any] = {
    **{f"builtins.{t.__name__}": t for t in (int, str, float, bool, bytes, list, dict, tuple, set, frozenset)},
    "builtins.object": object,
    **{f"{m}.{n}": getattr(typing, n) for m in ("typing", "typing_extensions") for n in (
        "Any", "Optional", "Union", "List", "Dict", "Tuple", "Set", "FrozenSet", "Literal",
        "Sequence", "Mapping", "MutableMapping", "MutableSequence", "Iterable", "Annotated",
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


def read_annotation(node: ast.expr, module: SourceModule, an: Analysis, depth: int = 0) -> Any:
    if depth > 20:
        raise Unreadable("the annotation is nested too deeply")
    if isinstance(node, ast.Constant):
        if node.value is None:
            return None
        if isinstance(node.value, str):  # a string (forward reference) annotation
            try:
                inner = ast.parse(node.value.strip(), mode="eval").body
            except SyntaxError:
                raise Unreadable(f"the annotation {node.value!r} is not valid Python") from None
            if an.static is module:
                return _static_forward_ref(inner, node.value, module, an)
            return read_annotation(inner, module, an, depth + 1)
        raise Unreadable(f"the annotation {node.value!r} is not a type")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left = read_annotation(node.left, module, an, depth + 1)
        right = read_annotation(node.right, module, an, depth + 1)
        none = type(None)
        try:
            return operator.or_(none if left is None else left, none if right is None else right)
        except TypeError:
            raise Unreadable("the `|` union cannot be evaluated") from None
    if isinstance(node, ast.Subscript):
        return _subscript(node, module, an, depth)
    if isinstance(node, (ast.Name, ast.Attribute)):
        found = _lookup(node, module, an, 0)
        if isinstance(found, (SourceModule, enum.Enum)):
            raise Unreadable(f"`{ast.unparse(node)}` is not a type")
        return found
    raise Unreadable(f"`{ast.unparse(node)}` is not a literal type annotation")


# Prefect's static loading compiles the flow's def with postponed annotations, so a string
# annotation stays a string once evaluated and pydantic resolves it: in the file's namespace
# when the def ran as written, but in the namespace of `prefect._internal.pydantic.v2_schema`
# (builtins, `typing` also as `t`, little else) when Prefect rewrote the def (observed with
# 3.9.1). A string that does not resolve makes the parameter `Any`, without failing the def.
_PYDANTIC_NAMESPACE = SourceModule(
    ast.Module(body=[], type_ignores=[]), "", Path("<prefect._internal.pydantic.v2_schema>"), True,
    imports={"typing": "typing", "t": "typing"},
)  # fmt: skip


class StringAbsent(Unreadable):
    """A string annotation that does not resolve under static loading: the parameter is `Any`."""


def _static_forward_ref(inner: ast.expr, text: str, module: SourceModule, an: Analysis) -> Any:
    try:
        if an.rewritten:
            plain = dataclasses.replace(an, rewritten=False)
            return read_annotation(inner, _PYDANTIC_NAMESPACE, plain)
        return read_annotation(inner, module, an)
    except (Absent, StringAbsent):
        pass
    except Unreadable:
        if not an.rewritten:
            raise
    raise StringAbsent(f"the string annotation {text!r} does not resolve where Prefect's "
                       "static loading leaves it to pydantic")  # fmt: skip


def _subscript(node: ast.Subscript, module: SourceModule, an: Analysis, depth: int) -> Any:
    base = read_annotation(node.value, module, an, depth + 1)
    elements = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    if base is typing.Literal:
        # literals, and what evaluating the annotation also accepts: enum members, constants
        try:
            values = [_value(element, module, an, depth + 1) for element in elements]
        except Absent:
            raise
        except Unreadable as exc:
            raise Unreadable(f"a `Literal` holds something we cannot read: {exc}") from None
        try:
            return typing.Literal[tuple(values)]
        except TypeError as exc:  # an unhashable value: evaluating the annotation fails too
            raise Unreadable(f"`{ast.unparse(node)}` is not a valid type: {exc}") from None
    if base is typing.Annotated and len(elements) > 1:
        inner = read_annotation(elements[0], module, an, depth + 1)
        extras = tuple(_value(e, module, an, depth + 1) for e in elements[1:])
        parts = (inner, *extras)
        return typing.Annotated[parts]
    args = tuple(
        Ellipsis
        if isinstance(e, ast.Constant) and e.value is Ellipsis
        else read_annotation(e, module, an, depth + 1)
        for e in elements
    )
    try:
        return base[args if len(args) > 1 else args[0]]
    except TypeError as exc:
        raise Unreadable(f"`{ast.unparse(node)}` is not a valid type: {exc}") from None


# -- names defined in the repository ---------------------------------------------------------


@dataclass
class Analysis:
    """One flow's reading: where names are looked up, and how Prefect would load the file."""

    root: Path
    base_dir: Path
    memo: FileMemo
    # the flow's module when Prefect 3.9.1 would load it statically (`safe_load_namespace`):
    # importing it fails here, so only its top-level imports that work and its top-level
    # classes exist, and what they cannot evaluate is dropped
    static: SourceModule | None = None
    files: set[Path] = field(default_factory=set)  # the other modules read
    # where absolute imports of repository modules are found: what `sys.path` holds while
    # Prefect loads the flow (importing a script: its folder and the working directory;
    # a module: the working directory; statically: the script's folder and its parent)
    roots: tuple[Path, ...] = ()
    # reading the flow's parameters from the def Prefect's static loading rewrote (see
    # `_static_forward_ref`)
    rewritten: bool = False
    # module file -> the package it is in, as Python names it for relative imports
    packages: dict[Path, Package] = field(default_factory=dict)


# Classes rebuilt from their source, by id: never the user's own code.
_REBUILT: dict[int, type] = {}
_ALWAYS_INSTALLED = frozenset({"prefect", "pydantic", "typing_extensions"})


@functools.cache
def _installed(top: str) -> bool:
    """Whether `import top` can find the module in this environment (without importing it)."""
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return True
    if top in _ALWAYS_INSTALLED:  # `prefect deploy` itself needs them
        return True
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


Package = tuple[tuple[str, ...], tuple[Path, ...]]  # package name parts, and their folders


def _package_base(module: SourceModule, level: int, an: Analysis) -> Path | None:
    """The folder `from .{level dots} import` starts from, None when the import goes beyond
    the top-level package (Python's ImportError). A script Prefect imports is a package of its
    own (its folder); a module is in the packages it was imported through."""
    parts, folders = an.packages.get(module.path, ((), ()))
    if len(parts) < level:
        return None
    return folders[len(parts) - level]


def _repo_module(
    module: SourceModule, level: int, dotted: str, an: Analysis
) -> SourceModule | EntrypointProblem | None:
    """The repository module an import in `module` names, None when it is not in the repo."""
    if level > 0:
        base = _package_base(module, level, an)
        if base is None:
            return None
        parts, folders = an.packages[module.path]
        keep = len(parts) - level + 1
        bases = [(base, (parts[:keep], folders[:keep]))]
    else:
        bases = [(root, ((), ())) for root in an.roots]
    for base, (parts, folders) in bases:
        if not inside_repo(base, an.root, an.memo):
            continue
        found = (
            module_file(dotted, base, an.memo)
            if dotted
            else (base / "__init__.py" if an.memo.file_exists(base / "__init__.py") else None)
        )
        if found is not None and inside_repo(found, an.root, an.memo):
            an.files.add(found)
            names = tuple(dotted.split(".")) if dotted else ()
            if found.name != "__init__.py":
                names = names[:-1]
            an.packages.setdefault(
                found,
                (
                    parts + names,
                    folders + tuple(base.joinpath(*names[: i + 1]) for i in range(len(names))),
                ),
            )
            return read_module(found, an.root, an.memo)
    return None


def import_failure(
    module: SourceModule, an: Analysis, seen: set[Path], depth: int = 0
) -> str | None:
    """Why importing `module` fails here, or None: an unguarded import that is neither
    installed nor in the repository (or fails the same way in turn), or a name used before
    it is defined."""
    if module.path in seen or depth > 30:
        return None
    seen.add(module.path)
    for stmt in module.import_stmts:
        if stmt.guarded or stmt.module == "__future__":
            continue
        names = (
            [stmt.module]
            if not stmt.names
            else [f"{stmt.module}.{n}" if stmt.module else n for n in stmt.names if n != "*"]
            or [stmt.module]
        )
        for dotted in names:
            reason = _unresolved(module, stmt, dotted, an, seen, depth)
            if reason is None:
                break  # `from pkg import name` needs only `pkg`, or `pkg.name` as a module
        else:
            return reason
    used = name_error(module)
    if used is not None:
        return f"{repo_relative(module.path, an.root, an.memo)}: {used}"
    return None


def _unresolved(
    module: SourceModule, stmt: ImportStmt, dotted: str, an: Analysis, seen: set[Path], depth: int
) -> str | None:
    where = f"{repo_relative(module.path, an.root, an.memo)}:{stmt.line}"
    repo = _repo_module(module, stmt.level, dotted, an)
    if repo is None and stmt.names and stmt.module:
        repo = _repo_module(module, stmt.level, stmt.module, an)
    if isinstance(repo, EntrypointProblem):
        return f"{where} imports {repo.file}, which cannot be read"
    if isinstance(repo, SourceModule):
        return import_failure(repo, an, seen, depth + 1)
    if stmt.level == 0 and _installed(stmt.module.split(".")[0]):
        return None
    if stmt.level > 0 and _package_base(module, stmt.level, an) is None:
        return f"{where}: its relative import goes beyond the top-level package"
    shown = "." * stmt.level + stmt.module
    return f"{where} imports `{shown}`, which is neither installed here nor in the repository"


def is_absent(name: str, module: SourceModule, an: Analysis) -> bool:
    """Whether `name` is missing from the namespace Prefect's static loading builds."""
    if module is not an.static:
        return False
    if name not in module.direct:
        return not hasattr(builtins, name)
    stmt = module.bindings.get(name)
    if isinstance(stmt, ast.Import):
        top = module.imports.get(name, name)
        return _installed_or_repo(module, 0, top, an) is False
    if isinstance(stmt, ast.ImportFrom):
        level, source, _ = module.sources.get(name, (0, "", ""))
        return _installed_or_repo(module, level, source, an) is False
    return False


def _installed_or_repo(module: SourceModule, level: int, dotted: str, an: Analysis) -> bool:
    repo = _repo_module(module, level, dotted, an)
    if isinstance(repo, SourceModule):
        return import_failure(repo, an, set()) is None
    return level == 0 and repo is None and _installed(dotted.split(".")[0])


def _lookup(node: ast.expr, module: SourceModule, an: Analysis, depth: int) -> Any:
    """What a (dotted) name in `module` stands for: a known type, a class rebuilt from the
    repository's source, an enum member, or a repository module."""
    if depth > 20:
        raise Unreadable("names refer to each other too deeply")
    name = qualified_name(node, module)
    if name in _KNOWN_TYPES:
        return _KNOWN_TYPES[name]
    root = node
    while isinstance(root, ast.Attribute):
        root = root.value
    if isinstance(root, ast.Name) and is_absent(root.id, module, an):
        raise Absent(f"`{ast.unparse(node)}` is not available when Prefect loads the file "
                      "without importing it")  # fmt: skip
    if isinstance(node, ast.Attribute):
        try:
            base = _lookup(node.value, module, an, depth + 1)
        except Absent:
            raise
        except Unreadable:
            base = None  # said below, naming the whole dotted name
        if isinstance(base, SourceModule):
            return _lookup(ast.Name(node.attr), base, an, depth + 1)
        if isinstance(base, type) and id(base) in _REBUILT and isinstance(base, enum.EnumMeta):
            member = base.__members__.get(node.attr)
            if member is not None:
                return member
    elif isinstance(node, ast.Name):
        found = _lookup_name(node.id, module, an, depth)
        if found is not None:
            return found
    text = ast.unparse(node)
    if name is None:
        raise Unreadable(f"`{text}` is defined in a way we cannot read without importing it")
    raise Unreadable(f"`{text}` ({name}) is not a type we can read without importing it")


def _lookup_name(name: str, module: SourceModule, an: Analysis, depth: int) -> Any:
    node = module.defs.get(name)
    if isinstance(node, ast.ClassDef):
        return _rebuilt_class(node, module, an)
    source = module.sources.get(name)
    if source is not None:
        level, dotted, attr = source
        repo = _repo_module(module, level, dotted, an)
        if isinstance(repo, SourceModule) and attr in repo.bindings:
            return _lookup(ast.Name(attr), repo, an, depth + 1)
        inner = _repo_module(module, level, f"{dotted}.{attr}" if dotted else attr, an)
        return inner if isinstance(inner, SourceModule) else None
    qualified = module.imports.get(name)
    if qualified is not None and isinstance(module.bindings.get(name), ast.Import):
        repo = _repo_module(module, 0, qualified, an)
        return repo if isinstance(repo, SourceModule) else None
    if name not in module.bindings and module.path.name == "__init__.py":
        # `import pkg.sub` then `pkg.sub.Model`: a submodule of the package
        sub = _repo_module(module, 1, name, an)
        return sub if isinstance(sub, SourceModule) else None
    return None


# -- classes rebuilt from the repository's source --------------------------------------------

_MODEL_BASES: dict[str, Any] = {
    "pydantic.BaseModel": pydantic.BaseModel,
    "pydantic.main.BaseModel": pydantic.BaseModel,
    "typing.TypedDict": typing.TypedDict,
    "typing_extensions.TypedDict": typing_extensions.TypedDict,
    **{f"enum.{n}": getattr(enum, n) for n in ("Enum", "IntEnum", "StrEnum", "Flag", "IntFlag")},
    **{f"builtins.{t.__name__}": t for t in (str, int, float, object)},
}
_DATACLASS_DECORATORS: dict[str, Any] = {
    "dataclasses.dataclass": dataclasses.dataclass,
    "pydantic.dataclasses.dataclass": pydantic.dataclasses.dataclass,
}
# methods that change what a class validates, or how its schema is generated
_SCHEMA_METHODS = frozenset(
    {"__get_pydantic_json_schema__", "__get_pydantic_core_schema__", "model_json_schema",
     "_missing_", "__new__", "__init_subclass__", "__class_getitem__", "_generate_next_value_"}
)  # fmt: skip


def _rebuilt_class(node: ast.ClassDef, module: SourceModule, an: Analysis) -> type:
    """An equivalent of the user's class, built from its definition (never by running the
    user's code): same bases, field annotations, defaults, `Field(...)`s, members and
    docstring, so pydantic derives the same schema from it."""
    key = (module.path, node.name, an.static is module)
    found = an.memo.classes.get(key)
    if found is None:
        an.memo.classes[key] = Unreadable(f"class `{node.name}` refers to itself")
        try:
            found = _build_class(node, module, an)
        except Unreadable as exc:
            found = exc
        except (RecursionError, MemoryError):
            raise
        except Exception as exc:  # pydantic refusing the class, as it would refuse the user's
            found = Unreadable(f"class `{node.name}` cannot be rebuilt: {exc}")
        an.memo.classes[key] = found
    if isinstance(found, Unreadable):
        raise found
    return typing.cast(type, found)


def _build_class(node: ast.ClassDef, module: SourceModule, an: Analysis) -> type:
    where = f"class `{node.name}` ({repo_relative(module.path, an.root, an.memo)}:{node.lineno})"
    bases = tuple(_base(b, module, an) for b in node.bases)
    keywords: dict[str, Any] = {}
    for keyword in node.keywords:
        ok, value = literal_value(keyword.value)
        if keyword.arg != "total" or not ok:
            raise Unreadable(f"{where} has a class keyword we cannot read")
        keywords[keyword.arg] = value
    decorators = [_class_decorator(d, module, an, where) for d in node.decorator_list]
    annotations, values = _class_body(node, module, an, where)

    def fill(namespace: dict[str, Any]) -> None:
        namespace["__module__"] = module.name
        namespace["__qualname__"] = node.name
        doc = ast.get_docstring(node, clean=False)
        if doc is not None:
            namespace["__doc__"] = doc
        if annotations:
            namespace["__annotations__"] = annotations
        for name, value in values:
            namespace[name] = value

    built: type = types.new_class(node.name, bases, keywords, fill)
    for decorator in reversed(decorators):
        built = decorator(built)
    _REBUILT[id(built)] = built
    return built


def _base(node: ast.expr, module: SourceModule, an: Analysis) -> Any:
    name = qualified_name(node, module)
    if name in _MODEL_BASES:
        return _MODEL_BASES[name]
    found = _lookup(node, module, an, 0)
    if isinstance(found, type) and id(found) in _REBUILT:
        return found
    raise Unreadable(f"the base class `{ast.unparse(node)}` cannot be read without importing it")


def _class_decorator(node: ast.expr, module: SourceModule, an: Analysis, where: str) -> Any:
    target = node.func if isinstance(node, ast.Call) else node
    name = qualified_name(target, module)
    if name not in _DATACLASS_DECORATORS:
        raise Unreadable(f"{where} has a decorator we cannot follow statically")
    decorator = _DATACLASS_DECORATORS[name]
    if not isinstance(node, ast.Call):
        return decorator
    if node.args:
        raise Unreadable(f"{where}: `{ast.unparse(node)}` has positional arguments")
    options = {k.arg: _value(k.value, module, an, 0) for k in node.keywords if k.arg}
    return functools.partial(decorator, **options)


def _class_body(
    node: ast.ClassDef, module: SourceModule, an: Analysis, where: str
) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    annotations: dict[str, Any] = {}
    values: list[tuple[str, Any]] = []
    for index, stmt in enumerate(node.body):
        if isinstance(stmt, ast.Pass) or (
            isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
        ):
            continue  # the docstring, `...`
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            annotations[stmt.target.id] = read_annotation(stmt.annotation, module, an)
            if stmt.value is not None:
                values.append((stmt.target.id, _value(stmt.value, module, an, 0)))
        elif (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            values.append((stmt.targets[0].id, _value(stmt.value, module, an, 0)))
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if stmt.name in _SCHEMA_METHODS:
                raise Unreadable(f"{where} defines `{stmt.name}`, which only its code can tell")
        else:
            line = getattr(stmt, "lineno", node.lineno + index)
            raise Unreadable(f"{where}: line {line} is not a field, member or method")
    return annotations, values
