"""The apply report as text, and the progress lines `apply` shows while it runs."""

from __future__ import annotations

from collections.abc import Collection

from ..execution.results import ApplyResult, Outcome
from ..plans.build import Action
from .escaping import visible
from .masking import mask_message

_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.DELETE: "-",
    Action.REPLACE: "-/+",
    Action.NOOP: " ",
}
_DONE = {
    Action.CREATE: "created",
    Action.UPDATE: "updated",
    Action.DELETE: "destroyed",
    Action.REPLACE: "replaced",
    Action.NOOP: "unchanged",
}
_COLORS = {"applied": "32", "failed": "31", "skipped": "33"}
BAR_WIDTH = 30


def mask_text(text: str, mask_values: Collection[str]) -> str:
    """A message (the server's reason for a failure) with the plan's secrets masked, as every
    other output masks them, and its control characters made visible."""
    return visible(mask_message(text, mask_values))


def _paint(text: str, status: str, use_color: bool) -> str:
    return f"\x1b[{_COLORS[status]}m{text}\x1b[0m" if use_color else text


def outcome_line(
    outcome: Outcome, *, use_color: bool = False, mask_values: Collection[str] = ()
) -> str:
    """`+ deployment.etl/daily: created`, `! ...: failed: <the server's reason>`."""
    address = visible(outcome.address)
    if outcome.status == "applied":
        head = f"{_SYMBOLS[outcome.action]} {address}: {_DONE[outcome.action]}"
    elif outcome.status == "failed":
        head = f"! {address}: {outcome.action.value} failed"
    else:
        head = f"  {address}: {outcome.action.value} skipped"
    if outcome.detail:
        head += f" ({mask_text(outcome.detail, mask_values)})"
    return _paint(head, outcome.status, use_color)


def progress_line(
    outcome: Outcome, done: int, total: int, *, mask_values: Collection[str] = ()
) -> str:
    """One line per settled change (what `apply` prints when not on a terminal)."""
    width = len(str(total))
    return f"[{done:>{width}}/{total}] {outcome_line(outcome, mask_values=mask_values)}"


def progress_bar(done: int, total: int, failed: int = 0) -> str:
    """A one-line bar for terminals, redrawn in place: `[#####.....] 120/200 (2 failed)`."""
    filled = BAR_WIDTH * done // total if total else BAR_WIDTH
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    tail = f" ({failed} failed)" if failed else ""
    return f"Applying [{bar}] {done}/{total}{tail}"


def summary_line(result: ApplyResult) -> str:
    counts = result.summary()
    done = f"{counts['added']} added, {counts['changed']} changed, {counts['destroyed']} destroyed"
    if result.ok:
        return f"Apply complete! Resources: {done}."
    return (
        f"Apply failed: {counts['failed']} failed, {counts['skipped']} skipped; {done}. "
        "Fix the cause and run apply again: it continues from what the server now holds."
    )


def render_apply_text(
    result: ApplyResult,
    *,
    use_color: bool = False,
    mask_values: Collection[str] = (),
    with_outcomes: bool = True,
) -> str:
    """The report: every change that did not apply with its reason (and, with
    `with_outcomes`, the applied ones too), then the summary and the request counts."""
    lines = []
    for outcome in result.outcomes:
        if with_outcomes or outcome.status != "applied":
            lines.append(outcome_line(outcome, use_color=use_color, mask_values=mask_values))
    if lines:
        lines.append("")
    lines.append(summary_line(result))
    lines.append(
        f"{result.requests} requests ({result.writes} writes) in {result.seconds:.2f} s"
        + ("; ownership inventory updated" if result.inventory_written else "")
    )
    return "\n".join(lines) + "\n"
