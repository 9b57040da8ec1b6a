from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from prefect_gitops.repo.diagnostics import Diagnostic
from prefect_gitops.repo.loader import MAX_FILE_BYTES, load_project
from tests.run_cli import CliResult, run_cli
from tests.special_files import make_special_file

GOOD = """\
deployments:
  - name: etl
    entrypoint: flows/etl.py:etl
    work_pool:
      name: local
"""
# What GOOD refers to, for tests that expect a clean run.
SUPPORT = {
    "flows/etl.py": "from prefect import flow\n\n\n@flow\ndef etl() -> None:\n    pass\n",
    "work-pools/local.yaml": "name: local\ntype: process\n",
}


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def validate_json(target: Path, *extra: str) -> CliResult:
    return run_cli("validate", str(target), "--format", "json", *extra)


def only(result: CliResult, code: str) -> dict[str, Any]:
    """The one diagnostic with `code`; fails if there is not exactly one."""
    found = [d for d in result.json()["diagnostics"] if d["code"] == code]
    assert len(found) == 1, result.stdout
    return found[0]


def load(root: Path) -> tuple[Any, list[Diagnostic]]:
    project, diags = load_project(root)
    return project, list(diags)


# -- hostile input: each gives exit 1 and a located message, quickly --------------------------


@pytest.mark.timeout(60)
def test_alias_bomb(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    lines.append("deployments: []")
    write(tmp_path, {"prefect.yaml": "\n".join(lines) + "\n"})
    result = validate_json(tmp_path)
    assert result.exit_code == 1
    diag = only(result, "Y006")
    assert "alias-expansion bomb" in diag["message"]
    assert diag["file"] == "prefect.yaml"
    assert diag["line"] > 1


@pytest.mark.timeout(60)
def test_file_over_the_size_cap(tmp_path: Path) -> None:
    padding = "# " + "x" * 1000 + "\n"
    text = GOOD + padding * (MAX_FILE_BYTES // len(padding) + 10)
    write(tmp_path, {"prefect.yaml": text})
    result = validate_json(tmp_path)
    assert result.exit_code == 1
    diag = only(result, "Y001")
    assert "over the 5 MiB cap" in diag["message"]
    assert (diag["file"], diag["line"], diag["column"]) == ("prefect.yaml", 1, 1)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "text",
    [
        "deployments: " + "[" * 200_000 + "]" * 200_000 + "\n",
        "deployments:\n" + "".join(f"{' ' * (i + 1)}k{i}:\n" for i in range(500)) + "\n",
        "deployments: " + "{a: " * 50_000 + "1" + "}" * 50_000 + "\n",
    ],
    ids=["flow-lists", "block-mappings", "flow-mappings"],
)
def test_very_deep_nesting(tmp_path: Path, text: str) -> None:
    write(tmp_path, {"prefect.yaml": text})
    result = validate_json(tmp_path)
    assert result.exit_code == 1
    diag = only(result, "Y006")
    assert "nesting deeper than" in diag["message"]
    assert diag["line"] >= 1 and diag["column"] >= 1


@pytest.mark.timeout(60)
def test_non_utf8_bytes(tmp_path: Path) -> None:
    write(tmp_path, {"prefect.yaml": b"deployments:\n  - name: caf\xe9\n"})
    result = validate_json(tmp_path)
    assert result.exit_code == 1
    diag = only(result, "Y002")
    assert (diag["line"], diag["column"]) == (2, 14)
    assert "not UTF-8" in diag["message"]


@pytest.mark.timeout(60)
def test_utf16_file_is_not_utf8(tmp_path: Path) -> None:
    write(tmp_path, {"prefect.yaml": GOOD.encode("utf-16")})
    result = validate_json(tmp_path)
    assert result.exit_code == 1
    assert result.codes() == ["Y002"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- name: etl\n- name: other\n", "the document is a list, not a mapping"),
        ("just some words\n", "the document is a plain string, not a mapping"),
        ("42\n", "the document is int, not a mapping"),
        ("", "the file is empty"),
        ("# only comments\n", "the file is empty"),
    ],
)
def test_non_mapping_document(tmp_path: Path, text: str, expected: str) -> None:
    write(tmp_path, {"prefect.yaml": text})
    result = validate_json(tmp_path)
    assert result.exit_code == 1
    diag = only(result, "Y008")
    assert expected in diag["message"]
    assert (diag["line"], diag["column"]) == (1, 1)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ('[project]\nname = "flows"\nversion = "1.0"\n', "Y004", 2),
        ('name = "flows"\nversion = "1.0"\n', "Y008", 1),
        ('[[deployments]]\nname = "etl"\n', "Y004", 2),
    ],
)
def test_toml_pasted_into_yaml(tmp_path: Path, text: str, code: str, line: int) -> None:
    write(tmp_path, {"prefect.yaml": text})
    result = validate_json(tmp_path)
    assert result.exit_code == 1
    diag = only(result, code)
    assert "looks like TOML" in diag["message"]
    assert diag["line"] == line


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "text",
    [
        '"""\nDeploy the ETL flows.\n"""\n' + GOOD,
        '"""Deploy the ETL flows."""\n' + GOOD,
    ],
)
def test_docstring_pasted_into_yaml(tmp_path: Path, text: str) -> None:
    write(tmp_path, {"prefect.yaml": text, **SUPPORT})
    result = validate_json(tmp_path)
    assert result.exit_code == 1
    diag = only(result, "Y004")
    assert "Python docstring" in diag["message"]
    assert (diag["line"], diag["column"]) == (1, 1)


