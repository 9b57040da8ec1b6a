"""Reading a Python file as the interpreter would, without running it: its bytes decoded
per PEP 263, parsed with `ast`, and indexed by what its top level binds (imports, defs,
classes, assignments), including under a top-level `try` or `if`, as importing it runs them.

Shared by the flow analysis (`analysis`) and the rebuilding of repository types (`types`).
"""

from __future__ import annotations

import ast
import builtins
import io
import os
import stat
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...repo.files import FileProblem, read_capped, real, relative
from .facts import EntrypointProblem, FlowInfo, ProblemKind

# Flow modules are rarely over 100 KiB; parsing 10 MiB takes half a minute and gigabytes.
MAX_FLOW_BYTES = 2 * 1024 * 1024


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
    modules: dict[Path, SourceModule | EntrypointProblem] = field(default_factory=dict)
    # (file, class name, read as Prefect's static loading would) -> rebuilt class, or why not
    classes: dict[tuple[Path, str, bool], Any] = field(default_factory=dict)
    # (module, import roots, its package) -> why importing it fails (or None), and the
    # other modules read to tell
    import_failures: dict[
        tuple[Path, tuple[Path, ...], Any], tuple[str | None, frozenset[Path]]
    ] = field(default_factory=dict)

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


def inside_repo(path: Path, root: Path, memo: FileMemo) -> bool:
    try:
        memo.resolve(path).relative_to(memo.resolve(root))
    except ValueError:
        return False
    return True


def repo_relative(path: Path, root: Path, memo: FileMemo) -> str:
    found = memo.rels.get((path, root))
    if found is None:
        found = memo.rels[(path, root)] = relative(path, root)
    return found


def module_file(module: str, base_dir: Path, memo: FileMemo) -> Path | None:
    parts = module.split(".")
    as_file = base_dir.joinpath(*parts[:-1], parts[-1] + ".py")
    if memo.file_exists(as_file):
        return as_file
    as_package = base_dir.joinpath(*parts, "__init__.py")
    if memo.file_exists(as_package):
        return as_package
    return None


# -- reading a module ---------------------------------------------------------------------


@dataclass(frozen=True)
class ImportStmt:
    module: str  # `a.b` of `import a.b` / `from a.b import c`; '' for `from . import c`
    level: int  # leading dots of a relative import
    names: tuple[str, ...]  # `c` of `from a.b import c`; () for `import a.b`
    guarded: bool  # inside a `try` whose handlers catch the ImportError
    direct: bool  # a statement of the module body itself
    line: int


@dataclass
class SourceModule:
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
    import_stmts: list[ImportStmt] = field(default_factory=list)
    # names bound by statements of the module body itself: all Prefect's static fallback runs
    direct: set[str] = field(default_factory=set)
    future: set[str] = field(default_factory=set)  # `from __future__ import ...` features
    first_bound: dict[str, int] = field(default_factory=dict)  # name -> line of its first binding
    used_too_early: list[str | None] = field(default_factory=list)  # `name_error`, once known
    # (object path, repo-relative file, base dir, is script) -> (analysis, other modules read,
    # their fingerprint); lives as long as the cached module
    results: dict[tuple[str, str, Path, bool], _Result] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.stem


_Result = tuple[FlowInfo | EntrypointProblem, tuple[Path, ...], tuple[Any, ...]]
_MODULE_CACHE: dict[tuple[str, int, int], SourceModule | EntrypointProblem] = {}


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
            # The branch the import takes, when the test is one we can evaluate here (Python
            # version, environment variables); else the `if` branch, `else` as the fallback.
            taken = False if _is_type_checking(stmt.test) else static_truth(stmt.test)
            if taken is not False:
                out.extend(_module_bodies(stmt.body, alternative, False, guarded))
            else_alternative = alternative if taken is False else True
            out.extend(_module_bodies(stmt.orelse, else_alternative, False, guarded))
            if taken is False and not _is_type_checking(stmt.test):
                out.extend(_module_bodies(stmt.body, True, False, guarded))
    return out


