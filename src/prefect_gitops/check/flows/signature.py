"""Reading the flow function from source: finding its `def`, its `@flow` decorator and the
literal arguments of it (name, description, flow_run_name), and its signature with the
annotations and defaults rebuilt as real objects (`types`), as Prefect's import or its static
fallback would see them; what cannot be read is said per parameter, never guessed.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from dataclasses import dataclass
from typing import Any

from .facts import FlowParameter
from .pysource import SourceModule, qualified_name
from .schema import is_required, shadows_base_model
from .types import (
    Absent,
    Analysis,
    StringAbsent,
    Unreadable,
    read_annotation,
    read_constant,
    read_default,
)

_FLOW_NAMES = frozenset(
    {"prefect.flow", "prefect.flows.flow", "prefect.Flow", "prefect.flows.Flow"}
)


def flow_decorator(
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


def find_function(
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


def flow_signature(
    func: ast.FunctionDef | ast.AsyncFunctionDef, module: SourceModule, an: Analysis, direct: bool
) -> tuple[inspect.Signature, dict[str, str]]:
    """The signature with real types, and parameter name -> why it could not be read.

    Under Prefect's static loading, the def runs as written when it is a plain top-level def
    (`direct`) whose annotations and defaults all evaluate; otherwise Prefect rewrites it:
    what cannot be evaluated is dropped (the annotation, or the default, which becomes None),
    keyword-only parameters without a default get None, and string annotations resolve
    elsewhere (see `types`)."""
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
    for arg, kind, default_node in arguments(func.args):
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


def arguments(args: ast.arguments) -> list[tuple[ast.arg, Any, ast.expr | None]]:
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


def per_parameter(
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


@dataclass(frozen=True)
class _DecoratorFacts:
    name: str | None
    docstring: str | None
    description: str | None
    flow_run_name: str | None
    notes: tuple[str, ...]
    unread_name: str | None


def decorator_facts(
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
