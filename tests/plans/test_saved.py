"""The saved plan file: no secret in clear, keyed fingerprints, mode 0600 from its creation."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from prefect_gitops.errors import ConfigError, ReconcilerError, StalePlanError
from prefect_gitops.plans import saved as savedplan
from prefect_gitops.plans.build import Action, Plan, build_plan
from prefect_gitops.plans.saved import (
    check_saved,
    plan_key,
    render_saved,
    saved_document,
    write_private,
)
from prefect_gitops.render.plan_json import plan_document
from prefect_gitops.state.ownership import Inventory
from prefect_gitops.state.resources import Address, Resource, State
from tests.execution.test_executor import (
    POOL,
    PROJECT,
    deployment_spec,
    desired_state,
    live_state,
    variable,
)

PIN = "4711"  # a low-entropy secret: a plain hash of the state would give it away


def desired(pin: str = PIN, cpu: str = "1") -> State:
    spec = {
        "name": "daily",
        "flow_name": "etl",
        "job_variables": {"env": {"DB_PASSWORD": pin, "CPU": cpu}},
    }
    return State.of([Resource(Address.deployment("etl", "daily"), spec)])


def make(state: State, live: State | None = None) -> Plan:
    return build_plan(state, live or State(), project="p", api_url="http://127.0.0.1:1/api")


def saved_text(plan: Plan, key: bytes) -> str:
    return render_saved(saved_document(plan_document(plan), plan, key))


def test_saved_plan_holds_no_secret_and_no_plain_fingerprint() -> None:
    plan = make(desired())
    text = saved_text(plan, b"k" * 32)
    assert PIN not in text
    doc = json.loads(text)
    # Neither the plan's plain fingerprints nor any hash of the state one could recompute.
    plain = {plan.desired_fingerprint, plan.live_fingerprint}
    plain |= {hashlib.sha256(f.encode()).hexdigest() for f in plain}
    assert not plain & set(text.split('"'))
    assert doc["desired_fingerprint"].startswith("hmac-sha256:")
    # A fresh salt per file: the same plan saved twice has different fingerprints.
    again = json.loads(saved_text(plan, b"k" * 32))
    assert again["desired_fingerprint"] != doc["desired_fingerprint"]
    assert again["fingerprint_salt"] != doc["fingerprint_salt"]


def test_guessing_the_secret_needs_the_key() -> None:
    """Everything but the PIN is in the file, the salt too: trying every PIN against the
    fingerprint with the salt alone (no key, or a plain salted hash) confirms none of them."""
    doc = json.loads(saved_text(make(desired()), b"k" * 32))
    salt, target = doc["fingerprint_salt"], doc["desired_fingerprint"]
    for n in range(10_000):
        fingerprint = desired(f"{n:04d}").fingerprint()
        salted = hashlib.sha256(f"{salt}\n{fingerprint}".encode()).hexdigest()
        assert target not in (savedplan.keyed(b"", salt, fingerprint), "hmac-sha256:" + salted)


def test_check_saved_accepts_the_same_plan_and_refuses_others() -> None:
    key = b"k" * 32
    plan = make(desired())
    doc: dict[str, Any] = json.loads(saved_text(plan, key))
    fresh = make(desired())
    check_saved(doc, fresh, plan_document(fresh), key)

    with pytest.raises(StalePlanError, match="another plan key"):
        check_saved(doc, fresh, plan_document(fresh), b"x" * 32)
    changed = make(desired(pin="1234"))  # only the masked secret differs
    with pytest.raises(StalePlanError, match="repository changed"):
        check_saved(doc, changed, plan_document(changed), key)
    moved = make(desired(), live=desired(cpu="2"))
    with pytest.raises(StalePlanError, match="server changed"):
        check_saved(doc, moved, plan_document(moved), key)
    other = dataclasses.replace(fresh, resource_changes=())
    with pytest.raises(StalePlanError, match="changes planned now differ"):
        check_saved(doc, other, plan_document(other), key)
    old_format = {**doc, "live_fingerprint": plan.live_fingerprint}
    with pytest.raises(ReconcilerError, match="no keyed fingerprints"):
        check_saved(old_format, fresh, plan_document(fresh), key)


def test_check_saved_refuses_a_file_whose_prune_flag_was_turned_on() -> None:
    """apply takes `prune` from the file and plans again with it: a plan saved without prune,
    edited to `prune: true` with the deletes that implies, plans again the same; the keyed
    digest of the whole file is what refuses it."""
    key = b"k" * 32
    owned = Resource(Address.variable("stale"), {"name": "stale", "value": 1, "tags": []})
    repo = desired()
    live = State.of([*(repo[a] for a in repo), owned])
    inventory = Inventory("p", {str(owned.address): "x"})
    url = "http://127.0.0.1:1/api"
    saved_plan = build_plan(repo, live, project="p", inventory=inventory, api_url=url)
    pruning = build_plan(repo, live, project="p", inventory=inventory, api_url=url, prune=True)
    assert [rc.address for rc in pruning.changes if rc.action is Action.DELETE] == [
        str(owned.address)
    ]
    doc: dict[str, Any] = json.loads(saved_text(saved_plan, key))
    edited = {**doc, "prune": True, "resource_changes": plan_document(pruning)["resource_changes"]}
    with pytest.raises(StalePlanError, match="file was edited"):
        check_saved(edited, pruning, plan_document(pruning), key)
    with pytest.raises(StalePlanError, match="file was edited"):
        check_saved({**doc, "environment": "prod"}, saved_plan, plan_document(saved_plan), key)
    check_saved(doc, saved_plan, plan_document(saved_plan), key)


def test_write_private_is_0600_from_the_start_and_atomic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "plan.json"
    target.write_text("old")
    target.chmod(0o644)
    modes: list[int] = []
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        modes.append(stat.S_IMODE(os.stat(src).st_mode))  # the temporary, still unpublished
        assert target.read_text() == "old"  # the target is whole until the rename
        real_replace(src, dst)

    monkeypatch.setattr(savedplan.os, "replace", replace)
    old_umask = os.umask(0)
    try:
        write_private(target, "new\n")
    finally:
        os.umask(old_umask)
    assert modes == [0o600]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]


def test_write_private_leaves_nothing_behind_on_failure(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_private(tmp_path / "missing-dir" / "plan.json", "x")
    assert list(tmp_path.iterdir()) == []


def test_plan_key_from_the_environment_or_this_machine(tmp_path: Path) -> None:
    assert plan_key({"PREFECT_GITOPS_PLAN_KEY": "shared-ci-secret"}) == b"shared-ci-secret"
    environ = {"PREFECT_GITOPS_HOME": str(tmp_path / "home")}
    first = plan_key(environ)
    assert len(first) == 32 and plan_key(environ) == first
    path = tmp_path / "home" / "plan.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["plan.key"]
    path.write_text("not hex")
    with pytest.raises(ConfigError, match="cannot read the plan key"):
        plan_key(environ)


def saved_doc(plan: Plan, key: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(saved_text(plan, key))
    return doc


def test_an_edited_saved_plan_is_refused() -> None:
    """`apply plan.json` re-checks ownership and the prune flag of every change: the saved
    plan must be what planning gives now, not only match the fingerprints."""
    key = b"k" * 32
    stranger = variable("someone_elses")
    live = State({**live_state(), stranger.address: stranger})
    desired_now = desired_state()
    saved = build_plan(desired_now, live, project=PROJECT, prune=False)
    doc = saved_doc(saved, key)
    check_saved(doc, saved, plan_document(saved), key)
    doc["prune"] = True
    doc["resource_changes"].append(
        {"address": "variable.someone_elses", "type": "variable", "name": "someone_elses",
         "actions": ["delete"], "before": dict(stranger.spec), "after": None,
         "changed_fields": [], "reason": "delete_because_not_in_config"}
    )  # fmt: skip
    # apply plans again with the file's prune flag; the fingerprints alone do not notice.
    fresh = build_plan(desired_now, live, project=PROJECT, prune=doc["prune"])
    with pytest.raises(StalePlanError, match=r"variable\.someone_elses"):
        check_saved(doc, fresh, plan_document(fresh), key)
    # A delete of an owned object with the prune flag turned off in the file: refused too.
    inventory = Inventory(PROJECT, {str(POOL): "x"})
    pruning = build_plan(State(), live_state(), project=PROJECT, inventory=inventory, prune=True)
    flipped = {**saved_doc(pruning, key), "prune": False}
    now = build_plan(State(), live_state(), project=PROJECT, inventory=inventory, prune=False)
    with pytest.raises(StalePlanError, match=r"work_pool\.pool"):
        check_saved(flipped, now, plan_document(now), key)
    # A renamed target under an unchanged address is an edit as well.
    fresh = build_plan(desired_state(deployment_spec(tags=["b"])), live_state(), project=PROJECT)
    doc = saved_doc(fresh, key)
    doc["resource_changes"][-1]["name"] = "etl/other"
    with pytest.raises(StalePlanError, match=r"deployment\.etl/daily"):
        check_saved(doc, fresh, plan_document(fresh), key)


def test_a_plan_saved_for_another_server_is_refused() -> None:
    key = b"k" * 32
    doc = saved_doc(make(desired()), key)
    elsewhere = build_plan(desired(), State(), project="p", api_url="http://127.0.0.1:2/api")
    with pytest.raises(StalePlanError, match=r"made for http://127\.0\.0\.1:1/api, not "):
        check_saved(doc, elsewhere, plan_document(elsewhere), key)


def test_write_private_never_replaces_a_device_fifo_or_folder(tmp_path: Path) -> None:
    """`plan --out /dev/null` renamed the plan over /dev/null itself (as root): the device was
    gone, replaced by a 0600 regular file. A FIFO or a folder is refused the same way."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    for target in (fifo, folder):
        with pytest.raises(ReconcilerError, match="not a regular file"):
            write_private(target, "plan\n")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and folder.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "folder"]
    # A symlink is replaced itself (never followed): its target stays as it was.
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    (tmp_path / "link.json").symlink_to(target)
    write_private(tmp_path / "link.json", "plan\n")
    assert target.read_text() == "keep" and (tmp_path / "link.json").read_text() == "plan\n"
