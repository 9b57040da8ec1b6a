"""A daily report built from tasks, with no dependencies beyond Prefect."""

from __future__ import annotations

from datetime import date, timedelta

from prefect import flow, task


@task
def count_events(day: date) -> int:
    """Stand-in for a warehouse query: a deterministic number per day."""
    return (day.toordinal() * 7919) % 1000


@task
def render(team: str, counts: dict[str, int]) -> str:
    lines = [f"Report for {team}"]
    lines += [f"  {day}: {n} events" for day, n in sorted(counts.items())]
    return "\n".join(lines)


@flow(log_prints=True)
def daily_report(team: str, days: int = 1) -> str:
    """Summarise the last few days of events for a team.

    Args:
        team: The team the report is for.
        days: How many days back to look.
    """
    today = date.today()
    counts = {
        (today - timedelta(days=i)).isoformat(): count_events(today - timedelta(days=i))
        for i in range(1, days + 1)
    }
    report = render(team, counts)
    print(report)
    return report
