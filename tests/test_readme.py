"""The README stays true: its code table matches codes.py and its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from prefect_gitops.check.codes import CODES, SEVERITY

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_code_table_lists_every_code_with_its_severity_and_meaning() -> None:
    rows = {
        code: (severity, native, meaning)
        for code, severity, native, meaning in re.findall(
            r"^\| `([A-Z]\d{3})` \| [^|]* \| ([^|]*) \| ([^|]*) \| (.*) \|$", README, re.MULTILINE
        )
    }
    assert set(rows) == set(CODES) == set(SEVERITY)
    for code, meaning in CODES.items():
        assert rows[code] == (*SEVERITY[code], meaning.replace("|", "\\|"))


def test_the_two_newcomer_commands_exist() -> None:
    assert "bash scripts/quickstart.sh" in README
    assert "bash .ci/run" in README
    assert (ROOT / "scripts" / "quickstart.sh").is_file()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python -m pytest -q" in ci
    assert "python -m pytest -q" in README
