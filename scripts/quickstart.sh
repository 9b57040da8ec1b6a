#!/usr/bin/env bash
# Set up prefect-gitops in ./.venv and apply examples/quickstart to the embedded local
# Prefect server (started on 127.0.0.1 on first use; state in ~/.prefect-gitops).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/prefect-gitops ] || [ ! -x .venv/bin/prefect ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q -c .ci/constraints.txt --upgrade pip
  # The server extra is Prefect itself (the embedded server); the versions CI tested.
  .venv/bin/python -m pip install -q -c .ci/constraints.txt -e '.[server]'
fi
.venv/bin/prefect-gitops validate examples/quickstart
.venv/bin/prefect-gitops apply examples/quickstart --auto-approve
.venv/bin/prefect-gitops plan examples/quickstart
