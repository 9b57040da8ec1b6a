"""Job variables templated as `prefect deploy` would, as far as can be done offline: blocks,
then Prefect variables, then the environment, then step outputs, dropping what is still
unresolved. What exists only at deploy time (a block's data, a step output, an environment
variable not set here) becomes an `Unknown`: every schema keyword accepts it, and a note says
why it cannot be checked offline.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

from ...prefect import templating
from ...prefect.templating import Opaque, PlaceholderKind
from .problems import Path, Problem, ProblemKind, short

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


def has_unknown(value: Any) -> bool:
    if isinstance(value, Opaque):
        return True
    if isinstance(value, str):
        return "\x00unknown-" in value
    if isinstance(value, dict):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknown(v) for v in value)
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
            return _register(registry, Unknown(short(node), "it is a block document reference"))
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


SCALARS = (str, int, float, bool, type(None))


def _untemplated_copy(value: Any) -> Any:
    """A copy of `value` when no templating pass can change it (plain data without `{{` or
    a `$ref` key anywhere), else `_TEMPLATED`."""
    kind = type(value)
    if kind is str:
        return _TEMPLATED if "{{" in value else value
    if kind in SCALARS:
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
