"""Field-level differences between a live and a desired resource: the whole comparison policy.

Policy, in one place:

- Both sides are normalized resources (`desired.py`, `live.py`): server-managed fields never
  reach this module.
- `align()` makes the live state comparable where the server legitimately stores something
  else than what was sent: queue priorities are compared by **order** (the server renumbers
  them to stay unique), unslugged schedules written by `prefect deploy` are matched to the
  generated slugs, an interval whose YAML sets no `anchor_date` ignores the server's anchor,
  and a deployment whose YAML sets no `version` accepts the flow file's md5 and null alike.
- Schedules are compared keyed by slug (`schedules[daily].schedule.cron`), not by position.
- Lists of plain values (`tags`, `networks`, ...) change as a whole. A deployment's `tags` are
  written in the file's order, duplicates included (as `prefect deploy` does), but a pure
  reordering on the server (the same tags, the same counts) is not a change: Prefect gives
  tag order no meaning.
- Integers and floats compare by value (`3600` equals `3600.0`).
- Desired values holding a placeholder that `prefect deploy` resolves at deploy time (a block,
  an undeclared variable, a build-step output) are opaque: never reported.
- Fields a resource does not manage (a queue without `priority`, a deployment without
  `schedules`) and the root config's `ignore` rules are skipped.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..repo.models import IgnoreRule
from .resources import Address, FieldChange, Resource, State, canonical_json, join_path

if TYPE_CHECKING:
    from deepdiff import DeepDiff

_REPORTS = (
    "values_changed",
    "type_changes",
    "dictionary_item_added",
    "dictionary_item_removed",
    "iterable_item_added",
    "iterable_item_removed",
)


# -- aligning live with desired --------------------------------------------------------------


def align(desired: State, live: State) -> State:
    """A copy of `live` made comparable with `desired` (see the module docstring)."""
    out: dict[Address, Resource] = dict(live)
    for address, res in live.items():
        want = desired.get(address)
        if want is None:
            continue
        if address.type == "deployment":
            out[address] = _align_version(want, _align_tags(want, _align_schedules(want, res)))
    out.update(_align_priorities(desired, live))
    return State(out)


def _align_version(want: Resource, have: Resource) -> Resource:
    """A YAML without `version`: `prefect deploy` writes the file's md5 where it can import the
    flow and null where it cannot (static fallback); either is what it would write."""
    alternatives = want.meta.get("version_alternatives") or ()
    if have.spec.get("version") == want.spec.get("version") or (
        have.spec.get("version") not in alternatives
    ):
        return have
    return Resource(have.address, {**have.spec, "version": want.spec.get("version")}, have.meta)


def _align_tags(want: Resource, have: Resource) -> Resource:
    wanted, had = want.spec.get("tags"), have.spec.get("tags")
    if not (isinstance(wanted, list) and isinstance(had, list)) or wanted == had:
        return have
    if sorted(map(str, wanted)) != sorted(map(str, had)):
        return have
    return Resource(have.address, {**have.spec, "tags": list(wanted)}, have.meta)


def _align_priorities(desired: State, live: State) -> dict[Address, Resource]:
    by_pool: dict[str, list[Address]] = {}
    for res in desired.of_type("work_queue"):
        if res.spec.get("priority") is not None and res.address in live:
            by_pool.setdefault(str(res.spec["pool"]), []).append(res.address)
    changed: dict[Address, Resource] = {}
    for addresses in by_pool.values():
        want = sorted(addresses, key=lambda a: (desired[a].spec["priority"], a.name))
        have = sorted(addresses, key=lambda a: (_int(live[a].spec.get("priority")), a.name))
        if want != have:
            continue  # the order differs: report the raw numbers that differ
        for address in addresses:
            res = live[address]
            spec = dict(res.spec)
            spec["priority"] = desired[address].spec["priority"]
            changed[address] = Resource(
                address, spec, {**res.meta, "stored_priority": res.spec.get("priority")}
            )
    return changed


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 1 << 30


def _align_schedules(want: Resource, have: Resource) -> Resource:
    if not isinstance(have.spec.get("schedules"), list):
        return have
    desired_items = list(want.spec.get("schedules") or [])
    live_items = [dict(s) for s in have.spec.get("schedules") or []]
    generated = [s for s in desired_items if s["slug"] in set(want.meta.get("generated_slugs", ()))]
    unslugged = [s for s in live_items if not s.get("slug")]
    assigned: dict[str, Any] = {}
    if generated and unslugged:
        free = list(generated)
        # First the exact matches by content, then the rest by position.
        for item in list(unslugged):
            match = next((g for g in free if _same_schedule(g, item)), None)
            if match is not None:
                assigned[match["slug"]] = item
                free.remove(match)
                unslugged.remove(item)
        for item, match in zip(list(unslugged), list(free), strict=False):
            assigned[match["slug"]] = item
            unslugged.remove(item)
    ordinal = {id(s): i for i, s in enumerate(x for x in live_items if not x.get("slug"))}
    raw_ids = list(have.meta.get("unslugged_ids") or [])
    schedule_ids = dict(have.meta.get("schedule_ids") or {})
    for slug, item in assigned.items():
        n = ordinal[id(item)]
        schedule_ids[slug] = raw_ids[n] if n < len(raw_ids) else None
        item["slug"] = slug
    for item in live_items:
        if not item.get("slug"):
            n = ordinal[id(item)]
            item["slug"] = f"#{n + 1}"
            schedule_ids[item["slug"]] = raw_ids[n] if n < len(raw_ids) else None
    anchorless = {
        s["slug"]
        for s in desired_items
        if "interval" in s["schedule"] and s["schedule"].get("anchor_date") is None
    }
    for item in live_items:
        if item["slug"] in anchorless and "interval" in item["schedule"]:
            item["schedule"] = {**item["schedule"], "anchor_date": None}
    spec = dict(have.spec)
    spec["schedules"] = sorted(live_items, key=lambda s: str(s["slug"]))
    # `schedule_ids` now maps every compared key to the server's schedule id; `assigned_slugs`
    # lists the server schedules that have no slug yet (apply should give them one).
    meta = {**have.meta, "schedule_ids": schedule_ids, "assigned_slugs": sorted(assigned)}
    return Resource(have.address, spec, meta)


def _same_schedule(want: Mapping[str, Any], have: Mapping[str, Any]) -> bool:
    keys = ("schedule", "active", "parameters", "max_scheduled_runs")
    a = {k: want.get(k) for k in keys}
    b = {k: have.get(k) for k in keys}
    sa, sb = a["schedule"], b["schedule"]
    anchorless = isinstance(sa, Mapping) and "interval" in sa and sa.get("anchor_date") is None
    if anchorless and isinstance(sb, Mapping):
        b["schedule"] = {**sb, "anchor_date": None}  # the server chose it
    return not _deepdiff()(a, b, ignore_numeric_type_changes=True)


# -- field-level differences -----------------------------------------------------------------


def _comparable(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    if spec is None:
        return {}
    out = dict(spec)
    if isinstance(out.get("schedules"), list):
        out["schedules"] = {str(s.get("slug")): s for s in out["schedules"]}
    return out


def diff_specs(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    *,
    skip: Iterable[str] = (),
) -> list[FieldChange]:
    """Field changes from `before` (live) to `after` (desired), minus paths under `skip`
    (glob patterns; `[x]` and `.x` are interchangeable)."""
    left, right = _comparable(before), _comparable(after)
    # The common case, without deepdiff's cost: equal as Python data (C-speed, no text; its
    # only looseness, 1 == 1.0 == True, deepdiff ignores too), else as canonical JSON.
    if left == right or canonical_json(left) == canonical_json(right):
        return []
    tree = _deepdiff()(left, right, view="tree", ignore_numeric_type_changes=True, verbose_level=2)
    changes: dict[str, FieldChange] = {}
    patterns = [_dotted(p) for p in skip]
    for report in _REPORTS:
        for level in tree.get(report, ()):
            parts = _collapse(level.path(output_format="list"), left, right)
            path = _format(parts)
            if path in changes or _skipped(path, patterns):
                continue
            b, has_b = _get(left, parts)
            a, has_a = _get(right, parts)
            if has_b and has_a and _equal(b, a):
                continue
            kind = "changed" if has_b and has_a else ("added" if has_a else "removed")
            changes[path] = FieldChange(path, b if has_b else None, a if has_a else None, kind)  # type: ignore[arg-type]
    return [changes[p] for p in sorted(changes)]


def _deepdiff() -> type[DeepDiff]:
    # Imported on the first difference: a plan with none (the common no-op) never pays it.
    from deepdiff import DeepDiff

    return DeepDiff


def _equal(a: Any, b: Any) -> bool:
    return not _deepdiff()(a, b, ignore_numeric_type_changes=True)


def _collapse(parts: Sequence[Any], left: Any, right: Any) -> list[Any]:
    """Cut the path at a list of plain values (the list changes as a whole)."""
    out: list[Any] = []
    for part in parts:
        if isinstance(part, int):
            lb, _ = _get(left, out)
            rb, _ = _get(right, out)
            if _plain_list(lb) or _plain_list(rb):
                return out
        out.append(part)
    return out


def _plain_list(value: Any) -> bool:
    return isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value)


def _get(data: Any, parts: Sequence[Any]) -> tuple[Any, bool]:
    current = data
    for part in parts:
        if (isinstance(current, Mapping) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        ):
            current = current[part]
        else:
            return None, False
    return current, True


def _format(parts: Sequence[Any]) -> str:
    formatted: list[str | int] = []
    for i, part in enumerate(parts):
        if i == 1 and parts[0] == "schedules":
            formatted.append(f"[{part}]")
        elif isinstance(part, int):
            formatted.append(part)
        else:
            formatted.append(str(part))
    return join_path(formatted)


def _dotted(path: str) -> str:
    return path.replace("[", ".").replace("]", "")


def _skipped(path: str, patterns: Sequence[str]) -> bool:
    dotted = _dotted(path)
    pieces = dotted.split(".")
    for end in range(1, len(pieces) + 1):
        prefix = ".".join(pieces[:end])
        if any(fnmatch.fnmatchcase(prefix, p) for p in patterns):
            return True
    return False


def ignored_fields(address: Address, rules: Iterable[IgnoreRule]) -> list[str]:
    """Field patterns the root config's `ignore` rules give for one resource."""
    names = (str(address), f"{address.type}/{address.name}", address.type)
    fields: list[str] = []
    for rule in rules:
        if any(fnmatch.fnmatchcase(n, rule.resource) for n in names) or rule.resource == "*":
            fields.extend(rule.fields)
    return fields


def resource_changes(
    live: Resource | None, desired: Resource, *, ignore: Iterable[IgnoreRule] = ()
) -> list[FieldChange]:
    """The changes that would turn `live` into `desired`, under the whole policy."""
    skip = [
        *desired.meta.get("unmanaged", ()),
        *desired.meta.get("opaque", ()),
        *ignored_fields(desired.address, ignore),
    ]
    return diff_specs(live.spec if live is not None else None, desired.spec, skip=skip)
