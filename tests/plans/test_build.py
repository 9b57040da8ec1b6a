from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from prefect_gitops.plans.build import Action, Plan, Reason, build_plan
from prefect_gitops.repo.models import IgnoreRule
from prefect_gitops.state.ownership import Inventory, digest
from prefect_gitops.state.resources import Address, Resource, State

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def pool(name: str, **spec: Any) -> Resource:
    base = {"name": name, "type": "process", "concurrency_limit": None, "is_paused": False}
    return Resource(Address.pool(name), {**base, **spec})


def dep(name: str, pool_name: str = "p", **spec: Any) -> Resource:
    base = {
        "name": name,
        "flow_name": "f",
        "work_pool_name": pool_name,
        "tags": [],
        "paused": False,
    }
    return Resource(Address.deployment("f", name), {**base, **spec})


def plan_of(desired: list[Resource], live: list[Resource], **kw: Any) -> Plan:
    kw.setdefault("project", "proj")
    return build_plan(State.of(desired), State.of(live), now=NOW, **kw)


def by_address(plan: Plan) -> dict[str, Any]:
    return {rc.address: rc for rc in plan.resource_changes}


def test_create_update_noop() -> None:
    plan = plan_of(
        [pool("p", concurrency_limit=4), pool("q"), dep("d")],
        [pool("p", concurrency_limit=2), dep("d")],
    )
    rcs = by_address(plan)
    assert rcs["work_pool.p"].action is Action.UPDATE
    assert rcs["work_pool.p"].reason is Reason.CHANGED
    assert [(c.path, c.before, c.after) for c in rcs["work_pool.p"].changes] == [
        ("concurrency_limit", 2, 4)
    ]
    assert rcs["work_pool.q"].action is Action.CREATE
    assert rcs["work_pool.q"].before is None
    assert rcs["deployment.f/d"].action is Action.NOOP
    assert plan.summary() == {"add": 1, "change": 1, "destroy": 0, "replace": 0, "no_op": 1}
    assert plan.has_changes()
    assert not plan_of([dep("d")], [dep("d")]).has_changes()


def test_pool_type_change_is_a_replace_with_notes() -> None:
    plan = plan_of([pool("p", type="docker")], [pool("p"), dep("a"), dep("b")])
    rc = by_address(plan)["work_pool.p"]
    assert rc.action is Action.REPLACE
    assert rc.reason is Reason.IMMUTABLE_FIELD
    assert rc.action.actions == ["delete", "create"]
    assert any("detaches 2 deployments" in n for n in rc.notes)
    assert plan.summary()["add"] == 1 and plan.summary()["destroy"] == 1


def test_prune_deletes_only_owned_objects() -> None:
    inventory = Inventory("proj", {"work_pool.old": "x"})
    live = [
        pool("old"),
        pool("foreign"),
        dep("gone", labels={}),
        Resource(Address.flow("f"), {"name": "f"}),
    ]
    live[2] = Resource(
        live[2].address, live[2].spec, {"labels": {"prefect-gitops.project": "proj"}}
    )
    plan = plan_of([], live, inventory=inventory, prune=True)
    rcs = by_address(plan)
    assert {a for a, rc in rcs.items() if rc.action is Action.DELETE} == {
        "work_pool.old",
        "deployment.f/gone",
    }
    assert rcs["deployment.f/gone"].reason is Reason.NOT_IN_CONFIG
    # deletes come last, deployments before the pools they sit on
    order = [rc.address for rc in plan.resource_changes]
    assert order.index("deployment.f/gone") < order.index("work_pool.old")
    without = plan_of([], live, inventory=inventory, prune=False)
    assert not without.has_changes()
    assert any("--prune" in n for rc in without.resource_changes for n in rc.notes)


def test_drift_when_the_repository_did_not_change_since_the_last_apply() -> None:
    want = pool("p", concurrency_limit=4)
    recorded = Inventory("proj", {"work_pool.p": digest(want.spec)})
    drifted = by_address(plan_of([want], [pool("p", concurrency_limit=9)], inventory=recorded))[
        "work_pool.p"
    ]
    assert drifted.action is Action.UPDATE and drifted.drifted
    changed_repo = Inventory("proj", {"work_pool.p": "000000000000"})
    rc = by_address(plan_of([want], [pool("p", concurrency_limit=9)], inventory=changed_repo))[
        "work_pool.p"
    ]
    assert rc.action is Action.UPDATE and not rc.drifted


def test_ignore_rules_hide_fields() -> None:
    rules = [IgnoreRule(resource="deployment/*", fields=["paused"])]
    plan = plan_of([dep("d")], [dep("d", paused=True)], ignore=rules)
    assert not plan.has_changes()


def test_adoption_is_explicit() -> None:
    plan = plan_of([pool("p")], [pool("p")], adopt=True)
    rc = by_address(plan)["work_pool.p"]
    assert rc.reason is Reason.ADOPT
    assert rc.action is Action.NOOP


