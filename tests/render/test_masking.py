from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_gitops.plans.build import Action, Reason
from prefect_gitops.render.masking import (
    MASK,
    Masker,
    hide_url_password,
    mask_message,
    mask_plan_dict,
)
from tests.render.factories import change, make_plan


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "db_password",
        "DB_PASSWORD",
        "dbpassword",
        "token",
        "API_TOKEN",
        "authToken",
        "secret",
        "client_secret",
        "clientSecret",
        "key",
        "api_key",
        "apiKey",
        "APIKey",
        "access_key",
        "PREFECT_API_KEY",
        "apikey",
        "credentials",
        "aws_credentials",
        "registry-credentials",
        "secretKeyRef",
        "PREFECT_API_AUTH_STRING",
        "Authorization",
    ],
)
def test_secret_looking_keys(key: str) -> None:
    assert Masker().is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["keyboard", "monkey", "turkey", "tokenizer", "name", "image", "env", "description", "author"],
)
def test_ordinary_keys(key: str) -> None:
    assert not Masker().is_secret_key(key)


def test_user_mask_keys_match_whole_words_and_exact_names() -> None:
    masker = Masker(mask_keys=["dsn", "connection_string", "MyField"])
    assert masker.is_secret_key("DATABASE_DSN")
    assert masker.is_secret_key("dbConnectionString")
    assert masker.is_secret_key("myfield")
    assert not masker.is_secret_key("dsnx")
    assert not masker.is_secret_key("connection")


def test_mask_tree_reaches_nested_dicts_env_maps_and_name_value_pairs() -> None:
    masker = Masker()
    value = {
        "env": {"API_TOKEN": "t0k3n-abc", "LOG_LEVEL": "INFO"},
        "credentials": {"username": "bob", "password": "pw-123456"},
        "containers": [
            {"env": [{"name": "DB_PASSWORD", "value": "pw-xyz"}, {"name": "X", "value": "1"}]}
        ],
    }
    assert masker.mask_tree(value) == {
        "env": {"API_TOKEN": MASK, "LOG_LEVEL": "INFO"},
        "credentials": MASK,
        "containers": [
            {"env": [{"name": "DB_PASSWORD", "value": MASK}, {"name": "X", "value": "1"}]}
        ],
    }
    # Only strings that were themselves under secret keys are remembered, not "bob".
    assert masker.secrets == {"t0k3n-abc", "pw-123456", "pw-xyz"}


def test_equal_values_elsewhere_are_masked_and_long_ones_cut_out() -> None:
    masker = Masker()
    masker.mask_tree({"token": "abc", "password": "s3cr3t-pw", "key": "x"})
    assert masker.scrub(
        {
            "a": "abc",
            "b": "xabcx",
            "c": "url://u:s3cr3t-pw@h",
            "d": "say abc.",
            "e": "x",
            "f": "x y",
        }
    ) == {
        "a": MASK,
        "b": "xabcx",  # short secrets are cut out only where they stand as a word
        "c": f"url://u:{MASK}@h",
        "d": f"say {MASK}.",
        "e": MASK,
        "f": "x y",  # tiny secrets only where they are the whole value
    }


def test_hide_url_password() -> None:
    assert hide_url_password("https://me:pw@host:4200/api") == f"https://me:{MASK}@host:4200/api"
    assert hide_url_password("http://127.0.0.1:4200/api") == "http://127.0.0.1:4200/api"


def test_plan_dict_masks_states_changed_fields_and_notes() -> None:
    rc = change(
        "variable.db_password",
        Action.UPDATE,
        before={"name": "db_password", "value": "old-secret-1", "tags": []},
        after={"name": "db_password", "value": "new-secret-2", "tags": ["x"]},
        fields=(
            ("value", "old-secret-1", "new-secret-2", "changed"),
            ("tags", [], ["x"], "changed"),
        ),
        reason=Reason.CHANGED,
        notes=("value was new-secret-2 before",),
    )
    doc = mask_plan_dict(make_plan(rc).to_dict())
    masked = doc["resource_changes"][0]
    assert masked["before"] == {"name": "db_password", "value": MASK, "tags": []}
    assert masked["after"] == {"name": "db_password", "value": MASK, "tags": ["x"]}
    assert masked["changed_fields"] == [
        {"path": "value", "before": MASK, "after": MASK, "kind": "changed"},
        {"path": "tags", "before": [], "after": ["x"], "kind": "changed"},
    ]
    assert masked["notes"] == [f"value was {MASK} before"]


