"""The apply lock: a lease on the server, so that two applies of one project never interleave.

The lease is a Prefect variable, `prefect_gitops__lock_<project>`, whose value records the
holder, since when it is held and when the lease expires. Creating a variable whose name exists
fails with 409, which makes taking the lock atomic without any compare-and-swap:

- acquire: `POST /variables/`; 201 means we hold it. On 409 read it: an expired lease is
  deleted **by the id we read** (`DELETE /variables/{id}`), so of two contenders only one can
  remove it, and nobody can remove a lease taken after it was read; then try again.
- release: `DELETE /variables/{id}` of our own lease only.
- `force_unlock`: delete whatever lease is there (the stuck case: a killed apply).

The underscore pair keeps the name apart from the ownership inventory (`ownership.py`), whose
names never have one after `prefect_gitops`.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from .api import ApiClient
from .errors import ReconcilerError

LOCK_PREFIX = "prefect_gitops__lock_"
LEASE_SECONDS = 30 * 60  # a killed apply blocks others for at most this long
POLL_SECONDS = 2.0
_NAME_MAX = 200


def lock_name(project: str) -> str:
    slug = re.sub(r"[^a-z0-9_]", "_", project.lower()).strip("_") or "default"
    return (LOCK_PREFIX + slug)[:_NAME_MAX]


def default_holder() -> str:
    """`user@host (pid N)`: who holds the lock, as shown to the apply that waits."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()} (pid {os.getpid()})"


class LockHeldError(ReconcilerError):
    """Another apply holds the project's lock."""


@dataclass(frozen=True)
class LockInfo:
    name: str
    id: str
    holder: str
    since: str
    expires: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> LockInfo:
        value = obj.get("value")
        value = value if isinstance(value, Mapping) else {}
        return cls(
            name=str(obj.get("name")),
            id=str(obj.get("id")),
            holder=str(value.get("holder", "unknown")),
            since=str(value.get("since", obj.get("created", "unknown"))),
            expires=str(value.get("expires", "")),
        )

    def expired(self, now: datetime) -> bool:
        try:
            expires = datetime.fromisoformat(self.expires.replace("Z", "+00:00"))
        except ValueError:
            return False  # unreadable: never steal it, force-unlock is explicit
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
        return now >= expires

    def describe(self) -> str:
        return f"held by {self.holder} since {self.since} (expires {self.expires})"


class Lease:
    """A held lock. Use as a context manager, or call `release()`."""

    def __init__(self, client: ApiClient, info: LockInfo) -> None:
        self.client = client
        self.info = info
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.client.delete(f"/variables/{self.info.id}", allow=(404,))
            self.released = True

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def acquire(
    client: ApiClient,
    project: str,
    *,
    timeout: float,
    holder: str | None = None,
    lease_seconds: float = LEASE_SECONDS,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    on_wait: Callable[[LockInfo], None] | None = None,
) -> Lease:
    """Take the project's lock, waiting up to `timeout` seconds for another holder.

    Raises `LockHeldError` naming the holder and since when if it is still held then.
    """
    name = lock_name(project)
    holder = holder or default_holder()
    deadline = monotonic() + max(0.0, timeout)
    waited = False
    # Bounded: each round sleeps POLL_SECONDS (or less, up to the deadline) or steals an
    # expired lease; the extra rounds cover steals racing with other contenders.
    max_rounds = int(max(0.0, timeout) / POLL_SECONDS) + 20
    current: LockInfo | None = None
    for _ in range(max_rounds):
        started = now()
        value = {
            "holder": holder,
            "since": _iso(started),
            "expires": _iso(started + timedelta(seconds=lease_seconds)),
            "project": project,
        }
        created = client.post("/variables/", json={"name": name, "value": value}, allow=(409,))
        if isinstance(created, Mapping):
            return Lease(client, LockInfo.of(created))
        obj = client.get(f"/variables/name/{quote(name, safe='')}", allow=(404,))
        if not isinstance(obj, Mapping):
            continue  # released between our two requests: try again at once
        current = LockInfo.of(obj)
        if current.expired(now()):
            client.delete(f"/variables/{current.id}", allow=(404,))
            continue
        remaining = deadline - monotonic()
        if remaining <= 0:
            break
        if on_wait is not None and not waited:
            on_wait(current)
        waited = True
        sleep(min(POLL_SECONDS, remaining))
    assert current is not None or max_rounds > 0
    detail = current.describe() if current is not None else "held by another apply"
    raise LockHeldError(
        f"the apply lock of project '{project}' is {detail}",
        hint="wait and retry (or raise --lock-timeout); if that apply was killed, "
        "`prefect-gitops force-unlock` removes the lock",
    )


def read_lock(client: ApiClient, project: str) -> LockInfo | None:
    obj = client.get(f"/variables/name/{quote(lock_name(project), safe='')}", allow=(404,))
    return LockInfo.of(obj) if isinstance(obj, Mapping) else None


def force_unlock(client: ApiClient, project: str) -> LockInfo | None:
    """Remove the project's lock whoever holds it; returns what was removed (None: no lock)."""
    info = read_lock(client, project)
    if info is not None:
        client.delete(f"/variables/{info.id}", allow=(404,))
    return info
