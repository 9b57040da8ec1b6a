"""Static analysis of flow entrypoints: never imports or runs user code.

`prefect deploy` imports the entrypoint's module to find the flow, its name and its
parameter schema; when that import fails (the flow's dependencies are not installed, common
in CI) and the entrypoint is a script, it falls back to a static loading of its own
(`safe_load_flow_from_entrypoint`): only the file's top-level imports that work and its
top-level classes and defs are run, annotations it cannot evaluate are dropped and defaults
become None. We decide the same way (`flowtypes.import_failure`) and derive what Prefect
3.9.1 would on that path: the flow name (`name=` when it is a literal or a module constant,
else the function name with `_` -> `-`), and the parameter schema, by handing the annotations
rebuilt as real objects (`flowtypes`) to Prefect's own algorithm (`flowschema`), so the
result is identical by construction. Whatever is not literal enough to rebuild is reported as
unreadable, never guessed; what `prefect deploy` would fail on in this environment is a
`load_problem`, the flow still read as an import would.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .docstrings import parameter_docstrings
from .pysource import (
    MAX_FLOW_BYTES,
    EntrypointProblem,
    FileMemo,
    SourceModule,
    inside_repo,
    module_file,
    qualified_name,
    read_module,
    repo_relative,
)
from .schema import generate_parameter_schema, is_required, shadows_base_model
from .types import (
    Absent,
    Analysis,
    Package,
    StringAbsent,
    Unreadable,
    import_failure,
    is_absent,
    read_annotation,
    read_constant,
    read_default,
)

__all__ = [
    "MAX_FLOW_BYTES",
    "PLANNED_DESPITE",
    "EntrypointProblem",
    "FileMemo",
    "FlowInfo",
    "FlowParameter",
    "analyze_entrypoint",
    "default_flow_name",
    "fallback_flow_name",
]


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
    name: str | None  # None when `name=` cannot be read (`unread_name` holds its source)
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
    unread_name: str | None = None  # the `name=` expression that cannot be read statically
    unreadable: tuple[str, ...] = ()  # everything we could not read, one sentence each
    # Why importing the flow's module fails in this environment, so that `prefect deploy`
    # loads it statically (then annotations it cannot evaluate are dropped, and the flow has
    # no version); None when it would import it.
    static_reason: str | None = None
    # Why `prefect deploy` fails on this flow in this environment: importing it fails and its
    # static fallback cannot load it ("import_fails"), or pydantic refuses a parameter type
    # ("schema_fails"). The rest is read as when the import works (e.g. in the deploy's CI).
    load_problem: EntrypointProblem | None = None

    @property
    def opaque_parameters(self) -> tuple[str, ...]:
        """Why `parameter_schema` is unknown: one sentence per parameter that could not be
        read (empty when the schema is known)."""
        if self.parameter_schema is not None:
            return ()
        return tuple(p.unreadable for p in self.parameters if p.unreadable is not None)

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


_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_OBJECT = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)?$")


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
        rel = repo_relative(path, root, memo)
        if not inside_repo(path, root, memo):
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
    found = module_file(left, base_dir, memo)
    if found is None:
        return EntrypointProblem(
            "module_not_found",
            f"module '{left}' of entrypoint '{entrypoint}' is not in the repository "
            f"(looked under {repo_relative(base_dir, root, memo) or '.'}); it can only be checked if it is "
            "an installed package",
        )
    if not inside_repo(found, root, memo):
        return EntrypointProblem(
            "outside_repo",
            f"module '{left}' resolves outside the repository",
            repo_relative(found, root, memo),
        )
    return found


_FLOW_NAMES = frozenset(
    {"prefect.flow", "prefect.flows.flow", "prefect.Flow", "prefect.flows.Flow"}
)


def _flow_decorator(
    func: ast.FunctionDef | ast.AsyncFunctionDef, module: SourceModule
) -> tuple[ast.expr | None, bool]:
    """The `@flow` / `@flow(...)` decorator, and whether other unknown decorators exist."""
    found: ast.expr | None = None
    others = False
    for deco in func.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        name = qualified_name(target, module)
        if name in _FLOW_NAMES:
            found = deco
        elif name not in ("builtins.staticmethod", "builtins.classmethod"):
            others = True
    return found, others


# -- putting it together ----------------------------------------------------------------------


def _find_function(
    module: SourceModule, object_path: str
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
    func: ast.FunctionDef | ast.AsyncFunctionDef, module: SourceModule, an: Analysis, direct: bool
) -> tuple[inspect.Signature, dict[str, str]]:
    """The signature with real types, and parameter name -> why it could not be read.

    Under Prefect's static loading, the def runs as written when it is a plain top-level def
    (`direct`) whose annotations and defaults all evaluate; otherwise Prefect rewrites it:
    what cannot be evaluated is dropped (the annotation, or the default, which becomes None),
    keyword-only parameters without a default get None, and string annotations resolve
    elsewhere (see `flowtypes`)."""
    params, unreadable, dropped = _parameters(func, module, an)
    if an.static is not None and (dropped or not direct):
        params, unreadable, _ = _parameters(func, module, dataclasses.replace(an, rewritten=True))
        params = [
            p.replace(default=None) if p.kind is p.KEYWORD_ONLY and p.default is p.empty else p
            for p in params
        ]
    # Python orders *args before keyword-only parameters, as `inspect.signature` does.
    return inspect.Signature(params), unreadable


def _parameters(
    func: ast.FunctionDef | ast.AsyncFunctionDef, module: SourceModule, an: Analysis
) -> tuple[list[inspect.Parameter], dict[str, str], bool]:
    """The parameters, why some could not be read, and whether static loading cannot run the
    def as written (an annotation or default it cannot evaluate, which it then drops)."""
    params: list[inspect.Parameter] = []
    unreadable: dict[str, str] = {}
    dropped = False
    for arg, kind, default_node in _arguments(func.args):
        annotation: Any = inspect.Parameter.empty
        if arg.annotation is not None:
            try:
                annotation = read_annotation(arg.annotation, module, an)
            except StringAbsent:
                # pydantic cannot resolve the string: the parameter is `Any`, and `@flow`
                # fails on the def as written (its validation needs the type), so Prefect
                # rewrites it
                dropped = True
            except Absent as exc:
                dropped = True
                if an.static is None:
                    unreadable[arg.arg] = f"parameter '{arg.arg}': {exc}"
            except Unreadable as exc:
                unreadable[arg.arg] = f"parameter '{arg.arg}': {exc}"
        default: Any = inspect.Parameter.empty
        if default_node is not None:
            try:
                default = read_default(default_node, module, an)
            except Unreadable as exc:
                default = None
                if isinstance(exc, Absent):
                    dropped = True
                if an.static is None or not isinstance(exc, Absent):
                    unreadable.setdefault(arg.arg, _default_unreadable(arg.arg, default_node, exc))
        params.append(inspect.Parameter(arg.arg, kind, default=default, annotation=annotation))
    return params, unreadable, dropped


def _default_unreadable(name: str, node: ast.expr, exc: Unreadable) -> str:
    text = f"`{ast.unparse(node)}`"
    why = str(exc)
    if why.startswith(text):  # the reason is about the whole default
        return f"parameter '{name}': the default {why}"
    return f"parameter '{name}': the default {text} cannot be read: {why}"


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
                required=is_required(param),
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
    rel = repo_relative(target.path, root, memo)
    module = read_module(target.path, root, memo)
    if isinstance(module, EntrypointProblem):
        return module
    key = (target.object_path, rel, base_dir, target.is_script)
    cached = module.results.get(key)
    if cached is None or _fingerprint(cached[1]) != cached[2]:
        folder = target.path.parent
        roots = (folder, base_dir) if target.is_script else (base_dir,)
        an = Analysis(root, base_dir, memo, roots=roots)
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


def _entry_package(target: _Target, base_dir: Path) -> Package:
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


def _runs_directly(
    func: ast.FunctionDef | ast.AsyncFunctionDef, target: _Target, module: SourceModule
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
    target: _Target, module: SourceModule, an: Analysis, reason: str
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
    target: _Target, module: SourceModule, an: Analysis, reason: str
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
    if isinstance(root, ast.Name) and is_absent(root.id, module, an):
        return EntrypointProblem(
            "import_fails",
            f"{where}: importing the file fails here ({reason}), and prefect deploy's static "
            f"fallback, which runs only top-level imports, does not see `{root.id}`",
            rel, func.lineno, func.name,
        )  # fmt: skip
    return None


def _analyze_function(
    entrypoint: str, target: _Target, rel: str, module: SourceModule, an: Analysis
) -> FlowInfo | EntrypointProblem:
    found = _find_function(module, target.object_path)
    if isinstance(found, str):
        kind, message = found.split(":", 1)
        return EntrypointProblem(kind, f"{rel}: {message}", rel)  # type: ignore[arg-type]
    func = found
    decorator, others = _flow_decorator(func, module)
    if decorator is None:
        return _no_flow_problem(rel, func, target, others)
    # Why importing the flow's module fails here: then Prefect loads script entrypoints
    # statically; None when `prefect deploy` would import it.
    key = (module.path, an.roots, an.packages[module.path])
    if key not in an.memo.import_failures:
        before = set(an.files)
        failure = import_failure(module, an, set())
        an.memo.import_failures[key] = (failure, frozenset(an.files - before))
    reason, read = an.memo.import_failures[key]
    an.files |= read
    load_problem = None
    if reason is not None:
        load_problem = _go_static(rel, func, decorator, target, module, an, reason)
        if load_problem is not None:
            reason = None  # read as Prefect does where the import works, e.g. the deploy CI
    facts = _decorator_facts(func, decorator, module, an)
    signature, unreadable = _signature(func, module, an, _runs_directly(func, target, module))
    docs = parameter_docstrings(facts.docstring)
    try:
        schema = generate_parameter_schema(signature, docs)
    except (RecursionError, MemoryError):
        raise
    except Exception as exc:  # `@flow` computes the same schema, and fails the same way
        schema = {}
        unreadable = {p: f"parameter '{p}': no schema" for p in signature.parameters}
        load_problem = _schema_problem(rel, func, target, signature, docs, exc)
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
        unread_name=facts.unread_name,
        unreadable=(*unreadable.values(), *facts.notes),
        static_reason=reason,
        load_problem=load_problem,
    )


def _schema_problem(
    rel: str,
    func: ast.FunctionDef | ast.AsyncFunctionDef,
    target: _Target,
    signature: inspect.Signature,
    docs: dict[str, str],
    exc: Exception,
) -> EntrypointProblem:
    """pydantic refuses the flow's parameter schema on this Python (e.g. `typing.TypedDict`
    before 3.12): named at the first parameter it refuses alone, at that parameter's line."""
    refused = next((p for p in signature.parameters.values()
                    if not _schema_builds(inspect.Signature([p]), docs)), None)  # fmt: skip
    args = {arg.arg: arg for arg, _, _ in _arguments(func.args)}
    line, what = func.lineno, f"flow '{target.object_path}'"
    if refused is not None:
        line = args[refused.name].lineno if refused.name in args else line
        what = f"parameter '{refused.name}' of {what}"
    python = ".".join(map(str, sys.version_info[:2]))
    return EntrypointProblem(
        "schema_fails",
        f"{rel}:{line}: prefect deploy cannot load the flow: pydantic refuses the type of "
        f"{what} on Python {python}: {str(exc).splitlines()[0]}",
        rel, func.lineno, func.name,
    )  # fmt: skip


