"""The apply lock: a lease on the server, so that two applies of one project never interleave.

The lease is a Prefect variable, `prefect_gitops__lock_<slug>_<hash>` (one per owner, see
`ownership.owner_key`), whose value records the holder (`user@host (pid N)`, its host and pid),
since when it is held and how long the lease lasts without renewal. Creating a variable whose
name exists fails with 409, which makes taking the lock atomic without any compare-and-swap:

- acquire: `POST /variables/`; 201 means we hold it. On 409 read it: a stale lease is
  deleted **by the id we read** (`DELETE /variables/{id}`), so of two contenders only one can
  remove it, and nobody can remove a lease taken after it was read; then try again.
- renew: while applying, a bounded background loop `PATCH`es the lease every
  `RENEW_SECONDS`; the server stamps its `updated` time. A renewal answered 404 means the
  lease was removed (force-unlock, or judged stale): the holder is told, and stops writing.
- stale: judged by the **server's** clocks only, never the waiting machine's: the lease's
  `updated` stamp against the server's `Date` header, so clock skew between machines does not
  matter (without a `Date` header: `updated` unchanged for a whole lease, timed locally with
  a monotonic clock). A holder on this same host whose pid is gone is stale at once.
- release: `DELETE /variables/{id}` of our own lease only.
- `force_unlock`: delete whatever lease is there (the stuck case: a killed apply).

The underscore pair keeps the name apart from the ownership inventory (`ownership.py`), whose
names never have one after `prefect_gitops`.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from ..errors import ReconcilerError
from ..prefect.api import ApiClient, ApiError
from ..state.ownership import owner_hash, slug

LOCK_PREFIX = "prefect_gitops__lock_"
LEASE_SECONDS = 120.0  # a killed apply on another host blocks others for at most this long
RENEW_SECONDS = 30.0
MAX_RENEWALS = 7 * 24 * 3600 // int(RENEW_SECONDS)  # bounds the renewal loop: a week
POLL_SECONDS = 2.0


def lock_name(project: str) -> str:
    return f"{LOCK_PREFIX}{slug(project)}_{owner_hash(project)}"


def default_holder() -> str:
    """`user@host (pid N)`: who holds the lock, as shown to the apply that waits."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()} (pid {os.getpid()})"


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    return True


class LockHeldError(ReconcilerError):
    """Another apply holds the project's lock."""


@dataclass(frozen=True)
class LockInfo:
    name: str
    id: str
    holder: str
    since: str  # the server's `created` stamp
    updated: str  # the server's stamp of the last renewal
    lease_seconds: float
    host: str | None = None
    pid: int | None = None
    project: str | None = None  # whose lease it is; None: not a lease we wrote

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> LockInfo:
        value = obj.get("value")
        value = value if isinstance(value, Mapping) else {}
        lease = value.get("lease_seconds")
        pid = value.get("pid")
        host = value.get("host")
        return cls(
            name=str(obj.get("name")),
            id=str(obj.get("id")),
            holder=str(value.get("holder", "unknown")),
            since=str(obj.get("created") or value.get("since") or "unknown"),
            updated=str(obj.get("updated") or obj.get("created") or ""),
            lease_seconds=float(lease) if isinstance(lease, (int, float)) else LEASE_SECONDS,
            host=host if isinstance(host, str) else None,
            pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
            project=value.get("project") if isinstance(value.get("project"), str) else None,
        )

    def must_be_lease_of(self, project: str) -> None:
        """Refuse to treat as `project`'s lease a variable of that name that prefect-gitops
        did not write for it (a user's variable): it is never deleted, stale or not."""
        if self.project != project:
            raise ReconcilerError(
                f"the variable '{self.name}' is not the apply lock of project '{project}' "
                "(prefect-gitops did not write it); it was left as it is",
                hint="rename that variable: prefect-gitops uses this name for its apply lock",
            )

    def stale(self, server_now: datetime | None, unchanged_for: float) -> str | None:
        """Why this lease may be taken over, or None while its holder may still be alive.

        `server_now` is the server's clock; `unchanged_for` how long (locally, monotonic) the
        lease has been seen with this same `updated` stamp."""
        same_host = self.host == socket.gethostname()
        if same_host and self.pid is not None and not process_alive(self.pid):
            return f"its holder's process (pid {self.pid}) on this host is gone"
        renewed = _parse_time(self.updated)
        if server_now is not None and renewed is not None:
            age = (server_now - renewed).total_seconds()
            if age > self.lease_seconds:
                return f"not renewed for {age:.0f} s by the server's clock"
            return None
        if unchanged_for > self.lease_seconds:
            return f"not renewed for {unchanged_for:.0f} s"
        return None

    def describe(self) -> str:
        return (
            f"held by {self.holder} since {self.since} (last renewed {self.updated}; the lease "
            f"lapses {self.lease_seconds:g} s after its last renewal)"
        )