def test_missing_pool_is_noted_on_create() -> None:
    rc = by_address(plan_of([dep("d", pool_name="nowhere")], []))["deployment.f/d"]
    assert any("does not exist" in n for n in rc.notes)


def test_plan_json_round_trip() -> None:
    plan = plan_of(
        [pool("p", type="docker"), dep("d")],
        [pool("p"), dep("d", tags=["x"])],
        api_url="http://h/api",
    )
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["format_version"] == "1"
    assert data["created_at"] == "2026-01-02T03:04:05Z"
    assert data["summary"]["change"] == 1
    assert Plan.from_dict(data) == plan
    with pytest.raises(ValueError):
        Plan.from_dict({**data, "format_version": "99"})


def test_fingerprints_follow_the_states() -> None:
    one = plan_of([pool("p")], [pool("p")])
    two = plan_of([pool("p")], [pool("p", concurrency_limit=1)])
    assert one.desired_fingerprint == two.desired_fingerprint
    assert one.live_fingerprint != two.live_fingerprint


# -- deployment triggers -------------------------------------------------------------------------


def automation(deployment: str, name: str, **spec: Any) -> Resource:
    base = {"name": name, "enabled": True, "trigger": {"type": "event", "expect": ["x"]}}
    return Resource(Address.automation(Address.deployment("f", deployment), name), {**base, **spec})


def managing(resource: Resource, manages: bool = True) -> Resource:
    return Resource(resource.address, resource.spec, {"manages_triggers": manages})


def test_a_changed_trigger_is_exactly_that_change() -> None:
    plan = plan_of(
        [managing(dep("d")), automation("d", "a"), automation("d", "b", enabled=False)],
        [dep("d"), automation("d", "a"), automation("d", "b")],
    )
    changed = [rc for rc in plan.resource_changes if rc.action is not Action.NOOP]
    assert [(rc.address, rc.action) for rc in changed] == [("automation.f/d/b", Action.UPDATE)]
    assert [(c.path, c.before, c.after) for c in changed[0].changes] == [("enabled", True, False)]
    assert plan.resource_changes[-1].type == "automation"  # applied after its deployment


def test_undeclared_automations_follow_their_deployment() -> None:
    live = [dep("d"), automation("d", "old"), dep("gone"), automation("gone", "t")]
    # A `triggers` list is the whole set: the extra one is deleted, no `--prune` needed.
    rcs = by_address(plan_of([managing(dep("d")), dep("gone")], live))
    assert rcs["automation.f/d/old"].action is Action.DELETE
    assert rcs["automation.f/d/old"].reason is Reason.NOT_IN_CONFIG
    assert "automation.f/gone/t" not in rcs
    # No `triggers` key: the server's automations are left alone.
    rcs = by_address(plan_of([managing(dep("d"), False)], live))
    assert "automation.f/d/old" not in rcs and "automation.f/gone/t" not in rcs
    # A pruned deployment takes its automations along; unowned or without prune, nothing.
    owned = Inventory("proj", {"deployment.f/gone": "x"})
    rcs = by_address(plan_of([managing(dep("d"), False)], live, inventory=owned, prune=True))
    assert rcs["deployment.f/gone"].action is rcs["automation.f/gone/t"].action is Action.DELETE
    assert rcs["automation.f/gone/t"].notes == ("deleted with deployment.f/gone",)
    rcs = by_address(plan_of([managing(dep("d"), False)], live, inventory=owned))
    assert "automation.f/gone/t" not in rcs
    rcs = by_address(plan_of([managing(dep("d"), False)], live, prune=True))
    assert "automation.f/gone/t" not in rcs


def test_created_deployments_do_not_rescan_the_live_state(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each created deployment looked through every live deployment for an owned one of the
    # same name (moved to another flow): quadratic when adding thousands to a full server.
    scans: list[int] = []
    of_type = State.of_type

    def counted(self: State, type_: str) -> list[Resource]:
        found = of_type(self, type_)
        scans.append(len(found))
        return found

    monkeypatch.setattr(State, "of_type", counted)
    owned = {"labels": {"prefect-gitops.project": "proj"}}
    per_size: dict[int, int] = {}
    for size in (10, 100):
        live = [pool("p")] + [
            Resource(Address.deployment("old", f"d{i}"), dep(f"d{i}").spec | {"flow_name": "old"},
                     owned)
            for i in range(size)
        ]  # fmt: skip
        desired = [pool("p")] + [dep(f"d{i}") for i in range(size)]
        scans.clear()
        plan = plan_of(desired, live)
        rcs = by_address(plan)
        assert rcs[f"deployment.f/d{size - 1}"].notes == (
            f"the flow changed: replaces deployment.old/d{size - 1}",
        )
        assert rcs[f"deployment.old/d{size - 1}"].action is Action.NOOP
        per_size[size] = sum(scans)
    assert per_size[100] <= 10 * per_size[10] + 10  # linear: 10x, not 100x