def test_triple_quotes_inside_a_block_scalar_are_not_a_docstring(tmp_path: Path) -> None:
    text = (
        "pull:\n"
        "  - prefect.deployments.steps.run_shell_script:\n"
        "      script: |\n"
        '        python -c """print(1)"""\n' + GOOD
    )
    write(tmp_path, {"prefect.yaml": text, **SUPPORT})
    result = validate_json(tmp_path)
    assert result.exit_code == 0, result.stdout


@pytest.mark.timeout(60)
def test_merge_conflict_markers(tmp_path: Path) -> None:
    text = (
        "deployments:\n"
        "<<<<<<< HEAD\n"
        "  - name: etl\n"
        "=======\n"
        "  - name: etl-v2\n"
        ">>>>>>> feature/etl\n"
    )
    write(tmp_path, {"prefect.yaml": text})
    result = validate_json(tmp_path)
    assert result.exit_code == 1
    diag = only(result, "Y003")
    assert diag["line"] == 2
    assert "merge-conflict markers" in diag["message"]


def test_a_markdown_underline_is_not_a_conflict_marker(tmp_path: Path) -> None:
    text = GOOD + "    description: |\n      Title\n      =======\n      text\n"
    write(tmp_path, {"prefect.yaml": text, **SUPPORT})
    result = validate_json(tmp_path)
    assert result.exit_code == 0, result.stdout


@pytest.mark.timeout(60)
@pytest.mark.parametrize("template", ["../../outside.json", "/etc/passwd", "link/t.json"])
def test_template_path_escaping_the_repo(tmp_path: Path, template: str) -> None:
    repo = tmp_path / "repo"
    outside = write(tmp_path / "elsewhere", {"t.json": '{"job_configuration": {}}'})
    write(tmp_path, {"outside.json": "{}"})
    (repo / "work-pools").mkdir(parents=True)
    (repo / "work-pools" / "link").symlink_to(outside, target_is_directory=True)
    write(
        repo,
        {
            "prefect.yaml": GOOD,
            "work-pools/local.yaml": f"name: local\ntype: process\nbase_job_template: {template}\n",
        },
    )
    result = validate_json(repo)
    assert result.exit_code == 1
    diag = only(result, "S010")
    assert (diag["file"], diag["line"], diag["column"]) == ("work-pools/local.yaml", 3, 20)
    assert "work pool 'local'" in diag["message"]
    assert "outside the repository" in diag["message"]
    assert diag["resource"] == "work_pool/local"


