"""What the static analysis of a flow entrypoint finds: the flow (`FlowInfo`, its
`FlowParameter`s) or why it cannot be read (`EntrypointProblem`), and the flow name Prefect
falls back to when `name=` cannot be read. Plain data, shared by every step of the analysis
and by the rules and desired state that use its results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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
