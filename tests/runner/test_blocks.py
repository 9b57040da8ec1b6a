"""Block references resolved at run time, as Prefect's workers resolve them (no server)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from prefect_gitops.runner.blocks import BlockError, redact, resolve_blocks
from prefect_gitops.runner.config import (
    DEFAULT_PROCESS_TEMPLATE,
    JobConfigError,
    render_job_configuration,
    variable_names,
)


class FakeBlocks:
    def __init__(self, documents: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.documents = documents
        self.by_ids = {f"id-{name}": data for (_slug, name), data in documents.items()}
        self.reads: list[tuple[str, str]] = []

    def by_name(self, type_slug: str, name: str) -> Mapping[str, Any] | None:
        self.reads.append((type_slug, name))
        return self.documents.get((type_slug, name))

    def by_id(self, document_id: str) -> Mapping[str, Any] | None:
        return self.by_ids.get(document_id)


BLOCKS = FakeBlocks(
    {
        ("secret", "my-secret"): {"value": "s3cr3t-value"},
        ("json", "cfg"): {"value": {"host": "db.internal", "ports": [5432, 6432]}},
        ("aws-credentials", "prod"): {"aws_access_key_id": "AKIAEXAMPLE", "region_name": "eu"},
    }
)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ prefect.blocks.secret.my-secret }}", "s3cr3t-value"),
        ("{{prefect.blocks.secret.my-secret}}", "s3cr3t-value"),
        ("{{ prefect.blocks.secret.my-secret.value }}", "s3cr3t-value"),
        ("Bearer {{ prefect.blocks.secret.my-secret }}!", "Bearer s3cr3t-value!"),
        ("{{ prefect.blocks.json.cfg }}", {"host": "db.internal", "ports": [5432, 6432]}),
        ("{{ prefect.blocks.json.cfg.host }}", "db.internal"),
        ("{{ prefect.blocks.json.cfg.ports[1] }}", 6432),
        ("{{ prefect.blocks.json.cfg.value.host }}", "db.internal"),
        (
            "{{ prefect.blocks.aws-credentials.prod }}",
            {"aws_access_key_id": "AKIAEXAMPLE", "region_name": "eu"},
        ),
        ("{{ prefect.blocks.aws-credentials.prod.region_name }}", "eu"),
        ({"$ref": {"block_document_id": "id-my-secret"}}, {"value": "s3cr3t-value"}),
        (
            ["a", {"k": "{{ prefect.blocks.json.cfg.host }}:{{ port }}"}],
            ["a", {"k": "db.internal:{{ port }}"}],
        ),
        ("no placeholder", "no placeholder"),
    ],
)
def test_references_resolve_like_prefect(template: Any, expected: Any) -> None:
    resolved, _ = resolve_blocks(template, BLOCKS)
    assert resolved == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ prefect.blocks.secret.gone }}", "block 'gone' of type 'secret'"),
        ("{{ prefect.blocks.secret }}", "invalid block placeholder"),
        ("{{ prefect.blocks.json.cfg.nope }}", "no field 'nope'"),
        ("x-{{ prefect.blocks.json.cfg }}", "inside a longer string"),
        ({"$ref": {"block_document_id": "missing"}}, "block document missing"),
    ],
)
def test_unresolvable_references_are_named(template: Any, message: str) -> None:
    with pytest.raises(BlockError, match=message):
        resolve_blocks(template, BLOCKS)


def test_values_read_are_reported_as_secrets_and_redacted() -> None:
    _, secrets = resolve_blocks(
        {"a": "{{ prefect.blocks.secret.my-secret }}", "b": "{{ prefect.blocks.json.cfg }}"}, BLOCKS
    )
    assert {"s3cr3t-value", "db.internal", "5432", "6432"} <= secrets
    assert redact("token s3cr3t-value on db.internal", secrets) == "token *** on ***"


def test_a_secret_in_env_reaches_the_job_configuration() -> None:
    blocks = FakeBlocks({("secret", "my-secret"): {"value": "s3cr3t-value"}})
    config = render_job_configuration(
        DEFAULT_PROCESS_TEMPLATE,
        {"env": {"MY_SECRET": "{{ prefect.blocks.secret.my-secret }}", "PLAIN": "x"}},
        blocks=blocks,
    )
    assert config.env == {"MY_SECRET": "s3cr3t-value", "PLAIN": "x"}
    assert "s3cr3t-value" in config.secrets
    assert "s3cr3t-value" not in repr(config)
    assert blocks.reads == [("secret", "my-secret")]


def test_a_block_ref_default_of_the_pool_is_resolved() -> None:
    template = {
        "job_configuration": {"command": "{{ command }}", "env": "{{ env }}"},
        "variables": {
            "properties": {
                "env": {
                    "type": "object",
                    "default": {"TOKEN": "{{ prefect.blocks.secret.my-secret }}"},
                },
                "command": {"default": {"$ref": {"block_document_id": "id-cmd"}}},
            }
        },
    }
    blocks = FakeBlocks(
        {("secret", "my-secret"): {"value": "tok-1234"}, ("string", "cmd"): {"value": "echo hi"}}
    )
    with pytest.raises(JobConfigError, match="'command' must be a string"):
        # A $ref is replaced by the block's whole data, as Prefect does.
        render_job_configuration(template, {}, blocks=blocks)
    template["variables"]["properties"]["command"]["default"] = "{{ prefect.blocks.string.cmd }}"
    config = render_job_configuration(template, {}, blocks=blocks)
    assert config.command == "echo hi" and config.env == {"TOKEN": "tok-1234"}


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"stream_output": "{{ prefect.blocks.secret.pw }}"}, "stream_output"),
        ({"env": "{{ prefect.blocks.secret.pw }}"}, "env"),
        ({"working_dir": "{{ prefect.blocks.json.dirs }}"}, "working_dir"),
    ],
)
def test_error_messages_never_show_a_value_read_from_a_block(
    variables: dict[str, Any], field: str
) -> None:
    blocks = FakeBlocks(
        {("secret", "pw"): {"value": "hunter2-pw"}, ("json", "dirs"): {"value": ["hunter2-pw"]}}
    )
    with pytest.raises(JobConfigError, match=field) as caught:
        render_job_configuration(DEFAULT_PROCESS_TEMPLATE, variables, blocks=blocks)
    assert "hunter2-pw" not in str(caught.value)
    assert "***" in str(caught.value)


def test_a_missing_block_is_a_job_config_error_naming_it() -> None:
    with pytest.raises(JobConfigError, match=r"block 'gone' of type 'secret'.*does not exist"):
        render_job_configuration(
            DEFAULT_PROCESS_TEMPLATE,
            {"env": {"X": "{{ prefect.blocks.secret.gone }}"}},
            blocks=FakeBlocks({}),
        )


def test_variables_referenced_by_job_variables_are_fetched_too() -> None:
    variables = {"env": {"X": "{{ prefect.variables.from_deployment }}"}}
    names = variable_names(DEFAULT_PROCESS_TEMPLATE, variables)
    assert names == {"from_deployment"}
    config = render_job_configuration(
        DEFAULT_PROCESS_TEMPLATE, variables, prefect_variables={"from_deployment": "v"}
    )
    assert config.env == {"X": "v"}


class _PrefectClientStandIn:
    """What Prefect's resolver reads through its client, served from the same documents."""

    def __init__(self, blocks: FakeBlocks) -> None:
        self.blocks = blocks

    async def read_block_document_by_name(self, name: str, block_type_slug: str) -> Any:
        from types import SimpleNamespace

        import prefect.exceptions

        data = self.blocks.by_name(block_type_slug, name)
        if data is None:
            raise prefect.exceptions.ObjectNotFound(http_exc=Exception("404"))
        return SimpleNamespace(data=dict(data))

    async def read_block_document(self, document_id: Any) -> Any:
        from types import SimpleNamespace

        import prefect.exceptions

        data = self.blocks.by_id(str(document_id))
        if data is None:
            raise prefect.exceptions.ObjectNotFound(http_exc=Exception("404"))
        return SimpleNamespace(data=dict(data))


