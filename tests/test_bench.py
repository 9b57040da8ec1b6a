"""The benchmark's generated repository stays a clean, realistic input for every tool it times."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench import validate as bench

from tests.validate_run import run_validate


def test_generated_repo_validates_cleanly(tmp_path: Path) -> None:
    prefect_yaml = bench.generate(tmp_path / "repo", deployments=60, pools=6)
    run = run_validate(tmp_path / "repo")
    assert run.findings() == [], run.stdout
    summary = run.report["summary"]
    assert (summary["deployments"], summary["work_pools"]) == (60, 6)
    text = prefect_yaml.read_text()
    assert "<<: *deployment-defaults" in text and "&hourly" in text


def test_generated_prefect_yaml_passes_prefects_published_schema(tmp_path: Path) -> None:
    prefect_yaml = bench.generate(tmp_path / "repo", deployments=12, pools=3)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--schemafile",
            str(bench.PREFECT_SCHEMA),
            str(prefect_yaml),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_report_renders_ratios() -> None:
    timings = {
        name: {"median": m, "min": m, "max": m, "runs": [m]}
        for name, m in [
            (bench.COLD, 0.2),
            (bench.OURS_CLI, 0.9),
            (bench.CJS_CLI, 1.8),
            (bench.PARSE, 0.1),
        ]
    }
    ratios = bench.ratios(timings)
    assert ratios[bench.COLD]["vs_bare_parse"] == 2.0
    assert ratios[bench.OURS_CLI]["vs_check_jsonschema"] == 0.5
    result = {
        "params": {
            "deployments": 1000,
            "pools": 50,
            "prefect_yaml_bytes": 2048,
            "runs": 1,
            "version": "0.1.0",
            "python": "3.11.7",
        },
        "timings": timings,
        "ratios": ratios,
        "ours_exit_code": 0,
        "ours_summary": {"errors": 0},
        "check_jsonschema_exit_code": 0,
    }
    table = bench.markdown(result)
    assert "| prefect-gitops validate, CLI | 900 ms | 900 ms | 900 ms | 9.00 | 0.50 |" in table