@pytest.mark.timeout(60)
def test_prefect_file_outside_the_repo(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(tmp_path, {"other/prefect.yaml": GOOD})
    write(repo, {"prefect-gitops.yaml": "prefect_files:\n  - ../other/prefect.yaml\n"})
    result = validate_json(repo)
    assert result.exit_code == 1
    diag = only(result, "S010")
    assert (diag["file"], diag["line"]) == ("prefect-gitops.yaml", 2)


def test_duplicate_key_in_prefect_yaml_is_a_located_warning_and_the_later_wins(
    tmp_path: Path,
) -> None:
    # Prefect's yaml.safe_load keeps the later key and deploys: a warning, not an error.
    write(tmp_path, {"prefect.yaml": "build: null\npush: null\nbuild: []\n" + GOOD, **SUPPORT})
    result = validate_json(tmp_path)
    assert result.exit_code == 0
    diag = only(result, "Y005")
    assert (diag["severity"], diag["line"], diag["column"]) == ("warning", 3, 1)
    assert "first at line 1" in diag["message"] and "keeps only this later one" in diag["message"]
    project, _ = load_project(tmp_path)
    assert project.prefect_files[0].file.data["build"] == []


def test_duplicate_key_in_our_own_files_is_an_error(tmp_path: Path) -> None:
    files = {
        **SUPPORT,
        "prefect.yaml": GOOD,
        "work-pools/p.yaml": "name: p\ntype: process\nname: q\n",
    }
    write(tmp_path, files)
    result = validate_json(tmp_path)
    assert result.exit_code == 1
    diag = only(result, "Y005")
    assert (diag["severity"], diag["file"], diag["line"]) == ("error", "work-pools/p.yaml", 3)


def test_custom_tag_is_located(tmp_path: Path) -> None:
    write(tmp_path, {"prefect.yaml": GOOD + "    tags: !env TAGS\n"})
    result = validate_json(tmp_path)
    assert result.exit_code == 1
    diag = only(result, "Y007")
    assert diag["line"] == 6


def test_one_bad_file_does_not_hide_the_others(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "prefect.yaml": b"deployments: [\xff]\n",
            "work-pools/a.yaml": "name: a\ntype: process\nqueues: [{name: q, priority: 0}]\n",
            "work-pools/b.yaml": "- not a mapping\n",
        },
    )
    result = validate_json(tmp_path)
    assert result.exit_code == 1
    assert sorted(result.codes()) == ["S002", "Y002", "Y008"]


# -- wrong types (S002) are good messages -----------------------------------------------------


def _diags_for(tmp_path: Path, deployment: str) -> list[Diagnostic]:
    write(tmp_path, {"prefect.yaml": "deployments:\n  - name: etl\n" + deployment})
    _, diags = load(tmp_path)
    return diags


@pytest.mark.parametrize(
    ("yaml_text", "message", "hint", "line"),
    [
        (
            "    work_pool: my-pool\n",
            "deployment 'etl': `deployments[0].work_pool` should be a mapping, not a string "
            "('my-pool')",
            "write `work_pool: {name: my-pool}`",
            3,
        ),
        (
            "    version: 1.0\n",
            "deployment 'etl': `deployments[0].version` should be a string, not a number (1.0)",
            'quote it to keep it as text: "1.0"',
            3,
        ),
        (
            "    concurrency_limit: lots\n",
            "deployment 'etl': `deployments[0].concurrency_limit` should be an integer or a "
            "mapping, not a string ('lots')",
            None,
            3,
        ),
        (
            "    schedules: '0 * * * *'\n",
            "deployment 'etl': `deployments[0].schedules` should be a list, not a string "
            "('0 * * * *')",
            'a schedule is a mapping, e.g. `- cron: "0 * * * *"`',
            3,
        ),
        (
            "    schedule: '0 * * * *'\n",
            "deployment 'etl': `deployments[0].schedule` should be a mapping, not a string "
            "('0 * * * *')",
            'a schedule is a mapping: `schedule: {cron: "0 * * * *"}`',
            3,
        ),
        (
            "    paused: maybe\n",
            "deployment 'etl': `deployments[0].paused` should be true or false, not a string "
            "('maybe')",
            None,
            3,
        ),
        (
            "    pull:\n      - just-a-string\n",
            "deployment 'etl': `deployments[0].pull[0]` should be a mapping, not a string "
            "('just-a-string')",
            "steps are mappings, e.g. `- prefect.deployments.steps.git_clone: {repository: ...}`",
            4,
        ),
        (
            "    work_pool:\n      name: p\n      job_variables: [1, 2]\n",
            "deployment 'etl': `deployments[0].work_pool.job_variables` should be a mapping, "
            "not a list",
            None,
            5,
        ),
        (
            "    tags: 5\n",
            "deployment 'etl': `deployments[0].tags` should be a list or a string, not an "
            "integer (5)",
            'quote it to keep it as text: "5"',
            3,
        ),
    ],
)
def test_wrong_type_messages(
    tmp_path: Path, yaml_text: str, message: str, hint: str | None, line: int
) -> None:
    diags = _diags_for(tmp_path, yaml_text)
    assert [(d.code, d.message, d.hint, d.span.line) for d in diags] == [
        ("S002", message, hint, line)
    ]
    assert diags[0].resource == "deployment/etl"


