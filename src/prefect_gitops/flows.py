"""Static analysis of flow entrypoints: never imports or runs user code.

`prefect deploy` imports the entrypoint's module to find the flow, its name and its
parameter schema; when that import fails (the flow's dependencies are not installed, common
in CI) and the entrypoint is a script, it falls back to a static loading of its own
(`safe_load_flow_from_entrypoint`): only the file's top-level imports that work and its
top-level classes and defs are run, annotations it cannot evaluate are dropped and defaults
become None. We read the file with `ast` and decide the same way: importing would succeed when
every import the module runs (outside `try: ... except ImportError`) is the standard
library, installed here, or a repository module that imports in turn. Then we derive what
Prefect 3.9.1 would on that path: the flow name (`name=` when it is a literal, else the
function name with `_` -> `-`) and the parameter schema of
`prefect.utilities.callables.parameter_schema`. For the schema we rebuild the annotations as
real typing objects: a whitelist (builtins, typing, datetime, uuid, pathlib, decimal) plus
the pydantic models, dataclasses, TypedDicts and enums defined in the repository, rebuilt
from their definitions (fields, annotations, literal defaults, `Field(...)`, members,
docstrings), and hand them to pydantic exactly as Prefect does, so the result is identical by
construction. Whatever is not literal enough to rebuild is reported as unreadable, never
guessed.
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
import inspect
import io
import operator
import os
import pathlib
import re
import stat
import sys
import tokenize
import types
import typing
import uuid
from collections.abc import Mapping as AbcMapping
from collections.abc import Sequence as AbcSequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pydantic
import pydantic.dataclasses
import typing_extensions

from .docstrings import parameter_docstrings
from .flowschema import generate_parameter_schema, shadows_base_model
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
    # only as FlowInfo.load_problem:
    "import_fails",  # importing it fails here, and Prefect's static fallback cannot load it
    "schema_fails",  # pydantic refuses a parameter's type here (e.g. typing.TypedDict < 3.12)
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
    # the function's name when its def was found: what a plan can still know of the flow
    # (`default_flow_name`) when the rest cannot be read
    function: str | None = None


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
    # Why importing the flow's module fails in this environment, so that `prefect deploy`
    # loads it statically (then annotations it cannot evaluate are dropped, and the flow has
    # no version); None when it would import it.
    static_reason: str | None = None
    # Why `prefect deploy` fails on this flow in this environment: importing it fails and its
    # static fallback cannot load it ("import_fails"), or pydantic refuses a parameter type
    # ("schema_fails"). The rest is read as when the import works (e.g. in the deploy's CI).
    load_problem: EntrypointProblem | None = None

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
    is_script: bool  # `path/file.py:function`, which Prefect can load statically


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
    # (file, class name, read as Prefect's static loading would) -> rebuilt class, or why not
    classes: dict[tuple[Path, str, bool], Any] = field(default_factory=dict)

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
    if entrypoint != entrypoint.strip():
        return EntrypointProblem(
            "format",
            f"entrypoint {entrypoint!r} has leading or trailing whitespace; prefect deploy "
            "fails on it (it looks for a file or function whose name holds the spaces)",
        )
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
    return _Target(found, object_path, is_script)


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


@dataclass(frozen=True)
class _ImportStmt:
    module: str  # `a.b` of `import a.b` / `from a.b import c`; '' for `from . import c`
    level: int  # leading dots of a relative import
    names: tuple[str, ...]  # `c` of `from a.b import c`; () for `import a.b`
    guarded: bool  # inside a `try` whose handlers catch the ImportError
    direct: bool  # a statement of the module body itself
    line: int


@dataclass
class _Module:
    tree: ast.Module
    source: str
    path: Path
    utf8: bool  # Prefect's static fallback reads files as UTF-8, whatever their cookie says
    # local name -> qualified name, e.g. {"f": "prefect.flow", "t": "typing"}
    imports: dict[str, str] = field(default_factory=dict)
    # every module-level binding, for shadowing and "defined but not a def" checks
    bindings: dict[str, ast.AST] = field(default_factory=dict)
    # top-level def/class statements by name (also those under a top-level `if`/`try`)
    defs: dict[str, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef] = field(
        default_factory=dict
    )
    # local name -> (level, module, attribute) of `from module import attribute`
    sources: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    import_stmts: list[_ImportStmt] = field(default_factory=list)
    # names bound by statements of the module body itself: all Prefect's static fallback runs
    direct: set[str] = field(default_factory=set)
    future: set[str] = field(default_factory=set)  # `from __future__ import ...` features
    # (object path, repo-relative file, base dir, is script) -> (analysis, other modules read,
    # their fingerprint); lives as long as the cached module
    results: dict[tuple[str, str, Path, bool], _Result] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.stem


_Result = tuple["FlowInfo | EntrypointProblem", tuple[Path, ...], tuple[Any, ...]]
_CACHE: dict[tuple[str, int, int], _Module | EntrypointProblem] = {}


@dataclass(frozen=True)
class _Stmt:
    node: ast.stmt
    alternative: bool  # in an `except`/`else` branch: binds only what the main branch did not
    direct: bool  # a statement of the module body itself
    guarded: bool  # inside a `try` whose handlers catch ImportError


_IMPORT_CATCHERS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


def _catches_import(handlers: list[ast.ExceptHandler]) -> bool:
    for handler in handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        for kind in kinds:
            if kind is None or (isinstance(kind, ast.Name) and kind.id in _IMPORT_CATCHERS):
                return True
    return False


def _is_main_block(stmt: ast.If) -> bool:
    test = stmt.test
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_bodies(
    body: list[ast.stmt], alternative: bool = False, direct: bool = True, guarded: bool = False
) -> list[_Stmt]:
    """The statements importing the module runs at top level, including those inside
    top-level `try` (import fallbacks) and `if` (version switches); never the
    `if __name__ == "__main__":` block nor `if TYPE_CHECKING:`, which do not run on import."""
    out: list[_Stmt] = []
    for stmt in body:
        out.append(_Stmt(stmt, alternative, direct, guarded))
        if isinstance(stmt, ast.Try):
            inner = guarded or _catches_import(stmt.handlers)
            out.extend(_module_bodies(stmt.body, alternative, False, inner))
            for block in (stmt.orelse, stmt.finalbody):
                out.extend(_module_bodies(block, alternative, False, guarded))
            for handler in stmt.handlers:
                out.extend(_module_bodies(handler.body, True, False, guarded))
        elif isinstance(stmt, ast.If) and not _is_main_block(stmt):
            if not _is_type_checking(stmt.test):
                out.extend(_module_bodies(stmt.body, alternative, False, guarded))
            out.extend(_module_bodies(stmt.orelse, True, False, guarded))
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


def _decode(data: bytes, rel: str) -> str | EntrypointProblem:
    """The text Python reads: UTF-8 unless a PEP 263 coding cookie (or a BOM) says otherwise."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:  # an unknown or contradictory cookie, or invalid UTF-8 in it
        line = exc.lineno or 1
        return EntrypointProblem(
            "unreadable_file", f"{rel}:{line}: Python cannot decode it: {exc.msg}", rel, line
        )
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return EntrypointProblem(
            "unreadable_file",
            f"{rel}:{line}: not valid {encoding} text (byte {data[exc.start]:#04x}); Python "
            "reads a file as UTF-8 unless a `# -*- coding: ... -*-` line says otherwise",
            rel,
            line,
        )


