"""Every file of the real-world corpus through `validate FILE --format json`: never a crash.

The corpus (../shared/corpus/real-world/) holds prefect.yaml files from public repositories,
warts and all, plus its own README and manifest, which are not Prefect configuration at
all: those must get one clear error.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prefect_gitops.check.codes import CODES
from tests.validate_run import run_validate


def _find_corpus() -> Path:
    """PREFECT_GITOPS_CORPUS, else `shared/corpus/real-world` beside the checkout or an ancestor."""
    if os.environ.get("PREFECT_GITOPS_CORPUS"):
        return Path(os.environ["PREFECT_GITOPS_CORPUS"])
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "corpus" / "real-world"
        if candidate.is_dir():
            return candidate
    return here.parents[2] / "shared" / "corpus" / "real-world"


CORPUS = _find_corpus()
FILES = sorted(CORPUS.iterdir()) if CORPUS.is_dir() else []
# The corpus is data shared with this project, not part of it: a checkout far from it (and
# without PREFECT_GITOPS_CORPUS) cannot run these tests; with it, every file is checked.
needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"the shared corpus is not beside this checkout ({CORPUS})"
)
NOT_CONFIGURATION = {"README.md", "MANIFEST.tsv"}
DIAGNOSTIC_KEYS = {"severity", "code", "message", "file", "line", "column", "path", "resource"}


@needs_corpus
def test_corpus_is_there() -> None:
    assert len([f for f in FILES if f.suffix == ".yaml"]) >= 150, (
        f"corpus missing at {CORPUS}: set PREFECT_GITOPS_CORPUS to its folder"
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_corpus_file_validates_without_crashing(path: Path) -> None:
    run = run_validate(path)
    assert run.exit_code in (0, 1), f"exit {run.exit_code}: {run.stderr}"
    assert "crashed" not in run.stderr, run.stderr
    report = run.report
    summary = report["summary"]
    assert run.exit_code == (1 if summary["errors"] else 0)
    for diagnostic in report["diagnostics"]:
        assert set(diagnostic) == DIAGNOSTIC_KEYS
        assert diagnostic["code"] in CODES
        assert diagnostic["file"] == path.name
        assert diagnostic["line"] >= 1 and diagnostic["column"] >= 1
        assert diagnostic["message"].strip()


@needs_corpus
@pytest.mark.parametrize("name", sorted(NOT_CONFIGURATION))
def test_a_file_that_is_not_prefect_configuration_gets_one_clear_error(name: str) -> None:
    run = run_validate(CORPUS / name)
    assert run.exit_code == 1
    errors = run.findings("error")
    assert len(errors) == 1, errors
    assert errors[0]["code"].startswith("Y")
    assert run.findings("warning") == []
