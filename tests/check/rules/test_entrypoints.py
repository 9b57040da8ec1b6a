from __future__ import annotations

import sys
from pathlib import Path

import pytest

from prefect_gitops.check.rules import entrypoints
from prefect_gitops.repo.diagnostics import Diagnostic
from tests.check.rules.helpers import run_rule
from tests.run_cli import run_cli

FLOW = '''\
from typing import Literal, Optional

from prefect import flow
import email.message as nia


@flow(flow_run_name="etl-{source}-{day}")
def etl(source: str, day: str = "today", limit: Optional[int] = None,
        mode: Literal["full", "delta"] = "full", tags: list[str] = []):
    """ETL."""


@flow
def loose(**extra):
    pass


@flow
def opaque(frame: nia.Message, n: int = 1):
    pass
'''


def check(root: Path, prefect_yaml: str, **files: str) -> list[Diagnostic]:
    return run_rule(entrypoints.check, root, prefect_yaml, **{"flows/etl.py": FLOW, **files})


def summary(diags: list[Diagnostic]) -> list[tuple[str, str, int, str]]:
    return [(d.severity.value, d.code, d.span.line, d.path) for d in diags]


def test_good_deployment_has_no_findings(tmp_path: Path) -> None:
    text = """\
deployments:
  - name: a
    entrypoint: flows/etl.py:etl
    parameters: {source: s3, limit: 3, mode: delta, tags: [x]}
  - name: b
    entrypoint: flows.etl.loose
    parameters: {anything: [1, 2]}
"""
    assert summary(check(tmp_path, text)) == []


def test_entrypoint_problems_are_located(tmp_path: Path) -> None:
    text = """\
deployments:
  - name: missing
    entrypoint: flows/nope.py:etl
  - name: outside
    entrypoint: ../elsewhere.py:etl
  - name: nofunc
    entrypoint: flows/etl.py:nothing
  - name: format
    entrypoint: flows/etl.py
  - name: module
    entrypoint: installed.pkg.flow
  - name: broken
    entrypoint: flows/broken.py:f
  - name: plain
    entrypoint: flows/plain.py:f
"""
    diags = check(tmp_path, text, **{
        "flows/broken.py": "def f(:\n",
        "flows/plain.py": "def f():\n    pass\n",
    })  # fmt: skip
    assert summary(diags) == [
        ("error", "E002", 3, "deployments[0].entrypoint"),
        ("error", "E003", 5, "deployments[1].entrypoint"),
        ("error", "E006", 7, "deployments[2].entrypoint"),
        ("error", "E001", 9, "deployments[3].entrypoint"),
        ("warning", "E004", 11, "deployments[4].entrypoint"),
        ("error", "E005", 13, "deployments[5].entrypoint"),
        ("error", "E007", 15, "deployments[6].entrypoint"),
    ]
    assert "plan treats it as flow" in diags[4].message  # planned anyway (tests/test_desired.py)


def test_what_prefect_deploy_cannot_load_is_located(tmp_path: Path) -> None:
    text = """\
deployments:
  - name: spaced
    entrypoint: "flows/etl.py:etl "
  - name: module-missing-deps
    entrypoint: flows.heavy.h
  - name: script-missing-deps
    entrypoint: flows/heavy.py:h
  - name: latin1
    entrypoint: flows/latin.py:f
"""
    diags = check(tmp_path, text, **{
        "flows/heavy.py": "import polars_not_installed\nfrom prefect import flow\n"
                          "@flow\ndef h(n: int = 1): ...\n",
        "flows/latin.py": "# -*- coding: latin-1 -*-\nfrom prefect import flow\n"
                          "@flow\ndef f(v: str = 'x'): ...\n",
    })  # fmt: skip
    assert summary(diags) == [
        ("error", "E001", 3, "deployments[0].entrypoint"),
        ("warning", "E004", 5, "deployments[1].entrypoint"),
    ]
    assert "whitespace" in diags[0].message
    assert "polars_not_installed" in diags[1].message and "no static fallback" in diags[1].message


def test_parameter_checks(tmp_path: Path) -> None:
    text = """\
deployments:
  - name: a
    entrypoint: flows/etl.py:etl
    parameters:
      sourse: s3
      limit: "many"
      mode: weekly
      tags: [1]
      day: "{{ $DAY }}"
"""
    diags = check(tmp_path, text)
    assert summary(diags) == [
        ("warning", "E011", 5, "deployments[0].parameters"),
        ("error", "E010", 5, "deployments[0].parameters.sourse"),
        ("error", "E012", 6, "deployments[0].parameters.limit"),
        ("error", "E012", 7, "deployments[0].parameters.mode"),
        ("error", "E012", 8, "deployments[0].parameters.tags[0]"),
    ]
    unknown = next(d for d in diags if d.code == "E010")
    assert unknown.hint == "did you mean 'source'?"


def test_without_enforcement_type_and_required_problems_are_warnings(tmp_path: Path) -> None:
    text = """\
deployments:
  - name: a
    entrypoint: flows/etl.py:etl
    enforce_parameter_schema: false
    parameters: {limit: x, other: 1}
"""
    assert summary(check(tmp_path, text)) == [
        ("warning", "E011", 5, "deployments[0].parameters"),
        ("warning", "E012", 5, "deployments[0].parameters.limit"),
        ("error", "E010", 5, "deployments[0].parameters.other"),
    ]


def test_flow_run_name_placeholders(tmp_path: Path) -> None:
    flow = "from prefect import flow\n\n@flow(flow_run_name='run-{when}')\ndef f(day: str = 'x'):\n    pass\n"
    text = "deployments:\n  - name: a\n    entrypoint: flows/f.py:f\n"
    diags = check(tmp_path, text, **{"flows/f.py": flow})
    assert summary(diags) == [("error", "E013", 3, "deployments[0].entrypoint")]


