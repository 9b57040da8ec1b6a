from __future__ import annotations

import json

from prefect_gitops.render.diagnostics import (
    RENDERERS,
    render_github,
    render_json,
    render_text,
)
from prefect_gitops.repo.diagnostics import Diagnostic, Severity, Summary
from prefect_gitops.repo.source import Span

DIAGS = [
    Diagnostic(
        Severity.WARNING,
        "S001",
        "deployment 'etl': unknown key 'schedulez' (Prefect ignores it)",
        Span("prefect.yaml", 12, 5),
        path="deployments[0].schedulez",
        resource="deployment/etl",
        hint="did you mean 'schedule'?",
    ),
    Diagnostic(
        Severity.ERROR,
        "S008",
        "work pool 'prefect-x': names starting with 'prefect' are reserved by the Prefect server",
        Span("work-pools/p.yaml", 1, 7),
        path="name",
        resource="work_pool/prefect-x",
    ),
    Diagnostic(
        Severity.ERROR,
        "S003",
        "deployment 'etl': `job_variables` is at the deployment level",
        Span("prefect.yaml", 3, 5),
        path="deployments[0].job_variables",
        resource="deployment/etl",
        hint="move it to `work_pool.job_variables`",
    ),
    Diagnostic(
        Severity.INFO,
        "X100",
        "an info note",
        Span("prefect.yaml", 1, 1),
    ),
]
SUMMARY = Summary(errors=2, warnings=1, files=2, deployments=1, work_pools=1)
CLEAN = Summary(errors=0, warnings=0, files=1, deployments=3, work_pools=1)


def test_text_golden() -> None:
    assert render_text(DIAGS, use_color=False, summary=SUMMARY) == (
        "prefect.yaml:3:5: error[S003] deployment 'etl': `job_variables` is at the deployment "
        "level\n"
        "    hint: move it to `work_pool.job_variables`\n"
        "prefect.yaml:12:5: warning[S001] deployment 'etl': unknown key 'schedulez' (Prefect "
        "ignores it)\n"
        "    hint: did you mean 'schedule'?\n"
        "work-pools/p.yaml:1:7: error[S008] work pool 'prefect-x': names starting with 'prefect' "
        "are reserved by the Prefect server\n"
        "\n"
        "Found 2 errors and 1 warning (2 files, 1 deployment, 1 work pool)."
    )


def test_text_verbose_shows_info() -> None:
    out = render_text(DIAGS, use_color=False, summary=SUMMARY, verbose=True)
    assert out.splitlines()[0] == "prefect.yaml:1:1: info[X100] an info note"


def test_text_clean() -> None:
    assert render_text([], use_color=False, summary=CLEAN) == (
        "No problems found (1 file, 3 deployments, 1 work pool)."
    )


def test_text_colour_golden() -> None:
    out = render_text(DIAGS[2:3], use_color=True, summary=SUMMARY)
    assert out == (
        "\x1b[1mprefect.yaml:3:5:\x1b[0m \x1b[1m\x1b[31merror[S003]\x1b[0m deployment 'etl': "
        "`job_variables` is at the deployment level\n"
        "    \x1b[2mhint:\x1b[0m move it to `work_pool.job_variables`\n"
        "\n"
        "\x1b[1m\x1b[31mFound 2 errors and 1 warning (2 files, 1 deployment, 1 work pool).\x1b[0m"
    )


def test_text_without_colour_has_no_escape_codes() -> None:
    assert "\x1b" not in render_text(DIAGS, use_color=False, summary=SUMMARY, verbose=True)


def test_json_golden() -> None:
    out = render_json(DIAGS, use_color=True, summary=SUMMARY)
    assert "\x1b" not in out
    assert json.loads(out) == {
        "format_version": "1",
        "diagnostics": [
            {
                "severity": "error",
                "code": "S003",
                "message": "deployment 'etl': `job_variables` is at the deployment level",
                "file": "prefect.yaml",
                "line": 3,
                "column": 5,
                "path": "deployments[0].job_variables",
                "resource": "deployment/etl",
            },
            {
                "severity": "warning",
                "code": "S001",
                "message": "deployment 'etl': unknown key 'schedulez' (Prefect ignores it)",
                "file": "prefect.yaml",
                "line": 12,
                "column": 5,
                "path": "deployments[0].schedulez",
                "resource": "deployment/etl",
            },
            {
                "severity": "error",
                "code": "S008",
                "message": (
                    "work pool 'prefect-x': names starting with 'prefect' are reserved by the "
                    "Prefect server"
                ),
                "file": "work-pools/p.yaml",
                "line": 1,
                "column": 7,
                "path": "name",
                "resource": "work_pool/prefect-x",
            },
        ],
        "summary": {"errors": 2, "warnings": 1, "files": 2, "deployments": 1, "work_pools": 1},
    }