def _parse_module(path: Path, root: Path, rel: str) -> _Module | EntrypointProblem:
    try:
        data = read_capped(path, root, cap=MAX_FLOW_BYTES, name=rel)
        source = _decode(data, rel)
        if isinstance(source, EntrypointProblem):
            return source
        tree = ast.parse(source, filename=rel)
    except FileProblem as problem:
        return EntrypointProblem(_FILE_PROBLEMS[problem.kind], problem.message, rel)
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
    return _index_module(_Module(tree, source, path, _is_utf8(data)))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _bound_names(stmt: ast.stmt) -> list[tuple[str, str | None]]:
    """(local name, qualified name if it is an absolute import) of what `stmt` binds."""
    if isinstance(stmt, ast.Import):
        return [
            (alias.asname, alias.name) if alias.asname else ((top := alias.name.split(".")[0]), top)
            for alias in stmt.names
        ]
    if isinstance(stmt, ast.ImportFrom):
        absolute = stmt.level == 0 and stmt.module
        return [
            (alias.asname or alias.name, f"{stmt.module}.{alias.name}" if absolute else None)
            for alias in stmt.names
        ]
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [(stmt.name, None)]
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        out: list[tuple[str, str | None]] = []
        for target in targets:
            # most targets are one name; walking each costs seconds in a big module
            nodes = (target,) if isinstance(target, ast.Name) else ast.walk(target)
            out.extend((node.id, None) for node in nodes if isinstance(node, ast.Name))
        return out
    return []


def _record_import(module: _Module, item: _Stmt) -> None:
    stmt = item.node
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            module.import_stmts.append(
                _ImportStmt(alias.name, 0, (), item.guarded, item.direct, stmt.lineno)
            )
    elif isinstance(stmt, ast.ImportFrom):
        names = tuple(alias.name for alias in stmt.names)
        module.import_stmts.append(
            _ImportStmt(
                stmt.module or "", stmt.level, names, item.guarded, item.direct, stmt.lineno
            )
        )


