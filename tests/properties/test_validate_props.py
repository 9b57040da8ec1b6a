"""Property: `validate` on any repository, generated or mutated from the examples, answers
with exit 0 or 1 and a well-formed JSON report whose every diagnostic is located; never a
crash (exit 3) or a hang."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tests.properties.strategies import deployments, mutated
from tests.run_cli import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REPOS = ("quickstart", "docker", "kubernetes", "environments", "triggers")
PROPS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
FLOW = "from prefect import flow\n\n@flow\ndef hello(name: str, n: int = 1) -> None:\n    pass\n"
POOL = "name: local\ntype: process\nqueues:\n  - {name: default}\n"


def _check_report(repo: Path, *extra: str) -> None:
    result = run_cli("validate", str(repo), "--format", "json", *extra)
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    event(f"exit {result.exit_code}")
    report = result.json()
    for diag in report["diagnostics"]:
        assert diag["code"] and diag["message"], diag
        assert diag["line"] >= 1 and diag["column"] >= 1, diag
    assert (result.exit_code == 1) == (report["summary"]["errors"] > 0)


def _write(root: Path, prefect_yaml: str) -> Path:
    (root / "flows").mkdir()
    (root / "flows" / "hello.py").write_text(FLOW, encoding="utf-8")
    (root / "work-pools").mkdir()
    (root / "work-pools" / "local.yaml").write_text(POOL, encoding="utf-8")
    (root / "prefect.yaml").write_text(prefect_yaml, encoding="utf-8")
    return root


@PROPS
@given(st.lists(deployments(), max_size=3), st.booleans())
@example([{"name": "x", "entrypoint": "flows/hello.py:hello", "parameters": {"x": "<<"}}], False)
def test_generated_prefect_yaml(items: list[dict[str, Any]], strict: bool) -> None:
    text = yaml.safe_dump({"name": "p", "deployments": items}, sort_keys=False)
    with tempfile.TemporaryDirectory() as tmp:
        _check_report(_write(Path(tmp), text), *(["--strict"] if strict else []))


@st.composite
def mutated_example(draw: st.DrawFn) -> tuple[str, str, str]:
    repo = draw(st.sampled_from(REPOS))
    files = sorted(
        str(p.relative_to(EXAMPLES / repo))
        for p in (EXAMPLES / repo).rglob("*.yaml")
    )  # fmt: skip
    target = draw(st.sampled_from(files))
    return repo, target, draw(mutated((EXAMPLES / repo / target).read_text(encoding="utf-8")))


@PROPS
@given(mutated_example(), st.booleans())
def test_mutated_examples(case: tuple[str, str, str], strict: bool) -> None:
    repo, target, text = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / repo
        shutil.copytree(EXAMPLES / repo, root)
        (root / target).write_text(text, encoding="utf-8")
        _check_report(root, *(["--strict"] if strict else []))
