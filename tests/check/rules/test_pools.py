from __future__ import annotations

import json
from pathlib import Path

from prefect_gitops.check.options import ValidateOptions
from prefect_gitops.check.rules import pools
from prefect_gitops.repo.diagnostics import Diagnostic
from prefect_gitops.repo.loader import load_project


def check(root: Path, **files: str) -> list[Diagnostic]:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "prefect.yaml").write_text("deployments: []\n")
    project, _ = load_project(root)
    return sorted(pools.check(project, ValidateOptions()), key=lambda d: d.sort_key)


def summary(diags: list[Diagnostic]) -> list[tuple[str, str, str, int, str]]:
    return [(d.severity.value, d.code, d.span.file, d.span.line, d.path) for d in diags]


def test_default_template_pool_is_clean(tmp_path: Path) -> None:
    assert check(tmp_path, **{"work-pools/p.yaml": "name: p\ntype: kubernetes\n"}) == []


def test_unknown_type_warns_with_suggestion(tmp_path: Path) -> None:
    diags = check(tmp_path, **{"work-pools/p.yaml": "name: p\ntype: kubernets\n"})
    assert summary(diags) == [("warning", "P005", "work-pools/p.yaml", 2, "type")]
    assert diags[0].hint == "did you mean 'kubernetes'?"


def test_duplicate_queue_priorities(tmp_path: Path) -> None:
    pool = """\
name: p
type: process
queues:
  - name: a
    priority: 1
  - name: b
    priority: 2
  - name: c
    priority: 1
"""
    diags = check(tmp_path, **{"work-pools/p.yaml": pool})
    assert summary(diags) == [("error", "P006", "work-pools/p.yaml", 9, "queues[2].priority")]
    assert "'a' and 'c'" in diags[0].message


INLINE = """\
name: p
type: process
base_job_template:
  job_configuration:
    command: "{{ command }}"
    extra:
      - "{{ undeclared }}"
  variables:
    properties:
      command:
        type: string
        default: 5
      retries:
        type: integr
"""


def test_inline_template_problems_point_at_lines(tmp_path: Path) -> None:
    diags = check(tmp_path, **{"work-pools/p.yaml": INLINE})
    assert summary(diags) == [
        ("error", "P003", "work-pools/p.yaml", 7, "base_job_template.job_configuration.extra[0]"),
        (
            "error",
            "P001",
            "work-pools/p.yaml",
            14,
            "base_job_template.variables.properties.retries.type",
        ),
    ]


def test_invalid_default_in_external_template_file(tmp_path: Path) -> None:
    template = {
        "job_configuration": {"command": "{{ command }}"},
        "variables": {"properties": {"command": {"type": "string", "default": 5}}},
    }
    diags = check(
        tmp_path,
        **{
            "work-pools/p.yaml": "name: p\ntype: process\nbase_job_template: t/job.json\n",
            "work-pools/t/job.json": json.dumps(template, indent=2),
        },
    )
    assert summary(diags) == [
        ("error", "P002", "work-pools/t/job.json", 9, "variables.properties.command.default")
    ]
    assert (
        "the default of variable 'command' is invalid: 5 is not of type string" in diags[0].message
    )


def test_template_without_variables(tmp_path: Path) -> None:
    pool = "name: p\ntype: process\nbase_job_template:\n  job_configuration:\n    a: b\n"
    diags = check(tmp_path, **{"work-pools/p.yaml": pool})
    assert summary(diags) == [("error", "P004", "work-pools/p.yaml", 4, "base_job_template")]
