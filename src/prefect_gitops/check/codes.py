"""Every diagnostic code, with a one-line meaning. The README table is generated from this."""

from __future__ import annotations

CODES: dict[str, str] = {
    # -- loading: files and YAML ------------------------------------------------------------
    "Y001": "A file cannot be read: missing, a directory, or larger than the size cap.",
    "Y002": "A file is not valid UTF-8 text.",
    "Y003": "A file contains merge-conflict markers.",
    "Y004": "YAML syntax error.",
    "Y005": "Duplicate mapping key (YAML loaders silently keep the last one).",
    "Y006": "Nesting too deep or aliases expanding too far (hostile input).",
    "Y007": "YAML that Prefect's `yaml.safe_load` cannot read: custom tags, several documents.",
    "Y008": "The document is empty or not a mapping (TOML, a docstring, a list...).",
    "Y009": "A prefect file is not Prefect configuration at all (e.g. a docker-compose file).",
    # -- structure --------------------------------------------------------------------------
    "S001": "Unknown key: a warning in prefect.yaml (Prefect drops it), an error in our formats.",
    "S002": "A value has the wrong type or is out of range.",
    "S003": "A key in the wrong place: beside `work_pool` Prefect drops it (warning); a step with extra keys Prefect refuses (error).",
    "S004": "A Prefect 2 form: a warning when Prefect 3 ignores it, an error when it refuses it or no run can succeed (Prefect 2 step names).",
    "S005": "Two deployments with the same name and entrypoint.",
    "S006": "Two work pools with the same name.",
    "S007": "Two queues with the same name in one pool.",
    "S008": "A work-pool name starting with 'prefect' (reserved by the server).",
    "S009": "A required key is missing: a deployment without `name`, `entrypoint` or `work_pool.name`.",
    "S010": "A file reference points outside the repository.",
    "S011": "A referenced file (e.g. a base job template) is missing or unreadable.",
    "S012": "A prefect.yaml declares no deployments (an error when the repository declares nothing else to apply).",
    "S013": "A name contains characters Prefect rejects (/ % & > <, ASCII control characters).",
    "S014": "A deployment has both `schedule` and `schedules` (Prefect refuses it).",
    "S015": "Two triggers of one deployment share a name (`plan` addresses automations by name).",
    "S016": "A build/push step `prefect deploy` cannot import: its package is not installed and the step has no `requires:` (a warning where Prefect is not installed either, and for plan/apply without --run-steps).",
    "S017": "A deployment without a name beside others: `prefect deploy --all` skips it.",
    # -- entrypoints and parameters (read statically, never imported) ----------------------
    "E001": "An entrypoint is neither `path/file.py:function` nor `module.function`.",
    "E002": "The entrypoint's file does not exist.",
    "E003": "The entrypoint's file is outside the repository.",
    "E004": "The entrypoint's module is not in the repository (fine only if it is installed).",
    "E005": "The entrypoint's file cannot be parsed (syntax error, not UTF-8), or pydantic refuses a parameter's type on this Python (`typing.TypedDict` before 3.12).",
    "E006": "The entrypoint names a function (or class) the file does not define.",
    "E007": "The entrypoint's function is not decorated with `@flow`.",
    "E008": "The entrypoint cannot be followed statically (templated, assigned, imported).",
    "E009": "The flow's name contains characters Prefect rejects (/ % & > <, ASCII control characters).",
    "E010": "`parameters` names a parameter the flow does not have (and no **kwargs).",
    "E011": "A required flow parameter is not set: Prefect deploys, but runs that do not pass it (scheduled ones too) fail.",
    "E012": "A parameter value does not match the flow's type annotation (an error when the schema is enforced: the server refuses it).",
    "E013": "The flow's `flow_run_name` uses a placeholder that is not a parameter.",
    "E014": "Parts of the flow (annotations, defaults, description) cannot be read statically.",
    "E015": "The flow's `name=` cannot be read statically: planned under Prefect's fallback name (the function's).",
    # -- schedules --------------------------------------------------------------------------
    "C001": "A schedule item has none or several of cron/interval/rrule, or a refused form.",
    "C002": "A cron expression the server refuses (invalid, or random/hashed R/H fields).",
    "C003": "An interval that is not a duration or not greater than 0.",
    "C004": "An rrule string (or its JSON form) dateutil cannot parse, or too long.",
    "C005": "A schedule time zone that is not an IANA name.",
    "C006": "An `anchor_date` that is not an ISO 8601 date/time (or unquoted beside other keys).",
    "C007": "A schedule value of the wrong kind (`active`, `day_or`, `slug`, `parameters`).",
    "C009": "Two schedules of one deployment share a slug.",
    "C010": "A deployment mixes schedules with and without slugs (server answers 422 on update).",
    "C011": "A schedule option that does not apply to its kind and is ignored.",
    "C012": "A templated cron/interval/rrule, checked only when `prefect deploy` resolves it.",
    # -- references -------------------------------------------------------------------------
    "R001": "`{{ prefect.variables.x }}` names a variable the project does not declare.",
    "R002": "`concurrency_limit.collision_strategy` is not ENQUEUE or CANCEL_NEW.",
    "R003": "`concurrency_limit.grace_period_seconds` is outside 60-86400.",
    "R004": "A deployment concurrency limit that is not greater than 0.",
    "R005": "`--env` (or PREFECT_GITOPS_ENV) names an environment the root config does not declare.",
    "R006": "A build/push step output outside pull steps: `apply` needs `--step-output` or `--run-steps`.",
    "R007": "`version_type` is not one of Prefect's (prefect:simple, vcs:git, vcs:github, vcs:gitlab, vcs:bitbucket, vcs:azuredevops).",
    # -- work pools -------------------------------------------------------------------------
    "P001": "A pool's `variables` schema is not a valid JSON Schema (Draft 2020-12).",
    "P002": "A variable's `default` is invalid against its own schema (the server refuses the pool).",
    "P003": "`job_configuration` uses a `{{ placeholder }}` that is not a declared variable.",
    "P004": "A base job template without both `job_configuration` and `variables`.",
    "P005": "An unknown work-pool type (no default template is known for it).",
    "P006": "Two queues of one pool share a priority.",
    "P007": "A pool default that is a block reference: cannot be checked offline.",
    # -- job variables ----------------------------------------------------------------------
    "J001": "A job variable the server rejects (422) against the pool's variables schema.",
    "J002": "Job variables cannot be checked: the pool's variables schema is broken (422).",
    "J003": "A templated job variable whose value exists only at deploy time (not checked).",
    "J004": "A placeholder nothing resolves: `prefect deploy` drops the key or empties the text.",
    "J005": "The deployment's pool is not in the repo and has no `pool_types` entry: `plan` checks it.",
    "J006": 'A job variable the pool does not declare: Prefect drops it (with a "did you mean").',
    "J007": "Strict: a job variable the pool's `job_configuration` never uses.",
    "J008": "Strict: a required pool variable with no default that the deployment does not set.",
    "J009": "`work_queue_name` is not a queue of the declared pool (the server creates a stray one).",
    "J010": "`pool_types` names a type with no known default template.",
}


