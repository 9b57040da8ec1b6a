"""The package's stages import downward only, and no module imports itself back.

Stages, lowest first (a module may import its own stage and any lower one):

    errors, version      what everything may raise or print
    prefect/             the one boundary with Prefect: API client, settings, embedded
                         server, and Prefect's own semantics mirrored (templating,
                         schedules, triggers, default job templates, steps)
    repo/                the repository's files: YAML with positions, models, loading
    check/               every offline check (rules, job variables, flow analysis)
    state/               desired and live state, their diff, ownership
    plans/               the plan (pure data) and saved plans
    execution/           executing a plan, the lock
    render/              plans, diagnostics and reports as text, JSON, Markdown, GitHub
    export               live objects back into repository files
    pipeline/            the sequence: check -> plan -> apply, and the Python API
    cli/, __main__       the commands
    prefect_gitops       the package's face (the Python API, imported lazily)

`runner/` stands beside them: it may import only errors, version and prefect/ (it shares the
API client and settings, nothing else), and only the CLI imports it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "prefect_gitops"
STAGES = [
    ("errors", "version"),
    ("prefect",),
    ("repo",),
    ("check",),
    ("state",),
    ("plans",),
    ("execution",),
    ("render",),
    ("export",),
    ("pipeline",),
    ("cli", "__main__"),
    ("",),  # the package itself
]
RUNNER_MAY_IMPORT = {"errors", "version", "prefect", "runner"}
RANK = {name: rank for rank, names in enumerate(STAGES) for name in names}


def module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def modules() -> dict[str, Path]:
    return {module_name(p)[0]: p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, known: set[str]) -> Iterator[str]:
    name, is_package = module_name(path)
    return imports_of(path.read_text(encoding="utf-8"), name, is_package, known)


def imports_of(text: str, name: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """Every module of the package that module `name` (source `text`) imports: at the top,
    in functions, or only for type checking (a circle of annotations is still a circle to
    read)."""
    package = name.split(".") if is_package else name.split(".")[:-1]
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield sub if sub in known else target
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {
        name: {m for m in imports(path, known) if m in known and m != name}
        for name, path in found.items()
    }


def stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Each import against the stage order, as `importer -> imported (why)`."""
    out = []
    for importer, targets in sorted(edges.items()):
        for target in sorted(targets):
            low, high = stage(importer), stage(target)
            if low == "runner" or high == "runner":
                allowed = high in RUNNER_MAY_IMPORT if low == "runner" else low in ("cli", "")
                if not allowed:
                    out.append(f"{importer} -> {target} (the runner stands apart)")
            elif low not in RANK or high not in RANK:
                out.append(f"{importer} -> {target} (a stage missing from STAGES)")
            elif RANK[high] > RANK[low]:
                out.append(f"{importer} -> {target} ({low or 'the package'} is below {high})")
    return out


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_import_goes_down_the_stages() -> None:
    assert violations(graph()) == []


def test_no_module_imports_itself_back() -> None:
    assert circles(graph()) == []


def test_every_stage_is_listed() -> None:
    listed = {stage(m) for m in modules()} - set(RANK) - {"runner"}
    assert listed == set()


@pytest.mark.parametrize(
    ("importer", "target"),
    [
        ("prefect_gitops.repo.loader", "prefect_gitops.state.desired"),
        ("prefect_gitops.plans.build", "prefect_gitops.render.plan_text"),
        ("prefect_gitops.runner.poll", "prefect_gitops.state.live"),
        ("prefect_gitops.pipeline.planned", "prefect_gitops.cli.common"),
        ("prefect_gitops.check.validate", "prefect_gitops.runner.poll"),
    ],
)
def test_an_import_up_the_stages_is_reported(importer: str, target: str) -> None:
    edges = graph()
    edges[importer] = edges[importer] | {target}
    (reported,) = violations(edges)
    assert reported.startswith(f"{importer} -> {target}")


def test_an_import_circle_is_reported() -> None:
    edges = graph()
    edges["prefect_gitops.repo.source"] = edges["prefect_gitops.repo.source"] | {
        "prefect_gitops.repo.loader"
    }
    assert any(
        {"prefect_gitops.repo.source", "prefect_gitops.repo.loader"} <= set(c)
        for c in circles(edges)
    )


def test_the_imports_are_read_from_every_form() -> None:
    """Relative, absolute, in a function, under TYPE_CHECKING, a module from its package:
    all count."""
    known = {"prefect_gitops.repo.loader", "prefect_gitops.state.desired", "prefect_gitops.plans",
             "prefect_gitops.plans.build", "prefect_gitops.check.flows.types"}  # fmt: skip
    text = (
        "from typing import TYPE_CHECKING\n"
        "from ..plans import build\n"
        "if TYPE_CHECKING:\n    from ..state.desired import State\n"
        "def f():\n    import prefect_gitops.check.flows.types\n"
    )
    found = set(imports_of(text, "prefect_gitops.repo.loader", False, known))
    assert found == {
        "prefect_gitops.plans.build",
        "prefect_gitops.state.desired",
        "prefect_gitops.check.flows.types",
        "typing",
    }


# Third-party libraries that only one place may use: the rest of the code stays independent
# of the HTTP client, the diff engine and the command-line toolkit.
ONLY_IN = {
    "httpx": ("prefect_gitops.prefect.api",),
    "deepdiff": ("prefect_gitops.state.diff",),
    "click": ("prefect_gitops.cli",),
}


def outside_their_place(sources: dict[str, str]) -> list[str]:
    """`module imports library` for each library used outside its place (`sources`: module
    name -> its text)."""
    out = set()
    for name, text in sources.items():
        for imported in imports_of(text, name, False, set()):
            top = imported.split(".")[0]
            places = ONLY_IN.get(top)
            if places and not any(name == p or name.startswith(p + ".") for p in places):
                out.add(f"{name} imports {top}")
    return sorted(out)


def test_httpx_deepdiff_and_click_stay_in_their_one_place() -> None:
    sources = {name: path.read_text(encoding="utf-8") for name, path in modules().items()}
    assert outside_their_place(sources) == []


def test_a_library_outside_its_place_is_reported() -> None:
    text = "import httpx\ndef f():\n    from deepdiff import DeepDiff\n"
    found = outside_their_place(
        {"prefect_gitops.state.live": text, "prefect_gitops.state.diff": text}
    )
    assert found == [
        "prefect_gitops.state.diff imports httpx",
        "prefect_gitops.state.live imports deepdiff",
        "prefect_gitops.state.live imports httpx",
    ]