def _index_module(module: _Module) -> _Module:
    for item in _module_bodies(module.tree.body):
        stmt = item.node
        _record_import(module, item)
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            module.future.update(alias.name for alias in stmt.names)
        for local, qualified in _bound_names(stmt):
            if item.direct and isinstance(stmt, (ast.Import, ast.ImportFrom, ast.ClassDef,
                                                 ast.FunctionDef, ast.Assign)):  # fmt: skip
                module.direct.add(local)
            if item.alternative and local in module.bindings:
                continue  # `except ImportError:` / `else:` stand-ins for what the main branch bound
            module.bindings[local] = stmt
            module.sources.pop(local, None)
            if qualified is None:
                module.imports.pop(local, None)
            else:
                module.imports[local] = qualified
            if isinstance(stmt, ast.ImportFrom):
                module.sources[local] = (stmt.level, stmt.module or "", _imported_name(stmt, local))
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                module.defs[local] = stmt
            else:
                module.defs.pop(local, None)
    return module


def _imported_name(stmt: ast.ImportFrom, local: str) -> str:
    for alias in stmt.names:
        if (alias.asname or alias.name) == local:
            return alias.name
    return local


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


def _constant(node: ast.expr, module: _Module, an: _Analysis) -> tuple[bool, Any]:
    """A literal, or a module-level name assigned a literal once (`NAME = "etl"`)."""
    ok, value = _literal(node)
    if ok or not isinstance(node, ast.Name) or _is_absent(node.id, module, an):
        return ok, value
    binding = module.bindings.get(node.id)
    if (
        isinstance(binding, ast.Assign)
        and len(binding.targets) == 1
        and isinstance(binding.targets[0], ast.Name)
    ):
        return _literal(binding.value)
    return False, None


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


_VALUE_CONSTRUCTORS = frozenset(
    {"pathlib.Path", "datetime.datetime", "datetime.date", "datetime.time",
     "datetime.timedelta", "uuid.UUID", "decimal.Decimal"}
)  # fmt: skip


class _Unreadable(Exception):
    pass


class _Absent(_Unreadable):
    """The name is not there when Prefect loads the file statically: evaluating it fails, so
    Prefect drops the annotation (or sets the default to None)."""


def _default(node: ast.expr, module: _Module, an: _Analysis) -> tuple[bool, Any]:
    """A literal, a call like `Path("x")` / `timedelta(hours=1)` with literal arguments, a
    member of an enum or an instance of a model defined in the repository."""
    try:
        return True, _value(node, module, an, 0)
    except _Absent:
        raise
    except _Unreadable:
        return False, None


def _value(node: ast.expr, module: _Module, an: _Analysis, depth: int) -> Any:
    if depth > 20:
        raise _Unreadable("the value is nested too deeply")
    ok, value = _literal(node)
    if ok:
        return value
    if isinstance(node, (ast.Name, ast.Attribute)):
        found = _lookup(node, module, an, depth + 1)
        if isinstance(found, enum.Enum):
            return found
        raise _Unreadable(f"`{ast.unparse(node)}` is not a literal")
    if not isinstance(node, ast.Call):
        raise _Unreadable(f"`{ast.unparse(node)}` is not a literal")
    func = _callable(node.func, module, an, depth + 1)
    args = [_value(a, module, an, depth + 1) for a in node.args]
    kwargs: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise _Unreadable(f"`{ast.unparse(node)}` unpacks `**` arguments")
        if keyword.arg == "default_factory":
            kwargs[keyword.arg] = _callable(keyword.value, module, an, depth + 1)
        else:
            kwargs[keyword.arg] = _value(keyword.value, module, an, depth + 1)
    try:
        return func(*args, **kwargs)
    except Exception as exc:  # our rebuilt classes validate like the user's would
        raise _Unreadable(f"`{ast.unparse(node)}` fails: {exc}") from None


_CALLABLES: dict[str, Any] = {
    **{name: None for name in _VALUE_CONSTRUCTORS},
    "pydantic.Field": pydantic.Field,
    "pydantic.fields.Field": pydantic.Field,
    "pydantic.ConfigDict": pydantic.ConfigDict,
    "dataclasses.field": dataclasses.field,
    "enum.auto": enum.auto,
    **{f"builtins.{t.__name__}": t for t in (list, dict, set, tuple, frozenset)},
}


def _callable(node: ast.expr, module: _Module, an: _Analysis, depth: int) -> Any:
    name = _qualified(node, module)
    if name in _CALLABLES:
        return _CALLABLES[name] or _KNOWN_TYPES[name]
    found = _lookup(node, module, an, depth)
    if isinstance(found, type) and id(found) in _REBUILT:
        return found
    raise _Unreadable(f"`{ast.unparse(node)}` is not a call we can evaluate without importing it")


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