# -- the severity contract ------------------------------------------------------------------
# Without --strict, an error means `prefect deploy` 3.9.1 fails on it, or writes something that
# cannot run at all; whatever `prefect deploy` accepts is at most a warning that states its
# consequence. --strict promotes the codes marked STRICT_ERROR. Codes about our own files
# (prefect-gitops.yaml, work-pool files, templates) have no native counterpart: they stay
# errors where they stop plan or apply. tests/test_severity_parity.py proves the native column.

ERROR = "error"
WARNING = "warning"
INFO = "info"
WARNING_STRICT_ERROR = "warning (error with --strict)"
STRICT_ONLY = "only with --strict (error)"
# Codes whose instances differ: the rule decides per instance, the table says how.
BY_CASE = "by case"

OURS = "none (our files)"
FAILS = "fails"
DEPLOYS = "deploys"
UNRUNNABLE = "deploys; no run can succeed"
MIXED = "fails or deploys (see meaning)"
# Prefect deploys it, but `plan` cannot represent it: an error so that plan is never the first
# to refuse (see the report on desired.py taking Prefect's choice instead).
STOPS_PLAN = "deploys; stops plan"

SEVERITY: dict[str, tuple[str, str]] = {
    # code: (severity without --strict, what `prefect --no-prompt deploy --all` does)
    "Y001": (ERROR, FAILS),
    "Y002": (ERROR, FAILS),
    "Y003": (ERROR, FAILS),
    "Y004": (ERROR, FAILS),
    "Y005": (BY_CASE, "deploys, keeping the last key (prefect.yaml: warning; our files: error)"),
    "Y006": (ERROR, FAILS),
    "Y007": (ERROR, FAILS),
    "Y008": (ERROR, FAILS),
    "Y009": (ERROR, FAILS),
    "S001": (BY_CASE, "deploys (drops the key); ours: none"),
    "S002": (ERROR, FAILS),
    "S003": (BY_CASE, MIXED),
    "S004": (BY_CASE, MIXED),
    "S005": (ERROR, STOPS_PLAN + " (Prefect keeps the last one)"),
    "S006": (ERROR, OURS),
    "S007": (ERROR, OURS),
    "S008": (ERROR, OURS),
    "S009": (ERROR, FAILS),
    "S010": (ERROR, FAILS),
    "S011": (ERROR, OURS),
    "S012": (
        BY_CASE,
        "fails (nothing to deploy): an error unless the repository declares pools, variables "
        "or limits, which we apply (a warning)",
    ),
    "S013": (ERROR, FAILS),
    "S014": (ERROR, FAILS),
    "S015": (ERROR, STOPS_PLAN + " (it addresses triggers by name)"),
    "S016": (BY_CASE, "fails where the step's package is missing"),
    "S017": (WARNING, "deploys the others (skips it)"),
    "E001": (ERROR, FAILS),
    "E002": (ERROR, FAILS),
    "E003": (ERROR, FAILS),
    "E004": (WARNING, "deploys if the module is installed"),
    "E005": (ERROR, FAILS),
    "E006": (ERROR, FAILS),
    "E007": (ERROR, FAILS),
    "E008": (INFO, "resolved at deploy time"),
    "E009": (ERROR, FAILS),
    "E010": (ERROR, UNRUNNABLE),
    "E011": (WARNING_STRICT_ERROR, "deploys; runs that do not pass it fail"),
    "E012": (BY_CASE, "fails when the schema is enforced, else deploys"),
    "E013": (ERROR, UNRUNNABLE),
    "E014": (INFO, DEPLOYS),
    "E015": (WARNING, "deploys, under the evaluated name where it can import the flow"),
    "C001": (BY_CASE, MIXED),
    "C002": (ERROR, FAILS),
    "C003": (ERROR, FAILS),
    "C004": (ERROR, FAILS),
    "C005": (ERROR, FAILS),
    "C006": (ERROR, FAILS),
    "C007": (ERROR, FAILS),
    "C009": (ERROR, FAILS),
    "C010": (WARNING, "deploys; a later redeploy gets 422"),
    "C011": (WARNING, "deploys (ignores the option)"),
    "C012": (INFO, "resolved at deploy time"),
    "R001": (WARNING_STRICT_ERROR, "deploys if the server has the variable"),
    "R002": (ERROR, FAILS),
    "R003": (ERROR, FAILS),
    "R004": (ERROR, FAILS),
    "R005": (ERROR, OURS),
    "R006": (WARNING, "runs the build/push steps, deploys their outputs"),
    "R007": (ERROR, FAILS),
    "P001": (ERROR, OURS),
    "P002": (ERROR, OURS),
    "P003": (ERROR, OURS),
    "P004": (ERROR, OURS),
    "P005": (WARNING, OURS),
    "P006": (ERROR, OURS),
    "P007": (INFO, OURS),
    "J001": (ERROR, FAILS),
    "J002": (ERROR, FAILS),
    "J003": (INFO, "resolved at deploy time"),
    "J004": (WARNING, "deploys (drops the key or empties the text)"),
    "J005": (WARNING, OURS),
    "J006": (WARNING_STRICT_ERROR, "deploys (the server ignores the key)"),
    "J007": (STRICT_ONLY, DEPLOYS),
    "J008": (STRICT_ONLY, "deploys; no run can be created"),
    "J009": (WARNING_STRICT_ERROR, "deploys (creates a stray queue)"),
    "J010": (ERROR, OURS),
}

# Never an error without --strict, always one with it.
STRICT_ERROR_CODES = frozenset(
    code for code, (severity, _) in SEVERITY.items() if severity == WARNING_STRICT_ERROR
)
# --strict also promotes the warnings of these by-case codes (S003: a misplaced key Prefect
# drops is a warning, a step Prefect refuses an error).
PROMOTED_BY_STRICT = STRICT_ERROR_CODES | {"S003"}