def static_truth(test: ast.expr) -> bool | None:
    """The value of a module-level `if` test that does not depend on user code: constants,
    `sys.version_info` comparisons and environment lookups (`os.environ.get`, `os.getenv`,
    `"X" in os.environ`), with `not`/`and`/`or`; None when it cannot be known here."""
    if isinstance(test, ast.Constant):
        return bool(test.value)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = static_truth(test.operand)
        return None if inner is None else not inner
    if isinstance(test, ast.BoolOp):
        values = [static_truth(v) for v in test.values]
        if None in values:
            return None
        return all(values) if isinstance(test.op, ast.And) else any(values)
    value = _static_value(test)
    return None if value is _UNKNOWN else bool(value)


_UNKNOWN: Any = object()
_COMPARE: dict[type[ast.cmpop], Any] = {
    ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b, ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}  # fmt: skip


def _static_value(node: ast.expr) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Tuple):
        items = [_static_value(e) for e in node.elts]
        return _UNKNOWN if _UNKNOWN in items else tuple(items)
    dotted = ast.unparse(node) if isinstance(node, (ast.Attribute, ast.Name)) else ""
    if dotted == "sys.version_info":
        return tuple(sys.version_info)
    if dotted == "os.environ":
        return dict(os.environ)
    if isinstance(node, ast.Call) and not node.keywords and node.args:
        name = ast.unparse(node.func)
        args = [_static_value(a) for a in node.args]
        if name in ("os.environ.get", "os.getenv") and _UNKNOWN not in args and len(args) <= 2:
            return os.environ.get(str(args[0]), args[1] if len(args) == 2 else None)
        return _UNKNOWN
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left, right = _static_value(node.left), _static_value(node.comparators[0])
        compare = _COMPARE.get(type(node.ops[0]))
        if _UNKNOWN in (left, right) or compare is None:
            return _UNKNOWN
        try:
            return compare(left, right)
        except TypeError:
            return _UNKNOWN
    return _UNKNOWN


def read_module(path: Path, root: Path, memo: FileMemo) -> SourceModule | EntrypointProblem:
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


def _read_module_uncached(
    path: Path, root: Path, memo: FileMemo
) -> SourceModule | EntrypointProblem:
    rel = repo_relative(path, root, memo)
    try:
        info: os.stat_result | None = os.stat(memo.resolve(path))
    except OSError:
        info = None  # reading it says why
    key = None
    if info is not None and stat.S_ISREG(info.st_mode):
        key = (str(memo.resolve(path)), info.st_mtime_ns, info.st_size)
        cached = _MODULE_CACHE.get(key)
        if cached is not None:
            return cached
    result = _parse_module(path, root, rel)
    if key is not None:
        _MODULE_CACHE[key] = result
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


def _parse_module(path: Path, root: Path, rel: str) -> SourceModule | EntrypointProblem:
    try:
        data = read_capped(path, root, cap=MAX_FLOW_BYTES, name=rel)
        source = _decode(data, rel)
        if isinstance(source, EntrypointProblem):
            return source
        tree = ast.parse(source, filename=rel)
    except FileProblem as problem:
        return EntrypointProblem(_FILE_PROBLEMS[problem.kind], problem.message, rel)
    except SyntaxError as exc:
        where = rel if exc.lineno is None else f"{rel}:{exc.lineno}"
        return EntrypointProblem(
            "syntax_error", f"{where} has a Python syntax error: {exc.msg}", rel, exc.lineno
        )
    except (RecursionError, MemoryError):
        # CPython's parser gives up on expressions nested thousands deep; importing the
        # module would fail the same way.
        return EntrypointProblem(
            "too_complex", f"{rel} nests an expression too deeply for Python to parse it", rel
        )
    except ValueError as exc:  # e.g. a NUL byte
        return EntrypointProblem("unreadable_file", f"cannot read {rel}: {exc}", rel)
    return _index_module(SourceModule(tree, source, path, _is_utf8(data)))


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


def _record_import(module: SourceModule, item: _Stmt) -> None:
    stmt = item.node
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            module.import_stmts.append(
                ImportStmt(alias.name, 0, (), item.guarded, item.direct, stmt.lineno)
            )
    elif isinstance(stmt, ast.ImportFrom):
        names = tuple(alias.name for alias in stmt.names)
        module.import_stmts.append(
            ImportStmt(stmt.module or "", stmt.level, names, item.guarded, item.direct, stmt.lineno)
        )


