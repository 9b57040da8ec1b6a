"""Deployment schedules exactly as `prefect deploy` 3.9.1 reads, sends and the server stores them.

Three jobs, all pure:

- `check_schedule(item)`: every reason `prefect deploy` would refuse one `schedules:` item
  (it validates each item with `RawScheduleConfig`, then builds a Cron/Interval/RRule schedule
  and a `DeploymentScheduleCreate`; a failure at the first step skips the whole file, at the
  second it aborts the deploy).
- `to_server_schedule(item)`: the `DeploymentScheduleCreate` body it would send.
- `normalize_server_schedule(body)`: one canonical form for what we send and what the server
  returns, for diffing.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import dateutil.parser
import dateutil.rrule
import dateutil.tz
import pydantic
from croniter import croniter

from .templating import PLACEHOLDER_PATTERN

# RawScheduleConfig (prefect/cli/deploy/_models.py) forbids every other key.
ITEM_KEYS = frozenset(
    {"cron", "interval", "rrule", "timezone", "anchor_date", "active", "parameters", "slug",
     "replaces", "day_or"}
)  # fmt: skip
SELECTORS = ("cron", "interval", "rrule")
MAX_RRULE_LENGTH = 6500
DEFAULT_RRULE_ANCHOR = datetime.datetime(2020, 1, 1)
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_TIMEDELTA: pydantic.TypeAdapter[datetime.timedelta] = pydantic.TypeAdapter(datetime.timedelta)

Severity = Literal["error", "warning", "info"]


ProblemKind = Literal[
    "shape", "unknown_key", "cron", "interval", "rrule", "timezone", "anchor_date", "value",
    "ignored",
]  # fmt: skip


@dataclass(frozen=True)
class ScheduleProblem:
    key: str | None  # the offending key of the item; None for the item as a whole
    message: str
    severity: Severity = "error"
    kind: ProblemKind = "value"


class ScheduleError(ValueError):
    """`to_server_schedule` was given an item `prefect deploy` would refuse."""


def is_templated(value: Any) -> bool:
    """A string holding a Prefect placeholder, resolved only when `prefect deploy` runs."""
    return isinstance(value, str) and bool(PLACEHOLDER_PATTERN.search(value))


@functools.lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    from zoneinfo import available_timezones

    return frozenset(available_timezones())


def is_timezone(name: str) -> bool:
    return name in _timezones()


def parse_bool(value: Any) -> bool | None:
    """pydantic's lax bool parsing (what `DeploymentScheduleCreate.active` accepts), else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    return None


@functools.lru_cache(maxsize=1024)  # schedules repeat the same few expressions
def cron_problem(cron: str) -> str | None:
    """Why the server's `validate_cron_string` refuses `cron`, or None."""
    if not croniter.is_valid(cron):
        return f"'{cron}' is not a valid cron expression"
    fields = cron.split()
    if any(part.casefold() in ("r", "h") for part in fields):
        return f"'{cron}': random (R) and hashed (H) cron fields are not supported by Prefect"
    if len(fields) >= 3 and "w" in fields[2].casefold():
        # The server validates with the croniter vendored in Prefect 3.9.1, which predates
        # the nearest-weekday `W` day-of-month form that newer croniter releases accept.
        return (
            f"'{cron}': the nearest-weekday form (`W` in the day-of-month field) is refused "
            "by the Prefect server's cron validation"
        )
    return None


def parse_interval(value: Any) -> datetime.timedelta | None:
    """As `RawScheduleConfig.interval`: seconds, `HH:MM:SS`, ISO 8601 duration..."""
    try:
        return _TIMEDELTA.validate_python(value)
    except pydantic.ValidationError:
        return None


def parse_anchor(value: Any) -> datetime.datetime | None:
    """An `anchor_date` as Prefect parses it; naive values are UTC."""
    parsed: datetime.datetime
    if isinstance(value, datetime.datetime):
        parsed = value
    elif isinstance(value, datetime.date):
        parsed = datetime.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = dateutil.parser.isoparse(value.strip())
        except (ValueError, OverflowError):
            return None
    else:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