def _annotation(node: ast.expr, module: _Module, an: _Analysis, depth: int = 0) -> Any:
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
            if an.static is module and an.postponed:
                return _pydantic_forward_ref(inner, node.value, an)
            return _annotation(inner, module, an, depth + 1)
        raise _Unreadable(f"the annotation {node.value!r} is not a type")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left = _annotation(node.left, module, an, depth + 1)
        right = _annotation(node.right, module, an, depth + 1)
        none = type(None)
        try:
            return operator.or_(none if left is None else left, none if right is None else right)
        except TypeError:
            raise _Unreadable("the `|` union cannot be evaluated") from None
    if isinstance(node, ast.Subscript):
        return _subscript(node, module, an, depth)
    if isinstance(node, (ast.Name, ast.Attribute)):
        found = _lookup(node, module, an, 0)
        if isinstance(found, (_Module, enum.Enum)):
            raise _Unreadable(f"`{ast.unparse(node)}` is not a type")
        return found
    raise _Unreadable(f"`{ast.unparse(node)}` is not a literal type annotation")


# Prefect's static loading compiles the flow's def with postponed annotations, so a string
# annotation stays a string once evaluated; pydantic then resolves it in the namespace of
# `prefect._internal.pydantic.v2_schema`, which `create_model` is called from: builtins,
# `typing` (also as `t`) and little else.
_PYDANTIC_NAMESPACE = _Module(
    ast.Module(body=[], type_ignores=[]), "", Path("<prefect._internal.pydantic.v2_schema>"), True,
    imports={"typing": "typing", "t": "typing"},
)  # fmt: skip


def _pydantic_forward_ref(inner: ast.expr, text: str, an: _Analysis) -> Any:
    try:
        return _annotation(inner, _PYDANTIC_NAMESPACE, dataclasses.replace(an, postponed=False))
    except _Unreadable:
        raise _Absent(f"the string annotation {text!r} does not resolve where Prefect's "
                      "static loading leaves it to pydantic") from None  # fmt: skip


def _subscript(node: ast.Subscript, module: _Module, an: _Analysis, depth: int) -> Any:
    base = _annotation(node.value, module, an, depth + 1)
    elements = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    if base is typing.Literal:
        values = []
        for element in elements:
            ok, value = _literal(element)
            if not ok:
                raise _Unreadable("a `Literal` holds something other than literals")
            values.append(value)
        return typing.Literal[tuple(values)]
    if base is typing.Annotated and len(elements) > 1:
        inner = _annotation(elements[0], module, an, depth + 1)
        extras = tuple(_value(e, module, an, depth + 1) for e in elements[1:])
        parts = (inner, *extras)
        return typing.Annotated[parts]
    args = tuple(
        Ellipsis
        if isinstance(e, ast.Constant) and e.value is Ellipsis
        else _annotation(e, module, an, depth + 1)
        for e in elements
    )
    try:
        return base[args if len(args) > 1 else args[0]]
    except TypeError as exc:
        raise _Unreadable(f"`{ast.unparse(node)}` is not a valid type: {exc}") from None


# -- names defined in the repository ---------------------------------------------------------


@dataclass
class _Analysis:
    """One flow's reading: where names are looked up, and how Prefect would load the file."""

    root: Path
    base_dir: Path
    memo: FileMemo
    # the flow's module when Prefect 3.9.1 would load it statically (`safe_load_namespace`):
    # importing it fails here, so only its top-level imports that work and its top-level
    # classes exist, and what they cannot evaluate is dropped
    static: _Module | None = None
    files: set[Path] = field(default_factory=set)  # the other modules read
    # where absolute imports of repository modules are found: what `sys.path` holds while
    # Prefect loads the flow (importing a script: its folder and the working directory;
    # a module: the working directory; statically: the script's folder and its parent)
    roots: tuple[Path, ...] = ()
    # reading the flow's own parameters under static loading (see `_pydantic_forward_ref`)
    postponed: bool = False
    # module file -> the package it is in, as Python names it for relative imports
    packages: dict[Path, _Package] = field(default_factory=dict)


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


_Package = tuple[tuple[str, ...], tuple[Path, ...]]  # package name parts, and their folders


def _package_base(module: _Module, level: int, an: _Analysis) -> Path | None:
    """The folder `from .{level dots} import` starts from, None when the import goes beyond
    the top-level package (Python's ImportError). A script Prefect imports is a package of its
    own (its folder); a module is in the packages it was imported through."""
    parts, folders = an.packages.get(module.path, ((), ()))
    if len(parts) < level:
        return None
    return folders[len(parts) - level]


def _repo_module(
    module: _Module, level: int, dotted: str, an: _Analysis
) -> _Module | EntrypointProblem | None:
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
        if not _inside(base, an.root, an.memo):
            continue
        found = (
            _module_file(dotted, base, an.memo)
            if dotted
            else (base / "__init__.py" if an.memo.file_exists(base / "__init__.py") else None)
        )
        if found is not None and _inside(found, an.root, an.memo):
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
            return _read_module(found, an.root, an.memo)
    return None


def _import_failure(module: _Module, an: _Analysis, seen: set[Path], depth: int = 0) -> str | None:
    """Why importing `module` fails here, or None: an unguarded import that is neither
    installed nor in the repository (or fails the same way in turn)."""
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
    return None