def test_deployments_given_as_a_mapping(tmp_path: Path) -> None:
    write(tmp_path, {"prefect.yaml": "deployments:\n  etl:\n    entrypoint: a.py:f\n"})
    _, diags = load(tmp_path)
    assert [(d.code, d.span.line, d.path) for d in diags] == [("S002", 2, "deployments")]
    assert "must be a list" in diags[0].message


def test_pool_file_errors_are_strict_and_located(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "prefect.yaml": GOOD,
            "work-pools/local.yaml": (
                "name: local\n"
                "type: process\n"
                "concurency_limit: 3\n"
                "queues:\n"
                "  - name: high\n"
                "    priority: zero\n"
                "  - priority: 2\n"
            ),
        },
    )
    _, diags = load(tmp_path)
    got = sorted((d.code, d.span.line, d.path, d.hint) for d in diags)
    assert got == [
        ("S001", 3, "concurency_limit", "did you mean 'concurrency_limit'?"),
        ("S002", 6, "queues[0].priority", None),
        ("S009", 7, "queues[1].name", None),
    ]
    s001 = next(d for d in diags if d.code == "S001")
    assert s001.severity.value == "error"
    assert s001.message == "work pool 'local': unknown key 'concurency_limit' in the top level"


@pytest.mark.parametrize("name", ["a/b", "50%", "x&y", "<p>"])
def test_pool_name_with_banned_characters_is_s013(tmp_path: Path, name: str) -> None:
    write(tmp_path, {"prefect.yaml": GOOD, "work-pools/p.yaml": f"name: '{name}'\ntype: process\n"})
    _, diags = load(tmp_path)
    assert [(d.code, d.span.line) for d in diags] == [("S013", 1)]
    assert "the Prefect server rejects them" in diags[0].message


def test_pool_and_queue_names_with_control_characters_are_s013(tmp_path: Path) -> None:
    pool = 'name: "p\\x07"\ntype: process\nqueues:\n  - name: "q\\x7f"\n'
    write(tmp_path, {"prefect.yaml": GOOD, "work-pools/p.yaml": pool})
    _, diags = load(tmp_path)
    assert [(d.code, d.span.line) for d in diags] == [("S013", 1), ("S013", 4)]
    assert "must not contain \\x07" in diags[0].message
    assert "must not contain \\x7f" in diags[1].message


def test_missing_template_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "prefect.yaml": GOOD,
            "work-pools/p.yaml": "name: p\ntype: process\nbase_job_template: t.json\n",
        },
    )
    _, diags = load(tmp_path)
    assert [(d.code, d.span.line, d.hint) for d in diags] == [
        ("S011", 3, "looked for work-pools/t.json")
    ]


def test_template_file_is_loaded_with_positions(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "prefect.yaml": GOOD,
            "work-pools/p.yaml": "name: p\ntype: process\nbase_job_template: t.json\n",
            "work-pools/t.json": '{\n  "job_configuration": {},\n  "variables": {}\n}\n',
        },
    )
    project, diags = load(tmp_path)
    assert diags == []
    pool = project.pools[0]
    assert pool.template == {"job_configuration": {}, "variables": {}}
    assert pool.template_span("variables", key=True).line == 3
    assert pool.template_span("variables").file == "work-pools/t.json"


