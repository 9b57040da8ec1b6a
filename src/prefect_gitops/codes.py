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
    # -- structure --------------------------------------------------------------------------
    "S001": "Unknown key: a warning in prefect.yaml (Prefect drops it), an error in our formats.",
    "S002": "A value has the wrong type or is out of range.",
    "S003": "A key is in the wrong place, e.g. `job_variables` beside `work_pool`.",
    "S004": "A Prefect 2 form that Prefect 3 ignores or rejects.",
    "S005": "Two deployments with the same name and entrypoint.",
    "S006": "Two work pools with the same name.",
    "S007": "Two queues with the same name in one pool.",
    "S008": "A work-pool name starting with 'prefect' (reserved by the server).",
    "S009": "A required key is missing (e.g. a deployment without `name`).",
    "S010": "A file reference points outside the repository.",
    "S011": "A referenced file (e.g. a base job template) is missing or unreadable.",
    "S012": "A prefect.yaml declares no deployments.",
    "S013": "A name contains characters the Prefect server rejects (/ % & > <).",
}