def _unresolved(
    module: _Module, stmt: _ImportStmt, dotted: str, an: _Analysis, seen: set[Path], depth: int
) -> str | None:
    where = f"{_rel(module.path, an.root, an.memo)}:{stmt.line}"
    repo = _repo_module(module, stmt.level, dotted, an)
    if repo is None and stmt.names and stmt.module:
        repo = _repo_module(module, stmt.level, stmt.module, an)
    if isinstance(repo, EntrypointProblem):
        return f"{where} imports {repo.file}, which cannot be read"
    if isinstance(repo, _Module):
        return _import_failure(repo, an, seen, depth + 1)
    if stmt.level == 0 and _installed(stmt.module.split(".")[0]):
        return None
    if stmt.level > 0 and _package_base(module, stmt.level, an) is None:
        return f"{where}: its relative import goes beyond the top-level package"
    shown = "." * stmt.level + stmt.module
    return f"{where} imports `{shown}`, which is neither installed here nor in the repository"


def _is_absent(name: str, module: _Module, an: _Analysis) -> bool:
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


def _installed_or_repo(module: _Module, level: int, dotted: str, an: _Analysis) -> bool:
    repo = _repo_module(module, level, dotted, an)
    if isinstance(repo, _Module):
        return _import_failure(repo, an, set()) is None
    return level == 0 and repo is None and _installed(dotted.split(".")[0])


def _lookup(node: ast.expr, module: _Module, an: _Analysis, depth: int) -> Any:
    """What a (dotted) name in `module` stands for: a known type, a class rebuilt from the
    repository's source, an enum member, or a repository module."""
    if depth > 20:
        raise _Unreadable("names refer to each other too deeply")
    name = _qualified(node, module)
    if name in _KNOWN_TYPES:
        return _KNOWN_TYPES[name]
    root = node
    while isinstance(root, ast.Attribute):
        root = root.value
    if isinstance(root, ast.Name) and _is_absent(root.id, module, an):
        raise _Absent(f"`{ast.unparse(node)}` is not available when Prefect loads the file "
                      "without importing it")  # fmt: skip
    if isinstance(node, ast.Attribute):
        try:
            base = _lookup(node.value, module, an, depth + 1)
        except _Absent:
            raise
        except _Unreadable:
            base = None  # said below, naming the whole dotted name
        if isinstance(base, _Module):
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
        raise _Unreadable(f"`{text}` is defined in a way we cannot read without importing it")
    raise _Unreadable(f"`{text}` ({name}) is not a type we can read without importing it")


def _lookup_name(name: str, module: _Module, an: _Analysis, depth: int) -> Any:
    node = module.defs.get(name)
    if isinstance(node, ast.ClassDef):
        return _rebuilt_class(node, module, an)
    source = module.sources.get(name)
    if source is not None:
        level, dotted, attr = source
        repo = _repo_module(module, level, dotted, an)
        if isinstance(repo, _Module) and attr in repo.bindings:
            return _lookup(ast.Name(attr), repo, an, depth + 1)
        inner = _repo_module(module, level, f"{dotted}.{attr}" if dotted else attr, an)
        return inner if isinstance(inner, _Module) else None
    qualified = module.imports.get(name)
    if qualified is not None and isinstance(module.bindings.get(name), ast.Import):
        repo = _repo_module(module, 0, qualified, an)
        return repo if isinstance(repo, _Module) else None
    if name not in module.bindings and module.path.name == "__init__.py":
        # `import pkg.sub` then `pkg.sub.Model`: a submodule of the package
        sub = _repo_module(module, 1, name, an)
        return sub if isinstance(sub, _Module) else None
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


def _rebuilt_class(node: ast.ClassDef, module: _Module, an: _Analysis) -> type:
    """An equivalent of the user's class, built from its definition (never by running the
    user's code): same bases, field annotations, defaults, `Field(...)`s, members and
    docstring, so pydantic derives the same schema from it."""
    key = (module.path, node.name, an.static is module)
    found = an.memo.classes.get(key)
    if found is None:
        an.memo.classes[key] = _Unreadable(f"class `{node.name}` refers to itself")
        try:
            found = _build_class(node, module, an)
        except _Unreadable as exc:
            found = exc
        except (RecursionError, MemoryError):
            raise
        except Exception as exc:  # pydantic refusing the class, as it would refuse the user's
            found = _Unreadable(f"class `{node.name}` cannot be rebuilt: {exc}")
        an.memo.classes[key] = found
    if isinstance(found, _Unreadable):
        raise found
    return typing.cast(type, found)


def _build_class(node: ast.ClassDef, module: _Module, an: _Analysis) -> type:
    where = f"class `{node.name}` ({_rel(module.path, an.root, an.memo)}:{node.lineno})"
    bases = tuple(_base(b, module, an) for b in node.bases)
    keywords: dict[str, Any] = {}
    for keyword in node.keywords:
        ok, value = _literal(keyword.value)
        if keyword.arg != "total" or not ok:
            raise _Unreadable(f"{where} has a class keyword we cannot read")
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