def test_single_file_target(tmp_path: Path) -> None:
    write(tmp_path, {"sub/prefect.yaml": GOOD, "prefect.yaml": "not: [valid\n"})
    project, diags = load(tmp_path / "sub" / "prefect.yaml")
    assert diags == []
    assert [d.name for d in project.deployments] == ["etl"]
    assert project.root == tmp_path / "sub"


def test_symlinked_repo_root_is_inside(tmp_path: Path) -> None:
    write(tmp_path / "real", {"prefect.yaml": GOOD})
    os.symlink(tmp_path / "real", tmp_path / "link")
    _, diags = load(tmp_path / "link")
    assert diags == []


def test_repo_without_prefect_yaml(tmp_path: Path) -> None:
    result = validate_json(tmp_path)
    assert result.exit_code == 1
    diag = only(result, "Y001")
    assert diag["message"] == "there is no prefect file prefect.yaml"
    assert (diag["file"], diag["line"]) == ("prefect.yaml", 1)


# -- which files: patterns, and what they may name ------------------------------------------


@pytest.mark.parametrize("folder", ["build[1]", "ci*", "run?", "[x]"])
@pytest.mark.parametrize("config", ["", "work_pools: ['work-pools/*.yaml']\n"])
def test_a_checkout_path_with_glob_characters_finds_its_files(
    tmp_path: Path, folder: str, config: str
) -> None:
    repo = write(tmp_path / folder, {"prefect.yaml": GOOD, **SUPPORT})
    # A sibling that the folder's name matches as a glob: its files are not this project's.
    sibling = folder.replace("[", "").replace("]", "").replace("*", "-x").replace("?", "1")
    write(tmp_path / sibling, {"work-pools/other.yaml": "name: other\ntype: process\n"})
    if config:
        write(repo, {"prefect-gitops.yaml": config})
    result = validate_json(repo)
    assert result.exit_code == 0, result.stdout
    assert result.json()["summary"]["work_pools"] == 1
    project, diags = load(repo)
    assert diags == [] and [p.name for p in project.pools] == ["local"]


@pytest.mark.parametrize("folder", [b"build\xff", b"caf\xe9"])
def test_a_checkout_path_that_is_not_utf8_is_a_located_error(tmp_path: Path, folder: bytes) -> None:
    """The prefect file's folder goes into each deployment's pull step: a path with bytes that
    are not UTF-8 cannot be sent, and `plan` crashed encoding it (exit 3)."""
    repo = write(tmp_path / os.fsdecode(folder) / "repo", {"prefect.yaml": GOOD, **SUPPORT})
    found = only(validate_json(repo), "Y002")
    assert found["file"] == "prefect.yaml" and "not valid UTF-8" in found["message"]
    planned = run_cli("plan", str(repo), "--api-url", "http://127.0.0.1:9/api")
    assert planned.exit_code == 1 and "crashed" not in planned.stderr, planned.stderr
    assert "not valid UTF-8" in planned.stdout + planned.stderr


@pytest.mark.parametrize(
    ("config", "line", "message"),
    [
        (
            "prefect_files: ['teams/*/prefect.yaml']\n",
            1,
            "`prefect_files` pattern 'teams/*/prefect.yaml' in prefect-gitops.yaml matches no file",
        ),
        (
            "prefect_files:\n  - prefect.yaml\n  - 'teams/**/prefect.yaml'\n",
            3,
            "`prefect_files` pattern 'teams/**/prefect.yaml' in prefect-gitops.yaml matches no file",
        ),
        (
            "work_pools: ['pools/*.yaml']\n",
            1,
            "`work_pools` pattern 'pools/*.yaml' in prefect-gitops.yaml matches no file",
        ),
        (
            "work_pools:\n  - work-pools/*.yaml\n  - pools/gpu.yaml\n",
            3,
            "there is no pools/gpu.yaml (listed in `work_pools` of prefect-gitops.yaml)",
        ),
    ],
)
def test_a_declared_pattern_matching_nothing_is_a_located_error(
    tmp_path: Path, config: str, line: int, message: str
) -> None:
    # An empty file set must never read as "the project declares nothing": prune deletes that.
    write(tmp_path, {"prefect.yaml": GOOD, **SUPPORT, "prefect-gitops.yaml": config})
    result = validate_json(tmp_path)
    assert result.exit_code == 1, result.stdout
    diag = only(result, "Y001")
    assert (diag["file"], diag["line"], diag["message"]) == ("prefect-gitops.yaml", line, message)