def _parse_time(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


class Lease:
    """A held lock. Use as a context manager, or call `release()`. `keep_alive()` renews it
    in the background until released."""

    def __init__(self, client: ApiClient, info: LockInfo, value: Mapping[str, Any]) -> None:
        self.client = client
        self.info = info
        self.value = dict(value)
        self.released = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def keep_alive(self, on_lost: Callable[[], None], *, interval: float = RENEW_SECONDS) -> None:
        """Renew the lease every `interval` seconds; call `on_lost` if it was removed."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._renew, args=(interval, on_lost), name="apply-lock", daemon=True
        )
        self._thread.start()

    def renew(self, count: int) -> bool:
        """One renewal; False when the lease is gone (removed by force-unlock or taken over)."""
        body = {"value": {**self.value, "renewals": count}}
        self.client.patch(f"/variables/{self.info.id}", json=body, allow=(404,))
        return self.client.last_status != 404

    def _renew(self, interval: float, on_lost: Callable[[], None]) -> None:
        for count in range(1, MAX_RENEWALS + 1):
            if self._stop.wait(interval):
                return
            try:
                alive = self.renew(count)
            except ApiError:
                continue  # a lease outlasts a few failed renewals
            if not alive and not self._stop.is_set():
                on_lost()
                return

    def stop_renewing(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.client.settings.timeout + 5)

    def release(self) -> None:
        self.stop_renewing()
        if not self.released:
            self.client.delete(f"/variables/{self.info.id}", allow=(404,))
            self.released = True

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(
    client: ApiClient,
    project: str,
    *,
    timeout: float,
    holder: str | None = None,
    lease_seconds: float = LEASE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    on_wait: Callable[[LockInfo], None] | None = None,
) -> Lease:
    """Take the project's lock, waiting up to `timeout` seconds for another holder.

    Raises `LockHeldError` naming the holder and since when if it is still held then.
    """
    name = lock_name(project)
    value = {
        "holder": holder or default_holder(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "lease_seconds": lease_seconds,
        "project": project,
    }
    deadline = monotonic() + max(0.0, timeout)
    waited = False
    # Bounded: each round sleeps POLL_SECONDS (or less, up to the deadline) or steals a
    # stale lease; the extra rounds cover steals racing with other contenders.
    max_rounds = int(max(0.0, timeout) / POLL_SECONDS) + 20
    current: LockInfo | None = None
    first_seen: dict[tuple[str, str], float] = {}  # (id, updated) -> when first read
    for _ in range(max_rounds):
        created = client.post("/variables/", json={"name": name, "value": value}, allow=(409,))
        if isinstance(created, Mapping):
            return Lease(client, LockInfo.of(created), value)
        obj = client.get(f"/variables/name/{quote(name, safe='')}", allow=(404,))
        if not isinstance(obj, Mapping):
            continue  # released between our two requests: try again at once
        current = LockInfo.of(obj)
        current.must_be_lease_of(project)
        seen = first_seen.setdefault((current.id, current.updated), monotonic())
        if current.stale(client.server_time, monotonic() - seen) is not None:
            client.delete(f"/variables/{current.id}", allow=(404,))
            continue
        remaining = deadline - monotonic()
        if remaining <= 0:
            break
        if on_wait is not None and not waited:
            on_wait(current)
        waited = True
        sleep(min(POLL_SECONDS, remaining))
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
        info.must_be_lease_of(project)
        client.delete(f"/variables/{info.id}", allow=(404,))
    return info