# What dateutil raises for rules it cannot represent: a field beyond a C long (`BYHOUR=1e20`
# written out), a date past year 9999. The server only catches ValueError: it answers 500.
_RRULE_ERRORS = (ValueError, TypeError, OverflowError)


def rrule_problem(rrule: str) -> ScheduleProblem | None:
    """Why the server refuses `rrule` (an error), or why Prefect never schedules from it (a
    warning), or None; the rule is parsed once for both."""
    try:
        parsed = dateutil.rrule.rrulestr(rrule, cache=True)
    except _RRULE_ERRORS as exc:
        return ScheduleProblem("rrule", f"'{rrule}' is not a valid RRule: {exc}", kind="rrule")
    stalled = [rule for rule in _rules(parsed) if getattr(rule, "_interval", 1) < 1]
    if any(_high_frequency(rule) for rule in stalled):
        # dateutil takes INTERVAL=0; for SECONDLY/MINUTELY rules `prefect deploy` and the
        # server divide by it when they add a DTSTART (the server answers 500).
        why = f"'{rrule}' is not a valid RRule: a SECONDLY or MINUTELY INTERVAL must be 1 or more"
        return ScheduleProblem("rrule", why, kind="rrule")
    if len(rrule) > MAX_RRULE_LENGTH:
        why = f"the RRule is {len(rrule)} characters long; Prefect's limit is {MAX_RRULE_LENGTH}"
        return ScheduleProblem("rrule", why, kind="rrule")
    if stalled:
        why = f"'{rrule}': an INTERVAL below 1 never advances; no run is ever scheduled"
        return ScheduleProblem("rrule", why, "warning", "rrule")
    return None


def _rules(parsed: Any) -> list[Any]:
    if isinstance(parsed, dateutil.rrule.rruleset):
        return [*getattr(parsed, "_rrule", []), *getattr(parsed, "_exrule", [])]
    return [parsed]


def _high_frequency(rule: Any) -> bool:
    return getattr(rule, "_freq", None) in (dateutil.rrule.SECONDLY, dateutil.rrule.MINUTELY)