@pytest.mark.parametrize("pattern", ['""', '"."', '"a\\0b/*.yaml"', '"pre\\0fect.yaml"'])
def test_patterns_that_can_name_no_file_are_errors_not_crashes(
    tmp_path: Path, pattern: str
) -> None:
    config = f"prefect_files: [prefect.yaml, {pattern}]\n"
    write(tmp_path, {"prefect.yaml": GOOD, **SUPPORT, "prefect-gitops.yaml": config})
    result = validate_json(tmp_path)
    assert result.exit_code == 1, result.stderr
    diag = only(result, "Y001")
    assert (diag["file"], diag["line"]) == ("prefect-gitops.yaml", 1)


def test_default_patterns_may_match_nothing(tmp_path: Path) -> None:
    write(tmp_path, {"prefect.yaml": GOOD, "flows/etl.py": SUPPORT["flows/etl.py"]})
    project, diags = load(tmp_path)
    assert project.pools == [] and not [d for d in diags if d.code == "Y001"]


def test_one_file_named_twice_is_read_once(tmp_path: Path) -> None:
    write(tmp_path, {"prefect.yaml": GOOD, **SUPPORT})
    config = "prefect_files: [prefect.yaml, ./prefect.yaml, 'alias.*']\n"
    write(tmp_path, {"prefect-gitops.yaml": config})
    os.symlink("prefect.yaml", tmp_path / "alias.yaml")
    project, diags = load(tmp_path)
    assert diags == [] and len(project.prefect_files) == 1


@pytest.mark.timeout(60)
def test_double_star_does_not_loop_through_symlinked_folders(tmp_path: Path) -> None:
    write(tmp_path, {"prefect.yaml": GOOD, **SUPPORT})
    write(tmp_path, {"prefect-gitops.yaml": "prefect_files: ['**/prefect.yaml']\n"})
    for i in range(6):
        os.symlink(".", tmp_path / f"self{i}")
        os.symlink("..", tmp_path / "flows" / f"up{i}")
    result = validate_json(tmp_path)
    assert result.exit_code == 0, result.stdout
    assert result.json()["summary"]["deployments"] == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("name", "kind", "code", "where", "message"),
    [
        ("prefect.yaml", "fifo", "Y001", "prefect.yaml:1", "is not a regular file (a FIFO"),
        ("prefect.yaml", "loop", "Y001", "prefect.yaml:1", "prefect.yaml is a symlink loop"),
        ("prefect.yaml", "dev-zero", "S010", "prefect.yaml:1", "to /dev/zero) is outside"),
        ("prefect.yaml", "outside", "S010", "prefect.yaml:1", "is outside the repository"),
        ("work-pools/local.yaml", "fifo", "Y001", "work-pools/local.yaml:1", "a FIFO"),
        ("work-pools/local.yaml", "loop", "Y001", "work-pools/local.yaml:1", "symlink loop"),
        ("work-pools/local.yaml", "dev-zero", "S010", "work-pools/local.yaml:1", "/dev/zero"),
        ("work-pools/local.yaml", "outside", "S010", "work-pools/local.yaml:1", "outside the"),
        ("work-pools/t.json", "fifo", "Y001", "work-pools/t.json:1", "a FIFO"),
        ("work-pools/t.json", "loop", "Y001", "work-pools/t.json:1", "t.json is a symlink loop"),
        ("work-pools/t.json", "dev-zero", "S010", "work-pools/local.yaml:3", "points outside"),
        ("work-pools/t.json", "outside", "S010", "work-pools/local.yaml:3", "points outside"),
        ("prefect-gitops.yaml", "fifo", "Y001", "prefect-gitops.yaml:1", "a FIFO"),
        ("prefect-gitops.yaml", "loop", "Y001", "prefect-gitops.yaml:1", "a symlink loop"),
        ("prefect-gitops.yaml", "dev-zero", "S010", "prefect-gitops.yaml:1", "to /dev/zero"),
        ("prefect-gitops.yaml", "outside", "S010", "prefect-gitops.yaml:1", "outside the"),
    ],
)
def test_special_files_are_refused_without_hanging(
    tmp_path: Path, name: str, kind: str, code: str, where: str, message: str
) -> None:
    outside = write(tmp_path, {"outside.yaml": GOOD}) / "outside.yaml"
    repo = write(tmp_path / "repo", {"prefect.yaml": GOOD, **SUPPORT})
    if name == "work-pools/t.json":
        template = "name: local\ntype: process\nbase_job_template: t.json\n"
        write(repo, {"work-pools/local.yaml": template})
    make_special_file(repo / name, kind, outside)
    result = validate_json(repo)
    assert result.exit_code == 1, result.stdout
    diag = only(result, code)
    assert f"{diag['file']}:{diag['line']}" == where
    assert message in diag["message"]