def test_json_contract_key_order_and_types() -> None:
    data = json.loads(render_json(DIAGS, use_color=False, summary=SUMMARY))
    assert list(data) == ["format_version", "diagnostics", "summary"]
    for item in data["diagnostics"]:
        assert list(item) == [
            "severity", "code", "message", "file", "line", "column", "path", "resource",
        ]  # fmt: skip
        assert item["severity"] in ("error", "warning")
        assert isinstance(item["line"], int) and isinstance(item["column"], int)
    assert list(data["summary"]) == ["errors", "warnings", "files", "deployments", "work_pools"]


def test_json_null_resource_and_verbose_info() -> None:
    data = json.loads(render_json(DIAGS, use_color=False, summary=SUMMARY, verbose=True))
    assert data["diagnostics"][0] == {
        "severity": "info",
        "code": "X100",
        "message": "an info note",
        "file": "prefect.yaml",
        "line": 1,
        "column": 1,
        "path": "",
        "resource": None,
    }


def test_json_empty() -> None:
    assert json.loads(render_json([], use_color=False, summary=CLEAN)) == {
        "format_version": "1",
        "diagnostics": [],
        "summary": {"errors": 0, "warnings": 0, "files": 1, "deployments": 3, "work_pools": 1},
    }


def test_github_golden() -> None:
    assert render_github(DIAGS, use_color=True, summary=SUMMARY) == (
        "::error file=prefect.yaml,line=3,col=5,title=S003::deployment 'etl': `job_variables` "
        "is at the deployment level%0Ahint: move it to `work_pool.job_variables`\n"
        "::warning file=prefect.yaml,line=12,col=5,title=S001::deployment 'etl': unknown key "
        "'schedulez' (Prefect ignores it)%0Ahint: did you mean 'schedule'?\n"
        "::error file=work-pools/p.yaml,line=1,col=7,title=S008::work pool 'prefect-x': names "
        "starting with 'prefect' are reserved by the Prefect server\n"
        "Found 2 errors and 1 warning (2 files, 1 deployment, 1 work pool)."
    )


def test_github_escaping() -> None:
    diag = Diagnostic(
        Severity.ERROR,
        "S002",
        "100% wrong:\r\nsecond line, with comma",
        Span("dir,with:odd%chars/prefect.yaml", 2, 3),
    )
    assert render_github([diag], use_color=False, summary=SUMMARY).splitlines()[0] == (
        "::error file=dir%2Cwith%3Aodd%25chars/prefect.yaml,line=2,col=3,title=S002::"
        "100% wrong:%0D%0Asecond line, with comma".replace("100%", "100%25")
    )


def test_github_verbose_info_is_a_notice() -> None:
    out = render_github(DIAGS, use_color=False, summary=SUMMARY, verbose=True)
    assert out.splitlines()[0] == "::notice file=prefect.yaml,line=1,col=1,title=X100::an info note"
    assert "X100" not in render_github(DIAGS, use_color=False, summary=SUMMARY)


def test_registry() -> None:
    assert {"text": render_text, "json": render_json, "github": render_github} == RENDERERS


def test_text_makes_user_text_visible_and_no_line_a_command() -> None:
    diag = Diagnostic(
        Severity.ERROR,
        "S001",
        "unknown key 'a\n::add-mask::leak\x1b[2J'",
        Span("::error::x/prefect.yaml", 2, 3),
        hint="did you mean 'b\r\n::warning::w'?",
    )
    out = render_text([diag], use_color=False, summary=SUMMARY)
    assert out.splitlines()[:2] == [
        "./::error::x/prefect.yaml:2:3: error[S001] unknown key 'a\\n::add-mask::leak\\x1b[2J'",
        "    hint: did you mean 'b\\r\\n::warning::w'?",
    ]
    assert not [ln for ln in out.splitlines() if ln.lstrip().startswith("::")]


def test_github_makes_other_control_characters_visible() -> None:
    diag = Diagnostic(Severity.ERROR, "S001", "a\x1b[2Jb\u2028c", Span("p.yaml", 1, 1))
    first = render_github([diag], use_color=False, summary=SUMMARY).splitlines()[0]
    assert first == "::error file=p.yaml,line=1,col=1,title=S001::a\\x1b[2Jb\\u2028c"


def test_error_document_is_the_diagnostics_shape() -> None:
    import json

    from prefect_gitops.render.diagnostics import render_error_json

    document = json.loads(render_error_json("it broke", "try again"))
    assert document["format_version"] == "1"
    assert document["summary"]["errors"] == 1
    (diagnostic,) = document["diagnostics"]
    assert (diagnostic["severity"], diagnostic["message"], diagnostic["hint"]) == (
        "error",
        "it broke",
        "try again",
    )