def test_secret_path_in_changed_field_is_masked_even_for_containers() -> None:
    rc = change(
        "deployment.etl/daily",
        Action.UPDATE,
        before={},
        after={},
        fields=(
            ("job_variables.env.API_TOKEN", None, "tok-1234567", "added"),
            ("pull_steps[0].git_clone.credentials", {"token": "ghp_abc"}, None, "removed"),
            ("job_variables.env", {"A": "1"}, {"A": "1", "MY_SECRET": "zzz"}, "changed"),
        ),
        reason=Reason.CHANGED,
    )
    fields = mask_plan_dict(make_plan(rc).to_dict())["resource_changes"][0]["changed_fields"]
    assert [(f["before"], f["after"]) for f in fields] == [
        (None, MASK),
        (MASK, None),
        ({"A": "1"}, {"A": "1", "MY_SECRET": MASK}),
    ]


def test_literal_values_are_cut_from_every_string() -> None:
    rc = change("flow.etl", Action.CREATE, after={"name": "etl", "description": "key is pnu_KEY"})
    doc = mask_plan_dict(make_plan(rc).to_dict(), mask_values=["pnu_KEY"])
    assert doc["resource_changes"][0]["after"]["description"] == f"key is {MASK}"


def test_the_unmasked_plan_is_left_alone() -> None:
    rc = change(
        "variable.api_token", Action.CREATE, after={"name": "api_token", "value": "v-123456"}
    )
    plan = make_plan(rc)
    mask_plan_dict(plan.to_dict())
    assert plan.resource_changes[0].after == {"name": "api_token", "value": "v-123456"}


def test_a_server_message_quoting_a_secret_as_json_or_repr_is_masked() -> None:
    # A 422 that echoes the request body shows the secret JSON-escaped (quotes, backslashes,
    # tabs, non-ASCII as \\u escapes) or as a Python repr, and the API client folds whitespace.
    secrets = {'ak_live_quote"back\\slash', "Hunter5  Super\tSecret", "pässwörd-ü-secret"}
    body = json.dumps({"value": sorted(secrets)})
    for echoed in (body, json.dumps(sorted(secrets), ensure_ascii=False), repr(sorted(secrets))):
        for text in (echoed, " ".join(echoed.split())):
            masked = mask_message(f"HTTP 422: rejected: {text}", secrets)
            assert "ak_live" not in masked and "Hunter5" not in masked, masked
            assert "p\\u00e4ssw" not in masked and "pässw" not in masked, masked
            assert masked.count(MASK) == 3, masked


def test_a_tree_without_secret_words_is_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The masking of a large plan: a state whose JSON text holds no word a secret key is made
    of is returned as it is, without asking about one key (the walk was most of its cost)."""
    asked: list[object] = []
    decide = Masker._decide
    monkeypatch.setattr(Masker, "_decide", lambda self, key: asked.append(key) or decide(self, key))
    state = {"name": "d0001", "tags": ["batch"], "job_variables": {"env": {"LEVEL": "debug"}}}
    rc = change("deployment.work/d0001", Action.NOOP, before=state, after=dict(state))
    checked: list[object] = []
    may_hold = Masker.may_hold_secret
    monkeypatch.setattr(
        Masker, "may_hold_secret", lambda self, v: checked.append(v) or may_hold(self, v)
    )
    doc = mask_plan_dict(make_plan(rc).to_dict(), mask_keys=["dsn"])
    assert doc["resource_changes"][0]["after"] == state and asked == []
    assert len(checked) == 1  # the no-op's equal `before` takes the verdict of its `after`
    secret = {**state, "job_variables": {"env": {"DB_DSN": "postgres://u:p@h/db"}}}
    rc = change("deployment.work/d0001", Action.NOOP, before=secret, after=dict(secret))
    doc = mask_plan_dict(make_plan(rc).to_dict(), mask_keys=["dsn"])
    assert doc["resource_changes"][0]["after"]["job_variables"]["env"]["DB_DSN"] == MASK
    assert "DB_DSN" in asked


_KEYS = st.sampled_from(
    ["name", "value", "env", "apiKey", "DB_PASSWORD", "monkey", "Authorization", "dsn", "x", "It's"]
)
_TREES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["dsn", "API_TOKEN", "a b"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=12,
)


@given(tree=_TREES, mask_keys=st.lists(st.sampled_from(["dsn", "My Field", 'q"k', "é", "it's"])))
def test_skipping_the_walk_never_changes_what_is_masked(tree: object, mask_keys: list[str]) -> None:
    """`mask_tree` (which skips trees without secret words) masks and collects exactly what
    the full walk does."""
    fast, full = Masker(mask_keys), Masker(mask_keys)
    assert fast.mask_tree(tree) == full._mask(tree)
    assert fast.secrets == full.secrets
