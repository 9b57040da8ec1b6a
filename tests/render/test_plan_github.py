from __future__ import annotations

from prefect_gitops.plans.build import Action, Reason
from prefect_gitops.render.plan_github import render_plan_github
from tests.render.factories import (
    INJECTED,
    change,
    command_lines,
    deployment_create,
    deployment_delete,
    flow_noop,
    injected_update,
    make_plan,
    pool_replace,
    pool_update,
    queue_drift,
)


def test_no_changes() -> None:
    assert render_plan_github(make_plan(flow_noop())) == (
        "::notice title=prefect-gitops plan::No changes. Live state matches the repository.\n"
    )


def test_a_notice_per_changed_resource_after_the_summary() -> None:
    plan = make_plan(
        pool_update(),
        deployment_create(),
        pool_replace(),
        queue_drift(),
        deployment_delete(),
        flow_noop(),
        environment="prod",
    )
    assert render_plan_github(plan) == (
        "::notice title=prefect-gitops plan (prod)::Plan: 2 to add, 2 to change, 2 to destroy.\n"
        "::notice title=work_pool.above-ground::work_pool.above-ground will be updated"
        " in-place: base_job_template, concurrency_limit\n"
        "::notice title=deployment.etl/daily::deployment.etl/daily will be created\n"
        "::notice title=work_pool.gpu::work_pool.gpu must be replaced (because pool type is"
        " immutable; replacing detaches 3 deployments): type\n"
        "::notice title=work_queue.above-ground/critical::work_queue.above-ground/critical will"
        " be updated in-place (changed outside git): priority\n"
        "::notice title=deployment.etl/old::deployment.etl/old will be destroyed (not in the"
        " repository; owned by this project)\n"
    )


def test_names_and_notes_are_escaped() -> None:
    rc = change(
        "variable.a:b,c",
        Action.UPDATE,
        before={},
        after={},
        fields=(("value", 1, 2, "changed"),),
        reason=Reason.CHANGED,
        notes=("50% done\nnext line",),
    )
    assert render_plan_github(make_plan(rc)).splitlines()[1] == (
        "::notice title=variable.a%3Ab%2Cc::variable.a:b,c will be updated in-place"
        " (50%25 done%0Anext line): value"
    )


def test_user_text_is_escaped_in_workflow_commands() -> None:
    out = render_plan_github(make_plan(injected_update(), environment=f"prod{INJECTED}"))
    lines = out.splitlines()
    assert len(lines) == 2 and command_lines(out) == lines  # only our own notices
    assert all(ln.startswith("::notice title=") for ln in lines)
    assert "\x1b" not in out and "\r" not in out and "\u2028" not in out
    escaped = "x%0A::add-mask::leak%0D%0A::error title=pwned::owned\\x1b[2J\\u2028"
    prop = escaped.replace(":", "%3A")
    assert lines[1] == (
        f"::notice title=deployment.etl/daily{prop}::deployment.etl/daily{escaped} "
        f"will be updated in-place (note{escaped}): job_variables"
    )


def test_a_resource_with_a_known_source_gets_its_notice_on_that_line() -> None:
    plan = make_plan(pool_update(), deployment_create(), deployment_delete())
    sources = {
        "work_pool.above-ground": ("deploy/prod/work-pools/above,ground.yaml", 1),
        "deployment.etl/daily": ("deploy/prod/prefect.yaml", 12),
    }
    lines = render_plan_github(plan, sources=sources).splitlines()
    assert lines[1].startswith(
        "::notice file=deploy/prod/work-pools/above%2Cground.yaml,line=1,"
        "title=work_pool.above-ground::"
    )
    assert lines[2].startswith(
        "::notice file=deploy/prod/prefect.yaml,line=12,title=deployment.etl/daily::"
    )
    # A deleted resource is in no file: its notice stays a plain one.
    assert lines[3].startswith("::notice title=deployment.etl/old::")


def test_every_plan_format_takes_sources_and_only_github_shows_them() -> None:
    from prefect_gitops.render.plan import PLAN_RENDERERS, render_document
    from prefect_gitops.render.plan_json import plan_document

    plan = make_plan(deployment_create())
    doc = plan_document(plan)
    sources = {"deployment.etl/daily": ("deploy/prod/prefect.yaml", 12)}
    for name, renderer in PLAN_RENDERERS.items():
        out = render_document(doc, name, sources=sources)
        assert out == renderer(plan) if name != "github" else "file=deploy/prod/" in out