def _base(node: ast.expr, module: _Module, an: _Analysis) -> Any:
    name = _qualified(node, module)
    if name in _MODEL_BASES:
        return _MODEL_BASES[name]
    found = _lookup(node, module, an, 0)
    if isinstance(found, type) and id(found) in _REBUILT:
        return found
    raise _Unreadable(f"the base class `{ast.unparse(node)}` cannot be read without importing it")


def _class_decorator(node: ast.expr, module: _Module, an: _Analysis, where: str) -> Any:
    target = node.func if isinstance(node, ast.Call) else node
    name = _qualified(target, module)
    if name not in _DATACLASS_DECORATORS:
        raise _Unreadable(f"{where} has a decorator we cannot follow statically")
    decorator = _DATACLASS_DECORATORS[name]
    if not isinstance(node, ast.Call):
        return decorator
    if node.args:
        raise _Unreadable(f"{where}: `{ast.unparse(node)}` has positional arguments")
    options = {k.arg: _value(k.value, module, an, 0) for k in node.keywords if k.arg}
    return functools.partial(decorator, **options)


def _class_body(
    node: ast.ClassDef, module: _Module, an: _Analysis, where: str
) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    annotations: dict[str, Any] = {}
    values: list[tuple[str, Any]] = []
    for index, stmt in enumerate(node.body):
        if isinstance(stmt, ast.Pass) or (
            isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
        ):
            continue  # the docstring, `...`
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            annotations[stmt.target.id] = _annotation(stmt.annotation, module, an)
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
                raise _Unreadable(f"{where} defines `{stmt.name}`, which only its code can tell")
        else:
            line = getattr(stmt, "lineno", node.lineno + index)
            raise _Unreadable(f"{where}: line {line} is not a field, member or method")
    return annotations, values


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
    func: ast.FunctionDef | ast.AsyncFunctionDef, module: _Module, an: _Analysis, direct: bool
) -> tuple[inspect.Signature, dict[str, str]]:
    """The signature with real types, and parameter name -> why it could not be read.

    Under Prefect's static loading (`direct`: the def runs as it stands in the namespace),
    what cannot be evaluated is dropped: the annotation, or the default (which becomes
    None); and once anything is dropped, or the def is not a plain top-level one, the
    rewritten def gives keyword-only parameters without a default the default None."""
    params: list[inspect.Parameter] = []
    unreadable: dict[str, str] = {}
    dropped = False
    flow_an = dataclasses.replace(an, postponed=True)
    for arg, kind, default_node in _arguments(func.args):
        annotation: Any = inspect.Parameter.empty
        if arg.annotation is not None:
            try:
                annotation = _annotation(arg.annotation, module, flow_an)
            except _Absent as exc:
                dropped = True
                if an.static is None:
                    unreadable[arg.arg] = f"parameter '{arg.arg}': {exc}"
            except _Unreadable as exc:
                unreadable[arg.arg] = f"parameter '{arg.arg}': {exc}"
        default: Any = inspect.Parameter.empty
        if default_node is not None:
            try:
                ok, default = _default(default_node, module, an)
            except _Absent:
                ok, default, dropped = an.static is not None, None, True
            if not ok:
                default = None
                unreadable.setdefault(
                    arg.arg,
                    f"parameter '{arg.arg}': the default `{ast.unparse(default_node)}` "
                    "is not a literal",
                )
        params.append(inspect.Parameter(arg.arg, kind, default=default, annotation=annotation))
    if an.static is not None and (dropped or not direct):
        params = [
            p.replace(default=None) if p.kind is p.KEYWORD_ONLY and p.default is p.empty else p
            for p in params
        ]
    # Python orders *args before keyword-only parameters, as `inspect.signature` does.
    return inspect.Signature(params), unreadable


def _arguments(args: ast.arguments) -> list[tuple[ast.arg, Any, ast.expr | None]]:
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
    return specs


def _per_parameter(
    signature: inspect.Signature, schema: dict[str, Any], unreadable: dict[str, str]
) -> tuple[FlowParameter, ...]:
    properties = schema.get("properties", {})
    out: list[FlowParameter] = []
    for position, param in enumerate(signature.parameters.values()):
        if param.name in ("self", "cls"):
            continue
        prop_name = param.name + "__" if shadows_base_model(param.name) else param.name
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
    key = (target.object_path, rel, base_dir, target.is_script)
    cached = module.results.get(key)
    if cached is None or _fingerprint(cached[1]) != cached[2]:
        folder = target.path.parent
        roots = (folder, base_dir) if target.is_script else (base_dir,)
        an = _Analysis(root, base_dir, memo, roots=roots)
        an.packages[target.path] = _entry_package(target, base_dir)
        try:
            result = _analyze_function(entrypoint, target, rel, module, an)
        except (RecursionError, MemoryError):
            # An annotation, default or decorator nested hundreds deep: our readers (and
            # `ast.unparse`, `ast.literal_eval`) recurse once per level.
            result = EntrypointProblem(
                "too_complex",
                f"{rel}: '{target.object_path}' nests an expression too deeply to read statically",
                rel,
            )
        files = tuple(sorted(an.files))
        cached = module.results[key] = (result, files, _fingerprint(files))
    result = cached[0]
    if isinstance(result, FlowInfo) and result.entrypoint != entrypoint:
        result = dataclasses.replace(result, entrypoint=entrypoint)
    return result


