"""Rewrite the diagnostic-code table in README.md from src/prefect_gitops/check/codes.py.

usage: python scripts/generate_readme_codes.py [--check]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from prefect_gitops.check.codes import CODES, SEVERITY

README = Path(__file__).resolve().parents[1] / "README.md"
START = "<!-- codes:start -->"
END = "<!-- codes:end -->"
FAMILIES = {
    "Y": "loading",
    "S": "structure",
    "P": "work pools",
    "J": "job variables",
    "E": "entrypoints and parameters",
    "C": "schedules",
    "R": "references",
}


def table() -> str:
    rows = [
        "| code | family | severity | `prefect deploy` 3.9.1 | meaning |",
        "|---|---|---|---|---|",
    ]
    for code in sorted(CODES, key=lambda c: ("YSPJECR".index(c[0]), c)):
        meaning = CODES[code].replace("|", "\\|")
        severity, native = SEVERITY[code]
        rows.append(
            f"| `{code}` | {FAMILIES.get(code[0], '')} | {severity} | {native} | {meaning} |"
        )
    return "\n".join(rows)


def main() -> int:
    text = README.read_text(encoding="utf-8")
    new = re.sub(
        re.escape(START) + r".*?" + re.escape(END),
        f"{START}\n{table()}\n{END}",
        text,
        flags=re.DOTALL,
    )
    if "--check" in sys.argv:
        if new != text:
            print("README.md code table is stale: run python scripts/generate_readme_codes.py")
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