def _rrule_json(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return None


_KIND_OF_KEY: dict[str, ProblemKind] = {
    "cron": "cron", "interval": "interval", "rrule": "rrule", "timezone": "timezone",
    "anchor_date": "anchor_date",
}  # fmt: skip


def check_schedule(item: Any) -> list[ScheduleProblem]:
    """Every reason `prefect deploy` 3.9.1 would refuse this `schedules:` item. Remembered
    by the item's repr (exact for YAML's types: a date and its text differ): validation
    and the desired state check each item, and schedules repeat the same few items."""
    key = repr(item)
    found = _CHECKED.get(key)
    if found is None:
        if len(_CHECKED) >= _CHECKED_LIMIT:
            _CHECKED.clear()  # bounded; clearing only costs checking again
        found = _CHECKED[key] = tuple(_check_schedule(item))
    return list(found)


_CHECKED: dict[str, tuple[ScheduleProblem, ...]] = {}
_CHECKED_LIMIT = 4096


def _check_schedule(item: Any) -> list[ScheduleProblem]:
    if not isinstance(item, Mapping):
        return [
            ScheduleProblem(
                None, "a schedule must be a mapping with cron, interval or rrule", kind="shape"
            )
        ]
    given = [k for k in SELECTORS if item.get(k) is not None]
    problems = [*_key_problems(item), *_selector_problems(item, given)]
    problems += _timezone_problems(item.get("timezone"), given)
    problems += _cron_problems(item.get("cron"))
    problems += _interval_problems(item.get("interval"))
    problems += _rrule_item_problems(item.get("rrule"))
    anchor = item.get("anchor_date")
    if anchor is not None and not is_templated(anchor):
        problems.extend(_anchor_problems(item, anchor, given))
    problems += _option_problems(item, given)
    return problems


def _problem(
    key: str | None, message: str, severity: Severity = "error", kind: ProblemKind | None = None
) -> ScheduleProblem:
    if kind is None:
        kind = "ignored" if severity != "error" else _KIND_OF_KEY.get(key or "", "value")
    return ScheduleProblem(key, message, severity, kind)


def _key_problems(item: Mapping[str, Any]) -> list[ScheduleProblem]:
    problems: list[ScheduleProblem] = []
    for key in item:
        if key == "schedule":
            why = (
                "the `schedule: {...}` (DeploymentScheduleCreate) form is refused by prefect "
                "deploy 3.9 ('Unknown schedule type'); put cron/interval/rrule on the item itself"
            )
            problems.append(_problem(key, why, kind="shape"))
        elif key not in ITEM_KEYS:
            why = (
                f"unknown schedule key '{key}': prefect deploy refuses the whole file "
                f"(allowed: {', '.join(sorted(ITEM_KEYS))})"
            )
            problems.append(_problem(key, why, kind="unknown_key"))
    return problems


def _selector_problems(item: Mapping[str, Any], given: list[str]) -> list[ScheduleProblem]:
    if not given and "schedule" not in item:
        why = "a schedule needs exactly one of cron, interval or rrule; it has none"
        return [_problem(None, why, kind="shape")]
    if len(given) > 1:
        why = (
            f"a schedule takes exactly one of cron, interval or rrule; it has {' and '.join(given)}"
        )
        return [_problem(given[1], why, kind="shape")]
    return []


def _timezone_problems(timezone: Any, given: list[str]) -> list[ScheduleProblem]:
    if timezone is None or is_templated(timezone):
        return []
    if not isinstance(timezone, str):
        why = f"timezone must be a string such as 'Europe/Paris', not {timezone!r}"
        return [_problem("timezone", why)]
    if timezone and not is_timezone(timezone):
        why = f"unknown time zone '{timezone}' (use an IANA name such as America/New_York)"
        return [_problem("timezone", why)]
    if not timezone and "rrule" in given:
        return [_problem("timezone", "an rrule schedule needs a non-empty time zone")]
    return []


def _cron_problems(cron: Any) -> list[ScheduleProblem]:
    if cron is None or is_templated(cron):
        return []
    if not isinstance(cron, str):
        return [_problem("cron", f"cron must be a string, not {cron!r}")]
    if not cron.strip():
        return [_problem("cron", "cron is empty")]
    if (why := cron_problem(cron)) is not None:
        return [_problem("cron", why)]
    return []


def _interval_problems(interval: Any) -> list[ScheduleProblem]:
    if interval is None or is_templated(interval):
        return []
    parsed = parse_interval(interval)
    if parsed is None:
        why = f"interval {interval!r} is not seconds, HH:MM:SS or an ISO 8601 duration"
        return [_problem("interval", why)]
    if parsed <= datetime.timedelta(0):
        return [_problem("interval", f"interval must be greater than 0 (got {interval!r})")]
    return []


def _rrule_item_problems(rrule: Any) -> list[ScheduleProblem]:
    if rrule is None or is_templated(rrule):
        return []
    if not isinstance(rrule, str):
        return [_problem("rrule", f"rrule must be a string, not {rrule!r}")]
    decoded = _rrule_json(rrule)
    if decoded is not None:
        return _check_rrule_json(decoded)
    problem = rrule_problem(rrule)
    return [] if problem is None else [problem]


def _option_problems(item: Mapping[str, Any], given: list[str]) -> list[ScheduleProblem]:
    """day_or, active, parameters, slug and replaces: the keys that qualify a schedule."""
    problems: list[ScheduleProblem] = []
    day_or = item.get("day_or")
    if day_or is not None and not is_templated(day_or):
        if parse_bool(day_or) is None:
            problems.append(_problem("day_or", f"day_or must be true or false, not {day_or!r}"))
        elif given and given[0] != "cron":
            why = "day_or only applies to cron schedules; it is ignored here"
            problems.append(_problem("day_or", why, "warning"))
    active = item.get("active")
    if active is not None and not is_templated(active) and parse_bool(active) is None:
        problems.append(_problem("active", f"active must be true or false, not {active!r}"))
    parameters = item.get("parameters")
    if parameters is not None and not isinstance(parameters, Mapping):
        problems.append(_problem("parameters", "schedule parameters must be a mapping"))
    for key in ("slug", "replaces"):
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            problems.append(_problem(key, f"{key} must be a string, not {value!r}"))
    return problems


def _anchor_problems(
    item: Mapping[str, Any], anchor: Any, given: list[str]
) -> list[ScheduleProblem]:
    out: list[ScheduleProblem] = []
    if given and given[0] != "interval":
        out.append(
            ScheduleProblem(
                "anchor_date",
                "anchor_date only applies to interval schedules; it is ignored here",
                "warning",
                "ignored",
            )
        )
    parsed = parse_anchor(anchor)
    if parsed is None:
        why = f"anchor_date {anchor!r} is not an ISO 8601 date or datetime"
        out.append(ScheduleProblem("anchor_date", why, "error", "anchor_date"))
    elif not isinstance(anchor, str) and set(item) - {"interval", "anchor_date", "timezone"}:
        out.append(
            ScheduleProblem(
                "anchor_date",
                "an unquoted anchor_date is read as a YAML timestamp, which prefect "
                "deploy refuses next to other schedule keys; quote it",
                "error",
                "anchor_date",
            )
        )
    elif not _fits_in_utc(parsed):
        why = f"anchor_date {anchor!r} is outside years 1 to 9999 once in UTC; no run is scheduled"
        out.append(ScheduleProblem("anchor_date", why, "warning", "anchor_date"))
    return out


def _fits_in_utc(moment: datetime.datetime) -> bool:
    """Whether Prefect can compute run times from this anchor (it converts it to UTC)."""
    try:
        moment.astimezone(datetime.timezone.utc)
    except OverflowError:
        return False
    return True


def _check_rrule_json(decoded: Any) -> list[ScheduleProblem]:
    if not isinstance(decoded, dict):
        return [
            ScheduleProblem(
                "rrule", 'rrule is JSON but not an object like {"rrule": ...}', kind="rrule"
            )
        ]
    out: list[ScheduleProblem] = []
    for key in decoded:
        if key not in ("rrule", "timezone"):
            out.append(
                ScheduleProblem("rrule", f"the rrule JSON has an unknown key '{key}'", kind="rrule")
            )
    inner = decoded.get("rrule")
    if not isinstance(inner, str):
        out.append(ScheduleProblem("rrule", 'the rrule JSON needs an "rrule" string', kind="rrule"))
    elif (problem := rrule_problem(inner)) is not None:
        out.append(problem)
    tz = decoded.get("timezone")
    if tz is not None and not (isinstance(tz, str) and is_timezone(tz)):
        out.append(
            ScheduleProblem(
                "rrule", f"the rrule JSON names an unknown time zone {tz!r}", kind="timezone"
            )
        )
    return out


# -- what prefect deploy sends ------------------------------------------------------------


def _iso(dt: datetime.datetime) -> str:
    text = dt.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _utc_iso(dt: datetime.datetime) -> str:
    try:
        return _iso(dt.astimezone(datetime.timezone.utc))
    except OverflowError:  # 9999-12-31T23:00-05:00 is past year 9999 in UTC
        return _iso(dt)


def _seconds(delta: datetime.timedelta) -> float:
    return delta.total_seconds()


def normalize_rrule(rrule: str, timezone: str | None, now: datetime.datetime) -> str:
    """Prefect's `normalize_rrule_string`: add a `DTSTART` when the rule has none."""
    if "DTSTART" in rrule.upper():
        return rrule
    try:
        parsed = dateutil.rrule.rrulestr(rrule, dtstart=DEFAULT_RRULE_ANCHOR, cache=False)
    except _RRULE_ERRORS:
        return rrule
    if not isinstance(parsed, dateutil.rrule.rrule):
        return _prepend_dtstart(rrule, DEFAULT_RRULE_ANCHOR)
    period = _high_frequency_period(parsed)
    if period is None:
        return _prepend_dtstart(rrule, DEFAULT_RRULE_ANCHOR)
    tz = (dateutil.tz.gettz(timezone) if timezone else None) or datetime.timezone.utc
    if now.tzinfo is None:
        now = now.replace(tzinfo=datetime.timezone.utc)
    local_now = now.astimezone(tz).replace(tzinfo=None)
    delta = (local_now - DEFAULT_RRULE_ANCHOR).total_seconds()
    if delta <= 0:
        return _prepend_dtstart(rrule, DEFAULT_RRULE_ANCHOR)
    k = int(delta // period)
    try:
        start = DEFAULT_RRULE_ANCHOR + datetime.timedelta(seconds=k * period)
    except OverflowError:
        return _prepend_dtstart(rrule, DEFAULT_RRULE_ANCHOR)
    return _prepend_dtstart(rrule, start)


def _high_frequency_period(parsed: dateutil.rrule.rrule) -> int | None:
    freq = getattr(parsed, "_freq", None)
    interval = getattr(parsed, "_interval", None)
    if freq not in (dateutil.rrule.SECONDLY, dateutil.rrule.MINUTELY) or not interval:
        return None
    if getattr(parsed, "_count", None) is not None:
        return None
    return int((1 if freq == dateutil.rrule.SECONDLY else 60) * interval)


def _prepend_dtstart(rrule: str, dt: datetime.datetime) -> str:
    return f"DTSTART:{dt.strftime('%Y%m%dT%H%M%S')}\n{rrule}"


def to_server_schedule(
    item: Mapping[str, Any] | Any, *, now: datetime.datetime | None = None
) -> dict[str, Any]:
    """The `DeploymentScheduleCreate` body `prefect deploy` 3.9.1 sends for one item.

    Accepts the raw mapping or a `ScheduleConfig`. Templated values must be resolved first.
    Raises `ScheduleError` for an item `check_schedule` reports errors for.
    """
    raw: Mapping[str, Any]
    if isinstance(item, pydantic.BaseModel):
        raw = item.model_dump(exclude_unset=True)
    else:
        raw = item
    errors = [p for p in check_schedule(raw) if p.severity == "error"]
    if errors:
        raise ScheduleError(errors[0].message)
    templated = sorted(str(key) for key, value in raw.items() if is_templated(value))
    if templated:  # check_schedule leaves these to deploy time; by now they must be resolved
        raise ScheduleError(f"`{templated[0]}` still holds an unresolved placeholder")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    timezone = raw.get("timezone")
    schedule: dict[str, Any]
    if raw.get("cron"):
        schedule = {"cron": raw["cron"]}
        if timezone is not None:
            schedule["timezone"] = timezone
        if raw.get("day_or") is not None:
            schedule["day_or"] = parse_bool(raw["day_or"])
    elif raw.get("interval") is not None:
        delta = parse_interval(raw["interval"])
        assert delta is not None
        schedule = {"interval": _seconds(delta)}
        anchor = raw.get("anchor_date")
        if anchor:
            parsed = parse_anchor(anchor)
            assert parsed is not None
            schedule["anchor_date"] = _iso(parsed)
        schedule["timezone"] = timezone if timezone is not None else _anchor_timezone(anchor)
    else:
        text = raw["rrule"]
        decoded = _rrule_json(text)
        if isinstance(decoded, dict):
            text = decoded["rrule"]
            tz = timezone or decoded.get("timezone") or "UTC"
        else:
            tz = timezone if timezone is not None else "UTC"
        schedule = {"rrule": normalize_rrule(text, tz, now), "timezone": tz}
    body: dict[str, Any] = {"schedule": schedule}
    if raw.get("active") is not None:
        body["active"] = parse_bool(raw["active"])
    if raw.get("parameters"):
        body["parameters"] = dict(raw["parameters"])
    if raw.get("slug"):
        body["slug"] = raw["slug"]
    if raw.get("replaces"):
        body["replaces"] = raw["replaces"]
    return body


def _anchor_timezone(anchor: Any) -> str:
    # Prefect's `default_timezone` infers the zone from the anchor: a named IANA zone is
    # kept; ISO strings only carry offsets, which become "UTC".
    parsed = parse_anchor(anchor) if anchor else None
    key = getattr(parsed.tzinfo, "key", None) if parsed else None
    return key if isinstance(key, str) and is_timezone(key) else "UTC"


# -- one canonical form for diffing ---------------------------------------------------------


def normalize_server_schedule(
    body: Mapping[str, Any], *, ignore_anchor: bool = False
) -> dict[str, Any]:
    """Canonical form of a schedule we send or the server returns, for comparison.

    Server-only fields (id, created, deployment_id...) and `replaces` are dropped; defaults
    are filled in (`active` true, `parameters` {}, `day_or` true, cron `timezone` null,
    interval and rrule `timezone` "UTC"); intervals are float seconds; anchors are UTC;
    rrules get the `DTSTART` Prefect adds, and the `DTSTART` of a high-frequency rule
    (SECONDLY/MINUTELY, no COUNT) is reduced to its phase so that the server's "recent
    anchor" and ours compare equal. With `ignore_anchor`, the interval anchor is dropped
    (an anchor the config does not set is chosen by the server at upsert time).
    """
    schedule = body.get("schedule") or {}
    canon: dict[str, Any]
    if schedule.get("cron") is not None:
        day_or = schedule.get("day_or")
        canon = {
            "cron": schedule["cron"],
            "timezone": schedule.get("timezone") or None,
            "day_or": True if day_or is None else bool(day_or),
        }
    elif schedule.get("interval") is not None:
        interval = schedule["interval"]
        delta = parse_interval(interval)
        anchor = schedule.get("anchor_date")
        parsed = parse_anchor(anchor) if anchor and not ignore_anchor else None
        canon = {
            "interval": _seconds(delta) if delta is not None else interval,
            "anchor_date": _utc_iso(parsed) if parsed else None,
            "timezone": schedule.get("timezone") or "UTC",
        }
    elif schedule.get("rrule") is not None:
        tz = schedule.get("timezone") or "UTC"
        canon = {"rrule": _canonical_rrule(str(schedule["rrule"]), tz), "timezone": tz}
    else:
        canon = dict(schedule)
    out: dict[str, Any] = {
        "schedule": canon,
        "active": True if body.get("active") is None else bool(body["active"]),
        "parameters": dict(body.get("parameters") or {}),
        "slug": body.get("slug") or None,
        "max_scheduled_runs": body.get("max_scheduled_runs"),
    }
    return out


_DTSTART_LINE = re.compile(r"^DTSTART:(\d{8}T\d{6})\s*$", re.MULTILINE)


def _canonical_rrule(rrule: str, timezone: str) -> str:
    text = normalize_rrule(rrule, timezone, DEFAULT_RRULE_ANCHOR)
    match = _DTSTART_LINE.match(text)
    if match is None:
        return text
    try:
        parsed = dateutil.rrule.rrulestr(text, cache=False)
    except _RRULE_ERRORS:
        return text
    if not isinstance(parsed, dateutil.rrule.rrule):
        return text
    period = _high_frequency_period(parsed)
    if period is None or getattr(parsed, "_until", None) is not None:
        return text
    try:
        start = datetime.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S")
        offset = (start - DEFAULT_RRULE_ANCHOR).total_seconds() % period
        phase = DEFAULT_RRULE_ANCHOR + datetime.timedelta(seconds=offset)
    except _RRULE_ERRORS:
        return text
    return _DTSTART_LINE.sub(f"DTSTART:{phase.strftime('%Y%m%dT%H%M%S')}", text, count=1)