def _schema_builds(signature: inspect.Signature, docs: dict[str, str]) -> bool:
    try:
        generate_parameter_schema(signature, docs)
    except (RecursionError, MemoryError):
        raise
    except Exception:
        return False
    return True


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
    unread_name: str | None


def _decorator_facts(
    func: ast.FunctionDef | ast.AsyncFunctionDef,
    decorator: ast.expr,
    module: SourceModule,
    an: Analysis,
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
    unread_name: str | None = None
    if "name" in keywords:
        ok, value = read_constant(keywords["name"], module, an)
        if ok and isinstance(value, str):
            name = value or name
        elif not (ok and value is None):
            name, unread_name = None, ast.unparse(keywords["name"])

    docstring = ast.get_docstring(func, clean=True)
    description: str | None = docstring
    if "description" in keywords:
        ok, value = read_constant(keywords["description"], module, an)
        if ok and (value is None or isinstance(value, str)):
            description = value or docstring
        else:
            description = None
            notes.append("the flow description is not a literal")

    flow_run_name: str | None = None
    if "flow_run_name" in keywords:
        ok, value = read_constant(keywords["flow_run_name"], module, an)
        if ok and isinstance(value, str):
            flow_run_name = value
    return _DecoratorFacts(name, docstring, description, flow_run_name, tuple(notes), unread_name)


def default_flow_name(function: str) -> str:
    """The flow name Prefect gives a function whose `name=` it cannot read (its own fallback,
    `load_flow_arguments_from_entrypoint`): the function's name with `_` -> `-`."""
    return function.rsplit(".", 1)[-1].replace("_", "-")


# Problems validate only warns about (the flow may be importable where `prefect deploy` runs):
# plan still plans the deployment, under the fallback name, leaving what it cannot read.
PLANNED_DESPITE = frozenset({"module_not_found", "not_analysable"})


def fallback_flow_name(entrypoint: str) -> str:
    """`default_flow_name` of the function an entrypoint names (`file.py:f` or `mod.f`)."""
    return default_flow_name(entrypoint.rsplit(":" if ":" in entrypoint else ".", 1)[-1])