def _entry_package(target: _Target, base_dir: Path) -> _Package:
    if target.is_script:  # load_script_as_module makes the script a package of its folder
        return (target.path.stem,), (target.path.parent,)
    relative = target.path.relative_to(base_dir) if target.path.is_relative_to(base_dir) else None
    if relative is None:
        return (), ()
    names = relative.parent.parts
    return names, tuple(base_dir.joinpath(*names[: i + 1]) for i in range(len(names)))


def _fingerprint(files: tuple[Path, ...]) -> tuple[tuple[int, int] | None, ...]:
    """The other modules a result was read from, as they are now: a change re-reads it."""
    out: list[tuple[int, int] | None] = []
    for path in files:
        try:
            info = os.stat(path)
        except OSError:
            out.append(None)
        else:
            out.append((info.st_mtime_ns, info.st_size))
    return tuple(out)


def _loading(
    func: ast.FunctionDef | ast.AsyncFunctionDef, target: _Target, module: _Module, an: _Analysis
) -> str | None:
    """Why importing the flow's module fails here (then Prefect loads script entrypoints
    statically), or None when `prefect deploy` would import it."""
    reason = _import_failure(module, an, set())
    if reason is not None or "annotations" in module.future:
        return reason
    for arg, _, default in _arguments(func.args):
        for expr in (arg.annotation, default):
            for node in ast.walk(expr) if expr is not None else ():
                if (
                    isinstance(node, ast.Name)
                    and node.id not in module.bindings
                    and not hasattr(builtins, node.id)
                ):
                    return f"`{node.id}` (line {node.lineno}) is not defined: the def fails"
    return None


def _runs_directly(
    func: ast.FunctionDef | ast.AsyncFunctionDef, target: _Target, module: _Module
) -> bool:
    """Whether Prefect's static loading runs the def as it stands (a plain top-level def, or
    a method of a top-level class) rather than a rewritten copy of it."""
    first = target.object_path.split(".")[0]
    top = module.bindings.get(first)
    if first not in module.direct:
        return False
    if "." in target.object_path:
        return isinstance(top, ast.ClassDef)
    return top is func and isinstance(func, ast.FunctionDef)


def _go_static(
    rel: str, func: ast.FunctionDef | ast.AsyncFunctionDef, decorator: ast.expr,
    target: _Target, module: _Module, an: _Analysis, reason: str
) -> EntrypointProblem | None:  # fmt: skip
    """Read the module as Prefect's static fallback does; when that fallback cannot load the
    flow either, say why and keep reading it as an import would."""
    roots, packages = an.roots, an.packages
    an.static = module
    an.roots = (module.path.parent, module.path.parent.parent)
    # safe_load_namespace imports relatively from the script's folder, as a package
    an.packages = {module.path: ((module.path.parent.name,), (module.path.parent,))}
    problem = _static_problem(rel, func, decorator, target, module, an, reason)
    if problem is not None:
        an.static, an.roots, an.packages = None, roots, packages
    return problem


def _static_problem(
    rel: str, func: ast.FunctionDef | ast.AsyncFunctionDef, decorator: ast.expr,
    target: _Target, module: _Module, an: _Analysis, reason: str
) -> EntrypointProblem | None:  # fmt: skip
    """Why `prefect deploy` (in this environment) fails on a flow whose module it cannot
    import, or None when its static fallback loads it."""
    where = f"{rel}:{func.lineno}"
    if not target.is_script:
        return EntrypointProblem(
            "import_fails",
            f"{where}: importing module entrypoint '{target.object_path}' fails here ({reason}), "
            "and prefect deploy has no static fallback for module entrypoints",
            rel, func.lineno, func.name,
        )  # fmt: skip
    if not module.utf8:
        return EntrypointProblem(
            "import_fails",
            f"{where}: importing the file fails here ({reason}), and prefect deploy's static "
            "fallback reads it as UTF-8, which it is not",
            rel, func.lineno, func.name,
        )  # fmt: skip
    root = decorator.func if isinstance(decorator, ast.Call) else decorator
    while isinstance(root, ast.Attribute):
        root = root.value
    if isinstance(root, ast.Name) and _is_absent(root.id, module, an):
        return EntrypointProblem(
            "import_fails",
            f"{where}: importing the file fails here ({reason}), and prefect deploy's static "
            f"fallback, which runs only top-level imports, does not see `{root.id}`",
            rel, func.lineno, func.name,
        )  # fmt: skip
    return None


