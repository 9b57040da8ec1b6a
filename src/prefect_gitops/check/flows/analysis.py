"""Static analysis of flow entrypoints: never imports or runs user code.

`prefect deploy` imports the entrypoint's module to find the flow, its name and its
parameter schema; when that import fails (the flow's dependencies are not installed, common
in CI) and the entrypoint is a script, it falls back to a static loading of its own
(`safe_load_flow_from_entrypoint`): only the file's top-level imports that work and its
top-level classes and defs are run, annotations it cannot evaluate are dropped and defaults
become None. We decide the same way (`types.import_failure`) and derive what Prefect
3.9.1 would on that path: the flow name (`name=` when it is a literal or a module constant,
else the function name with `_` -> `-`), and the parameter schema, by handing the annotations
rebuilt as real objects (`types`) to Prefect's own algorithm (`schema`), so the
result is identical by construction. Whatever is not literal enough to rebuild is reported as
unreadable, never guessed; what `prefect deploy` would fail on in this environment is a
`load_problem`, the flow still read as an import would.

This module puts the steps together: `locate` finds the entrypoint's file, `signature` reads
the function and its signature, and the results are the types of `facts`.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import os
import sys
from pathlib import Path

from .docstrings import parameter_docstrings
from .facts import EntrypointProblem, FlowInfo
from .locate import Target, entry_package, locate
from .pysource import FileMemo, SourceModule, read_module, repo_relative
from .schema import generate_parameter_schema
from .signature import (
    arguments,
    decorator_facts,
    find_function,
    flow_decorator,
    flow_signature,
    per_parameter,
)
from .types import Analysis, import_failure, is_absent

__all__ = ["analyze_entrypoint"]


# -- putting it together ----------------------------------------------------------------------


def analyze_entrypoint(
    entrypoint: str, base_dir: Path, root: Path, *, memo: FileMemo | None = None
) -> FlowInfo | EntrypointProblem:
    """Read the flow an entrypoint names, without importing anything.

    `base_dir` is the prefect.yaml's folder (Prefect resolves entrypoints against the working
    directory `prefect deploy` runs in); `root` is the repository, which the file must not leave.
    `memo` shares file-system answers between the calls of one run (see `FileMemo`).
    """
    memo = FileMemo() if memo is None else memo
    target = locate(entrypoint, base_dir, root, memo)
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
        an.packages[target.path] = entry_package(target, base_dir)
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
    func: ast.FunctionDef | ast.AsyncFunctionDef, target: Target, module: SourceModule
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
    target: Target, module: SourceModule, an: Analysis, reason: str
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
    target: Target, module: SourceModule, an: Analysis, reason: str
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
    entrypoint: str, target: Target, rel: str, module: SourceModule, an: Analysis
) -> FlowInfo | EntrypointProblem:
    found = find_function(module, target.object_path)
    if isinstance(found, str):
        kind, message = found.split(":", 1)
        return EntrypointProblem(kind, f"{rel}: {message}", rel)  # type: ignore[arg-type]
    func = found
    decorator, others = flow_decorator(func, module)
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
    facts = decorator_facts(func, decorator, module, an)
    signature, unreadable = flow_signature(func, module, an, _runs_directly(func, target, module))
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
        parameters=per_parameter(signature, schema, unreadable),
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
    target: Target,
    signature: inspect.Signature,
    docs: dict[str, str],
    exc: Exception,
) -> EntrypointProblem:
    """pydantic refuses the flow's parameter schema on this Python (e.g. `typing.TypedDict`
    before 3.12): named at the first parameter it refuses alone, at that parameter's line."""
    refused = next((p for p in signature.parameters.values()
                    if not _schema_builds(inspect.Signature([p]), docs)), None)  # fmt: skip
    args = {arg.arg: arg for arg, _, _ in arguments(func.args)}
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
    rel: str, func: ast.FunctionDef | ast.AsyncFunctionDef, target: Target, others: bool
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
