"""The one boundary with Prefect: the API client, settings, the embedded server, and Prefect's
own semantics mirrored (templating, schedules, triggers, default job templates, steps)."""

from __future__ import annotations

import sys

# httpx's package imports its command-line client whenever click, rich and pygments are
# installed, and Prefect installs them: about 6 MiB and 20 ms in every process that talks to
# the API, the idle runner included, for a client nothing here runs. A None entry makes that
# one import fail, which httpx handles by design (its `main` then says the CLI is missing).
if "httpx" not in sys.modules and "httpx._main" not in sys.modules:
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