def _index_module(module: SourceModule) -> SourceModule:
    for item in _module_bodies(module.tree.body):
        stmt = item.node
        _record_import(module, item)
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            module.future.update(alias.name for alias in stmt.names)
        for local, qualified in _bound_names(stmt):
            if item.direct and isinstance(stmt, (ast.Import, ast.ImportFrom, ast.ClassDef,
                                                 ast.FunctionDef, ast.Assign)):  # fmt: skip
                module.direct.add(local)
            module.first_bound.setdefault(local, stmt.lineno)
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


def qualified_name(node: ast.expr, module: SourceModule) -> str | None:
    """`f` -> `prefect.flow`, `p.flow` -> `prefect.flow`, `int` -> `builtins.int`."""
    if isinstance(node, ast.Name):
        if node.id in module.imports:
            return module.imports[node.id]
        if node.id in module.bindings:
            return None  # defined in the module itself
        return f"builtins.{node.id}"
    if isinstance(node, ast.Attribute):
        base = qualified_name(node.value, module)
        if base is None or base.startswith("builtins."):
            return None
        return f"{base}.{node.attr}"
    return None


def literal_value(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


# -- names used before they exist -------------------------------------------------------------

_SCOPED = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.NamedExpr)


def _loaded_names(expr: ast.expr | None) -> list[ast.Name]:
    """The names an expression reads when evaluated, leaving out lambdas and comprehensions,
    whose own variables are not module names."""
    out: list[ast.Name] = []
    stack: list[ast.AST] = [expr] if expr is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, _SCOPED):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            out.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return out


def _eager_expressions(stmt: ast.stmt, postponed: bool) -> list[tuple[ast.expr | None, set[str]]]:
    """What running `stmt` at import evaluates (not function bodies), each with the names
    bound locally before it (a class body's earlier attributes)."""
    none: set[str] = set()
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = stmt.args
        exprs: list[ast.expr | None] = [*stmt.decorator_list, *args.defaults, *args.kw_defaults]
        if not postponed:
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            exprs += [a.annotation for a in every if a is not None]
            exprs.append(stmt.returns)
        return [(e, none) for e in exprs]
    if isinstance(stmt, ast.ClassDef):
        out: list[tuple[ast.expr | None, set[str]]] = [
            (e, none)
            for e in [*stmt.decorator_list, *stmt.bases, *(k.value for k in stmt.keywords)]
        ]
        local: set[str] = set()
        for inner in stmt.body:
            if isinstance(inner, ast.AnnAssign) and isinstance(inner.target, ast.Name):
                if not postponed:
                    out.append((inner.annotation, set(local)))
                out.append((inner.value, set(local)))
                local.add(inner.target.id)
            elif isinstance(inner, ast.Assign):
                out.append((inner.value, set(local)))
                local.update(
                    n.id for t in inner.targets for n in ast.walk(t) if isinstance(n, ast.Name)
                )
            elif isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                local.add(inner.name)
        return out
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr)):
        return [(stmt.value, none)]
    return []


def name_error(module: SourceModule) -> str | None:
    """A name module-level code reads before anything binds it: importing the module then
    fails with NameError (a class used above its definition, say). None when none is seen."""
    if not module.used_too_early:
        module.used_too_early.append(_name_error(module))
    return module.used_too_early[0]


def _name_error(module: SourceModule) -> str | None:
    if any(stmt.names == ("*",) for stmt in module.import_stmts):
        return None  # a star import binds names we cannot see
    postponed = "annotations" in module.future
    for item in _module_bodies(module.tree.body):
        if item.alternative:
            continue  # runs only when the main branch failed
        line = item.node.lineno
        for expr, local in _eager_expressions(item.node, postponed):
            for name in _loaded_names(expr):
                known = name.id in local or hasattr(builtins, name.id)
                dunder = name.id.startswith("__") and name.id.endswith("__")
                if not known and not dunder and module.first_bound.get(name.id, line) >= line:
                    return f"`{name.id}` is used on line {name.lineno} before it is defined"
    return None
