from prefect import flow


@flow(name="rw-nested-weekly-report")
def build_weekly_report(weeks: int = 1) -> str:
    return f"report for {weeks} week(s)"
