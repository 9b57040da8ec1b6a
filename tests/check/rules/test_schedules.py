from __future__ import annotations

from pathlib import Path

from prefect_gitops.check.rules import schedules
from prefect_gitops.repo.diagnostics import Diagnostic
from tests.check.rules.helpers import run_rule


def check(root: Path, prefect_yaml: str) -> list[Diagnostic]:
    return run_rule(schedules.check, root, prefect_yaml)


def summary(diags: list[Diagnostic]) -> list[tuple[str, str, int, str]]:
    return [(d.severity.value, d.code, d.span.line, d.path) for d in diags]


def test_valid_schedules_have_no_findings(tmp_path: Path) -> None:
    text = """\
deployments:
  - name: a
    entrypoint: f.py:f
    schedules:
      - cron: "0 9 * * 1-5"
        timezone: Europe/Paris
        day_or: false
        slug: weekdays
      - interval: "01:00:00"
        anchor_date: "2024-01-01T00:00:00"
        slug: hourly
      - rrule: "FREQ=DAILY;BYHOUR=6"
        active: "{{ prefect.variables.enabled }}"
        slug: daily
"""
    assert summary(check(tmp_path, text)) == []


def test_each_problem_is_located_at_its_key(tmp_path: Path) -> None:
    text = """\
deployments:
  - name: a
    entrypoint: f.py:f
    schedules:
      - cron: "61 * * * *"
      - cron: "H * * * *"
      - interval: 0
      - interval: forever
      - rrule: "FREQ=SOMETIMES"
      - cron: "0 * * * *"
        timezone: Mars/Olympus
      - interval: 60
        anchor_date: "next tuesday"
      - cron: "0 * * * *"
        interval: 60
      - timezone: UTC
      - cron: "0 * * * *"
        active: maybe
      - interval: 60
        day_or: false
      - schedule: {cron: "0 * * * *"}
      - "0 * * * *"
      - cron: "{{ $CRON }}"
"""
    assert summary(check(tmp_path, text)) == [
        ("error", "C002", 5, "deployments[0].schedules[0].cron"),
        ("error", "C002", 6, "deployments[0].schedules[1].cron"),
        ("error", "C003", 7, "deployments[0].schedules[2].interval"),
        ("error", "C003", 8, "deployments[0].schedules[3].interval"),
        ("error", "C004", 9, "deployments[0].schedules[4].rrule"),
        ("error", "C005", 11, "deployments[0].schedules[5].timezone"),
        ("error", "C006", 13, "deployments[0].schedules[6].anchor_date"),
        ("error", "C001", 15, "deployments[0].schedules[7].interval"),
        ("error", "C001", 16, "deployments[0].schedules[8]"),
        ("error", "C007", 18, "deployments[0].schedules[9].active"),
        ("warning", "C011", 20, "deployments[0].schedules[10].day_or"),
        ("error", "C001", 21, "deployments[0].schedules[11].schedule"),
        ("error", "C001", 22, "deployments[0].schedules[12]"),
        ("info", "C012", 23, "deployments[0].schedules[13].cron"),
    ]


def test_unknown_keys_are_left_to_the_structure_rules(tmp_path: Path) -> None:
    text = """\
deployments:
  - name: a
    schedules:
      - cron: "0 * * * *"
        cronn: "1 * * * *"
"""
    assert summary(check(tmp_path, text)) == []


def test_single_schedule_form_is_checked(tmp_path: Path) -> None:
    text = """\
deployments:
  - name: a
    schedule:
      interval: -1
"""
    assert summary(check(tmp_path, text)) == [
        ("error", "C003", 4, "deployments[0].schedule.interval")
    ]


def test_slugs(tmp_path: Path) -> None:
    text = """\
deployments:
  - name: a
    schedules:
      - cron: "0 * * * *"
        slug: s
      - cron: "1 * * * *"
        slug: s
      - cron: "2 * * * *"
  - name: b
    schedules:
      - cron: "0 * * * *"
        slug: s
"""
    diags = check(tmp_path, text)
    assert summary(diags) == [
        ("warning", "C010", 8, "deployments[0].schedules[2]"),
        ("error", "C009", 7, "deployments[0].schedules[1].slug"),
    ] or summary(diags) == [
        ("error", "C009", 7, "deployments[0].schedules[1].slug"),
        ("warning", "C010", 8, "deployments[0].schedules[2]"),
    ]
    assert "first at line 5" in next(d for d in diags if d.code == "C009").message