PARITY_CASES: list[Any] = [
    "{{ prefect.blocks.secret.my-secret }}",
    "{{ prefect.blocks.secret.my-secret.value }}",
    "x {{ prefect.blocks.secret.my-secret }} y {{ prefect.blocks.json.cfg.host }}",
    "{{ prefect.blocks.json.cfg }}",
    "{{ prefect.blocks.json.cfg.ports[0] }}",
    "{{ prefect.blocks.json.cfg.value.ports }}",
    "{{ prefect.blocks.aws-credentials.prod }}",
    "{{ prefect.blocks.aws-credentials.prod.aws_access_key_id }}",
    "{{ prefect.blocks.aws-credentials.prod.nope }}",
    "pre-{{ prefect.blocks.json.cfg }}",
    "{{ prefect.blocks.secret.gone }}",
    {"env": {"A": "{{ prefect.blocks.secret.my-secret }}", "B": ["{{ x }}", 1, None, True]}},
    {"$ref": {"block_document_id": "id-cfg"}},
    {"$ref": {"block_document_id": "missing"}},
    [{"k": "{{ prefect.blocks.json.cfg.host }}:{{ $PORT }}"}],
]


@pytest.mark.parametrize("template", PARITY_CASES)
def test_resolution_matches_prefects_own_resolver(template: Any) -> None:
    import asyncio

    from prefect.utilities.templating import resolve_block_document_references

    try:
        expected: Any = asyncio.run(
            resolve_block_document_references(template, client=_PrefectClientStandIn(BLOCKS))  # type: ignore[arg-type]
        )
    except Exception:
        expected = "error"
    try:
        actual: Any = resolve_blocks(template, BLOCKS)[0]
    except BlockError:
        actual = "error"
    assert actual == expected


def test_a_short_secret_block_value_is_still_redacted() -> None:
    blocks = FakeBlocks({("secret", "pin"): {"value": "42"}, ("string", "n"): {"value": "42"}})
    _, secrets = resolve_blocks({"a": "{{ prefect.blocks.secret.pin }}"}, blocks)
    assert secrets == {"42"}
    _, secrets = resolve_blocks({"a": "{{ prefect.blocks.string.n }}"}, blocks)
    assert secrets == frozenset()  # too short to hide anything, would redact ordinary text