def test_unreadable_parts_are_an_info_and_never_guessed(tmp_path: Path) -> None:
    text = """\
deployments:
  - name: a
    entrypoint: flows/etl.py:opaque
    parameters: {frame: 12, n: "x"}
"""
    diags = check(tmp_path, text)
    assert summary(diags) == [
        ("info", "E014", 3, "deployments[0].entrypoint"),
        ("error", "E012", 4, "deployments[0].parameters.n"),
    ]
    assert "nia.Message" in diags[0].message


def test_schedule_parameters_are_checked_too(tmp_path: Path) -> None:
    text = """\
deployments:
  - name: a
    entrypoint: flows/etl.py:etl
    parameters: {source: s3}
    schedules:
      - cron: "0 * * * *"
        parameters: {limit: nope, extra: 1}
"""
    assert summary(check(tmp_path, text)) == [
        ("error", "E012", 7, "deployments[0].schedules[0].parameters.limit"),
        ("error", "E010", 7, "deployments[0].schedules[0].parameters.extra"),
    ]


def test_banned_flow_name_and_templated_entrypoint(tmp_path: Path) -> None:
    flow = "from prefect import flow\n\n@flow(name='a/b')\ndef f():\n    pass\n"
    text = """\
deployments:
  - name: a
    entrypoint: flows/f.py:f
  - name: b
    entrypoint: "{{ $ENTRY }}"
"""
    assert summary(check(tmp_path, text, **{"flows/f.py": flow})) == [
        ("error", "E009", 3, "deployments[0].entrypoint"),
        ("info", "E008", 5, "deployments[1].entrypoint"),
    ]


def test_flow_name_with_a_control_character(tmp_path: Path) -> None:
    flow = "from prefect import flow\n\n@flow(name='a\\x1bb')\ndef f():\n    pass\n"
    text = "deployments:\n  - name: a\n    entrypoint: flows/f.py:f\n"
    diags = check(tmp_path, text, **{"flows/f.py": flow})
    assert summary(diags) == [("error", "E009", 3, "deployments[0].entrypoint")]
    assert "contains \\x1b, which Prefect rejects" in diags[0].message


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("flow", "message"),
    [
        ("x = " + "-" * 10_000 + "1\n", "nests an expression too deeply for Python to parse it"),
        (
            "from prefect import flow\n@flow\ndef f(a=" + "+".join(["x"] * 900) + "): ...\n",
            ": 'f' nests an expression too deeply to read statically",
        ),
        ("x = 1\n" * (2 * 1024 * 1024 // 6 + 1), "is 2.0 MiB, over the 2 MiB cap"),
    ],
    ids=["parser", "our-readers", "size"],
)
def test_hostile_flow_files_are_located_errors(tmp_path: Path, flow: str, message: str) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "hostile.py").write_text(flow)
    (tmp_path / "prefect.yaml").write_text(
        "deployments:\n  - name: a\n    entrypoint: flows/hostile.py:f\n"
    )
    result = run_cli("validate", str(tmp_path), "--format", "json")
    assert result.exit_code == 1, result.stderr
    (diag,) = [d for d in result.json()["diagnostics"] if d["code"] == "E005"]
    assert (diag["file"], diag["line"], diag["resource"]) == ("prefect.yaml", 3, "deployment/a")
    assert (
        diag["message"]
        == "deployment 'a': flows/hostile.py" + ("" if message[0] == ":" else " ") + message
    )


def test_a_flow_name_that_cannot_be_read_is_a_warning_naming_the_fallback(tmp_path: Path) -> None:
    flow = (
        "import os\nfrom prefect import flow\n\n"
        "@flow(name=os.environ.get('FLOW', 'dyn-flow'))\ndef load_all(day: str = 'x'):\n    pass\n"
    )
    text = "deployments:\n  - name: a\n    entrypoint: flows/f.py:load_all\n"
    diags = check(tmp_path, text, **{"flows/f.py": flow})
    assert summary(diags) == [("warning", "E015", 3, "deployments[0].entrypoint")]
    assert "os.environ.get('FLOW', 'dyn-flow')" in diags[0].message
    assert "planned as flow 'load-all'" in diags[0].message


TYPED_FLOW = """\
import typing
from typing import Optional

import typing_extensions
from prefect import flow


class Old(typing.TypedDict):
    a: int


class New(typing_extensions.TypedDict):
    a: int


@flow
def old(
    n: int,
    row: Optional[Old] = None,
):
    pass


@flow
def new(n: int, row: Optional[New] = None):
    pass
"""


def test_a_parameter_type_pydantic_refuses_on_this_python_is_an_error(tmp_path: Path) -> None:
    # pydantic refuses typing.TypedDict before Python 3.12 only: `@flow` fails on the def, so
    # `prefect deploy` cannot load the flow; typing_extensions.TypedDict is fine everywhere
    text = (
        "deployments:\n  - name: old\n    entrypoint: flows/typed.py:old\n"
        "  - name: new\n    entrypoint: flows/typed.py:new\n"
    )
    found = check(tmp_path, text, **{"flows/typed.py": TYPED_FLOW})
    diags = [d for d in found if d.code != "E014"]  # the refused schema is not read either
    if sys.version_info >= (3, 12):
        assert summary(diags) == []
        return
    assert summary(diags) == [("error", "E005", 3, "deployments[0].entrypoint")]
    message = diags[0].message
    assert message.startswith("deployment 'old': flows/typed.py:19: "), message  # row's line
    assert "parameter 'row' of flow 'old'" in message and "typing_extensions.TypedDict" in message
    assert f"Python {sys.version_info[0]}.{sys.version_info[1]}" in message