def _analyze_function(
    entrypoint: str, target: _Target, rel: str, module: _Module, an: _Analysis
) -> FlowInfo | EntrypointProblem:
    found = _find_function(module, target.object_path)
    if isinstance(found, str):
        kind, message = found.split(":", 1)
        return EntrypointProblem(kind, f"{rel}: {message}", rel)  # type: ignore[arg-type]
    func = found
    decorator, others = _flow_decorator(func, module)
    if decorator is None:
        return _no_flow_problem(rel, func, target, others)
    reason = _loading(func, target, module, an)
    load_problem = None
    if reason is not None:
        load_problem = _go_static(rel, func, decorator, target, module, an, reason)
        if load_problem is not None:
            reason = None  # read as Prefect does where the import works, e.g. the deploy CI
    facts = _decorator_facts(func, decorator, module, an)
    signature, unreadable = _signature(func, module, an, _runs_directly(func, target, module))
    try:
        schema = generate_parameter_schema(signature, parameter_docstrings(facts.docstring))
    except (RecursionError, MemoryError):
        raise
    except Exception as exc:  # `@flow` computes the same schema, and fails the same way
        schema = {}
        unreadable = {p: f"parameter '{p}': no schema" for p in signature.parameters}
        load_problem = EntrypointProblem(
            "schema_fails",
            f"{rel}:{func.lineno}: prefect deploy fails on '{target.object_path}' here: pydantic "
            f"cannot build its parameter schema: {str(exc).splitlines()[0]}",
            rel, func.lineno, func.name,
        )  # fmt: skip
    complete = not unreadable
    return FlowInfo(
        entrypoint=entrypoint,
        file=rel,
        function=target.object_path,
        line=func.lineno,
        is_async=isinstance(func, ast.AsyncFunctionDef),
        name=facts.name,
        docstring=facts.docstring,
        description=facts.description,
        parameters=_per_parameter(signature, schema, unreadable),
        has_var_keyword=func.args.kwarg is not None,
        schema_complete=complete,
        parameter_schema=schema if complete else None,
        definitions=dict(schema.get("definitions", {})),
        flow_run_name=facts.flow_run_name,
        unreadable=(*unreadable.values(), *facts.notes),
        static_reason=reason,
        load_problem=load_problem,
    )


def _no_flow_problem(
    rel: str, func: ast.FunctionDef | ast.AsyncFunctionDef, target: _Target, others: bool
) -> EntrypointProblem:
    if others:
        return EntrypointProblem(
            "not_analysable",
            f"{rel}:{func.lineno}: '{target.object_path}' has decorators we cannot follow "
            "statically and no `@flow`; whether it is a flow is only known at import time",
            rel,
            func.lineno,
            func.name,
        )
    return EntrypointProblem(
        "not_a_flow",
        f"{rel}:{func.lineno}: '{target.object_path}' is not decorated with `@flow` "
        "(prefect deploy fails: 'is not a flow')",
        rel,
        func.lineno,
    )


@dataclass(frozen=True)
class _DecoratorFacts:
    name: str | None
    docstring: str | None
    description: str | None
    flow_run_name: str | None
    notes: tuple[str, ...]


def _decorator_facts(
    func: ast.FunctionDef | ast.AsyncFunctionDef,
    decorator: ast.expr,
    module: _Module,
    an: _Analysis,
) -> _DecoratorFacts:
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
        ok, value = _constant(keywords["name"], module, an)
        if ok and isinstance(value, str):
            name = value or name
        elif not (ok and value is None):
            name = None
            notes.append(f"the flow name `{ast.unparse(keywords['name'])}` is not a literal")

    docstring = ast.get_docstring(func, clean=True)
    description: str | None = docstring
    if "description" in keywords:
        ok, value = _constant(keywords["description"], module, an)
        if ok and (value is None or isinstance(value, str)):
            description = value or docstring
        else:
            description = None
            notes.append("the flow description is not a literal")

    flow_run_name: str | None = None
    if "flow_run_name" in keywords:
        ok, value = _constant(keywords["flow_run_name"], module, an)
        if ok and isinstance(value, str):
            flow_run_name = value
    return _DecoratorFacts(name, docstring, description, flow_run_name, tuple(notes))


def default_flow_name(function: str) -> str:
    """The flow name Prefect gives a function whose `name=` it cannot read (its own fallback,
    `load_flow_arguments_from_entrypoint`): the function's name with `_` -> `-`."""
    return function.rsplit(".", 1)[-1].replace("_", "-")


def banned_name_chars(name: str) -> list[str]:
    return sorted({c for c in name if c in BANNED_NAME_CHARS})


def clear_cache() -> None:
    _CACHE.clear()
