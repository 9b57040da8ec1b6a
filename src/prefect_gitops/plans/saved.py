"""The plan file of `plan --out`, and how `apply PLAN` checks it against a plan made now.

The file is for review and CI artifacts, so it holds no secret in clear:

- its values are the masked plan document, as every other output shows it;
- its two fingerprints are keyed: HMAC-SHA256 under the plan key, of a fresh random salt and
  the state's SHA-256. A plain hash of the desired state would let anyone holding the file test
  guesses of a short secret against it; without the key there is nothing to test against;
- it is created with mode 0600 and renamed into place, never readable by others, never half
  written.

`apply PLAN` plans again from the repository and the server (with the file's `prune` flag),
then refuses the saved plan unless the key, both fingerprints, the masked changes and a keyed
digest of the whole file all match, and applies the plan it just made: the secret values come
from the repository again, never from the file.

The plan key is `PREFECT_GITOPS_PLAN_KEY` when set (CI: the same secret in the job that plans
and the job that applies), else a random key this machine creates once in
`$PREFECT_GITOPS_HOME/plan.key` (default `~/.prefect-gitops`, mode 0600).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ReconcilerError, StalePlanError
from .build import Plan

KEY_VARIABLE = "PREFECT_GITOPS_PLAN_KEY"
KEY_FILE = "plan.key"
SCHEME = "hmac-sha256:"
SALT_FIELD = "fingerprint_salt"
KEY_CHECK_FIELD = "plan_key_check"
MAC_FIELD = "plan_mac"

_STALE_HINT = "run `prefect-gitops plan --out` again and review the new plan"


def key_path(environ: Mapping[str, str]) -> Path:
    home = environ.get("PREFECT_GITOPS_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".prefect-gitops") / KEY_FILE


def plan_key(environ: Mapping[str, str]) -> bytes:
    """The key the fingerprints of saved plans are made with (see the module docstring)."""
    explicit = environ.get(KEY_VARIABLE, "")
    if explicit:
        return explicit.encode("utf-8")
    path = key_path(environ)
    if not path.exists():
        try:
            _create_key(path)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the plan key {path}: {exc.strerror or exc}",
                hint=f"set {KEY_VARIABLE} to a long random value instead",
            ) from exc
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the plan key {path}: {exc}") from exc
    if len(key) < 16:
        raise ConfigError(
            f"the plan key {path} is damaged",
            hint="delete it (plans saved with it can then no longer be applied)",
        )
    return key


def _create_key(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    write_private(temporary, secrets.token_hex(32) + "\n")
    try:
        os.link(temporary, path)  # fails if another process made the key first: keep theirs
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def keyed(key: bytes, salt: str, fingerprint: str) -> str:
    digest = hmac.new(key, f"{salt}\n{fingerprint}".encode(), hashlib.sha256).hexdigest()
    return SCHEME + digest


def saved_document(
    masked: Mapping[str, Any], plan: Plan, key: bytes, *, salt: str | None = None
) -> dict[str, Any]:
    """The file's content: the masked plan document with keyed fingerprints."""
    salt = salt or secrets.token_hex(16)
    doc = dict(masked)
    doc[SALT_FIELD] = salt
    doc[KEY_CHECK_FIELD] = keyed(key, salt, "plan key")
    doc["live_fingerprint"] = keyed(key, salt, plan.live_fingerprint)
    doc["desired_fingerprint"] = keyed(key, salt, plan.desired_fingerprint)
    doc[MAC_FIELD] = _document_mac(doc, key, salt)
    return doc


def _document_mac(doc: Mapping[str, Any], key: bytes, salt: str) -> str:
    """A keyed digest of the whole file but itself. Planning again checks the changes, but the
    `prune` flag (and the environment) apply takes from the file: without this, turning
    `prune` on and adding the deletes it implies would pass as the same plan."""
    return keyed(key, salt, _json({k: v for k, v in doc.items() if k != MAC_FIELD}))


def render_saved(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_private(path: Path, text: str) -> None:
    """Write `path` readable by its owner only, atomically: a temporary file created with mode
    0600, then renamed over `path` (which takes the new file's mode). Only a regular file (or
    a symlink, itself replaced) is written over: renaming over `/dev/null`, a FIFO or a socket
    replaces the device itself (as root, /dev/null became a plan file)."""
    with contextlib.suppress(FileNotFoundError):
        mode = os.lstat(path).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            raise ReconcilerError(
                f"{path} is not a regular file (a device, FIFO, socket or folder); "
                "a saved plan is never written over one",
                hint="give the path of a file (a new one, or a plan saved before)",
            )
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def check_saved(
    saved: Mapping[str, Any], fresh: Plan, fresh_masked: Mapping[str, Any], key: bytes
) -> None:
    """Refuse the saved plan unless the plan made now (for the same server) is the one it
    records."""
    if saved.get("api_url") and saved.get("api_url") != fresh.api_url:
        raise StalePlanError(
            f"saved plan is stale: it was made for {saved.get('api_url')}, not "
            f"{fresh.api_url}; nothing was written",
            hint=_STALE_HINT,
        )
    salt = saved.get(SALT_FIELD)
    if not isinstance(salt, str) or not str(saved.get("live_fingerprint")).startswith(SCHEME):
        raise ReconcilerError(
            "the saved plan has no keyed fingerprints (an older prefect-gitops wrote it); "
            "nothing was written",
            hint=_STALE_HINT,
        )
    if not hmac.compare_digest(str(saved.get(KEY_CHECK_FIELD)), keyed(key, salt, "plan key")):
        raise StalePlanError(
            "the saved plan was made with another plan key (on another machine?); "
            "nothing was written",
            hint=f"set the same {KEY_VARIABLE} where you plan and where you apply",
        )
    problems = []
    if not _matches(saved, "desired_fingerprint", keyed(key, salt, fresh.desired_fingerprint)):
        problems.append("the repository changed since it was planned")
    if not _matches(saved, "live_fingerprint", keyed(key, salt, fresh.live_fingerprint)):
        problems.append("the server changed since it was planned")
    if not problems and _json(saved.get("resource_changes")) != _json(
        fresh_masked.get("resource_changes")
    ):
        differing = _differing_addresses(
            saved.get("resource_changes"), fresh_masked.get("resource_changes")
        )
        problems.append(
            "the changes planned now differ (the file was edited, or options or the root config "
            f"changed): {', '.join(differing) or 'their order'}"
        )
    if not problems and not _matches(saved, MAC_FIELD, _document_mac(saved, key, salt)):
        problems.append("the file was edited after it was saved (its `prune` flag, say)")
    if problems:
        raise StalePlanError(
            f"saved plan is stale: {' and '.join(problems)}; nothing was written",
            hint=_STALE_HINT,
        )


def _differing_addresses(saved: Any, fresh: Any) -> list[str]:
    """Addresses whose change is in one list and not the same in the other (at most 10)."""

    def by_address(changes: Any) -> dict[str, str]:
        if not isinstance(changes, list):
            return {}
        return {str(c.get("address")): _json(c) for c in changes if isinstance(c, Mapping)}

    old, new = by_address(saved), by_address(fresh)
    differing = sorted(a for a in old.keys() | new.keys() if old.get(a) != new.get(a))
    shown = differing[:10]
    return shown + ([f"and {len(differing) - 10} more"] if len(differing) > 10 else [])


def _matches(saved: Mapping[str, Any], field: str, expected: str) -> bool:
    return hmac.compare_digest(str(saved.get(field)), expected)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