@pytest.mark.timeout(60)
def test_a_fifo_named_on_the_command_line_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "prefect.yaml")
    result = validate_json(tmp_path / "prefect.yaml")
    assert result.exit_code == 1
    assert "is not a regular file" in only(result, "Y001")["message"]


@pytest.mark.parametrize("config", ["/dev/zero", "elsewhere/broken.yaml"])
def test_a_config_that_cannot_be_read_leaves_the_repositorys_files_where_they_are(
    tmp_path: Path, config: str
) -> None:
    """Its defaults stand for the repository's: the globs are the repository's, not the
    unreadable config's folder's (which found /dev/prefect.yaml "outside the repository")."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "prefect.yaml").write_text("deployments:\n  - name: a\n    entrypoint: f.py:f\n")
    config_path = Path(config) if config.startswith("/") else tmp_path / config
    if not config.startswith("/"):
        config_path.parent.mkdir()
        config_path.write_text("project: [1\n")
    project, diags = load_project(repo, config_path=config_path)
    assert [pf.file.rel for pf in project.prefect_files] == ["prefect.yaml"]
    assert [d.code for d in diags if d.severity.value == "error"] in (["Y001"], ["Y004"])


TEMPLATE_ENTRY = """\
  - name:
    version:
    entrypoint:
    work_pool:
      name:
"""
NAMED = "  - name: real\n    entrypoint: flows.py:f\n    work_pool: {name: p}\n"


def test_an_unnamed_deployment_beside_others_is_skipped_as_prefect_deploy_skips_it(
    tmp_path: Path,
) -> None:
    """`prefect init`'s template entry left above the real ones: `prefect deploy --all`
    prints "Discovered unnamed deployment. Skipping..." and deploys the rest."""
    project, diags = load(
        write(tmp_path, {"prefect.yaml": "deployments:\n" + TEMPLATE_ENTRY + NAMED})
    )
    assert [d.name for d in project.deployments] == ["real"]
    assert [(d.code, d.severity.value, d.span.line, d.path) for d in diags] == [
        ("S017", "warning", 2, "deployments[0]")
    ]


def test_an_unnamed_deployment_still_gets_the_schema_check_prefect_runs_first(
    tmp_path: Path,
) -> None:
    text = "deployments:\n" + TEMPLATE_ENTRY + "    tags: 5\n" + NAMED
    _, diags = load(write(tmp_path, {"prefect.yaml": text}))
    assert sorted((d.code, d.severity.value) for d in diags) == [
        ("S002", "error"),
        ("S017", "warning"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "deployments:\n" + TEMPLATE_ENTRY,  # alone: prefect deploy fails on it (S009)
        "deployments:\n  - name: ''\n    entrypoint: flows.py:f\n    work_pool: {name: p}\n"
        + NAMED,  # an empty name is not a missing one: it fails too
    ],
)
def test_an_unnamed_deployment_alone_or_an_empty_name_is_not_skipped(
    tmp_path: Path, text: str
) -> None:
    project, diags = load(write(tmp_path, {"prefect.yaml": text}))
    assert len(project.deployments) == text.count("- name")
    assert "S017" not in {d.code for d in diags}
