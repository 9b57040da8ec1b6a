"""Where the Prefect API is and how to talk to it, resolved the way Prefect resolves it.

Precedence, highest first:

1. ``--api-url`` on the command line;
2. environment variables (``PREFECT_API_URL``, ``PREFECT_API_KEY``, ``PREFECT_API_AUTH_STRING``,
   ``PREFECT_API_SSL_CERT_FILE``, ``PREFECT_API_TLS_INSECURE_SKIP_VERIFY``,
   ``PREFECT_API_REQUEST_TIMEOUT``, ``PREFECT_CLIENT_MAX_RETRIES``);
3. the active profile of ``profiles.toml``: ``--profile``, else ``PREFECT_PROFILE``, else the
   file's ``active = "..."``. The file is ``PREFECT_PROFILES_PATH``, else
   ``$PREFECT_HOME/profiles.toml`` (``PREFECT_HOME`` defaults to ``~/.prefect``).

When no API URL is found anywhere, ``api_url`` is ``None`` and the CLI falls back to the
embedded local server (see ``server.py``). Pure: reads one file and the mapping it is given.

Credentials go only where they were configured to go: a profile's ``PREFECT_API_KEY`` or
``PREFECT_API_AUTH_STRING`` is used only with that profile's own URL, never with a URL from the
environment or ``--api-url``. A repository never supplies a URL here (see ``environments.py``).
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5

# Prefect ships these profiles (prefect/settings/profiles.toml); a user may select them without
# having them in their own file. Only the API URL matters to us.
_BUILTIN_PROFILES: dict[str, dict[str, str]] = {
    "ephemeral": {},
    "local": {"PREFECT_API_URL": "http://127.0.0.1:4200/api"},
    "test": {},
    "cloud": {},
}

_KEYS = (
    "PREFECT_API_URL",
    "PREFECT_API_KEY",
    "PREFECT_API_AUTH_STRING",
    "PREFECT_API_SSL_CERT_FILE",
    "PREFECT_API_TLS_INSECURE_SKIP_VERIFY",
    "PREFECT_API_REQUEST_TIMEOUT",
    "PREFECT_CLIENT_MAX_RETRIES",
)

_CREDENTIAL_KEYS = ("PREFECT_API_KEY", "PREFECT_API_AUTH_STRING")

_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off", ""}


@dataclass(frozen=True)
class Settings:
    """How to reach the Prefect API. Secrets are kept out of ``repr``."""

    api_url: str | None
    api_key: str | None = field(default=None, repr=False)
    auth_string: str | None = field(default=None, repr=False)
    ssl_cert_file: str | None = None
    tls_insecure_skip_verify: bool = False
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    profile: str | None = None
    source: str = "environment"

    @property
    def is_cloud(self) -> bool:
        return self.api_url is not None and is_cloud_url(self.api_url)

    def secrets(self) -> tuple[str, ...]:
        """The values that must never be shown (used to scrub messages)."""
        return tuple(s for s in (self.api_key, self.auth_string) if s)


def load_settings(
    environ: Mapping[str, str], *, api_url: str | None = None, profile: str | None = None
) -> Settings:
    """Resolve the settings from ``environ``, the profiles file and the command-line options."""
    profile_name, profile_values = _active_profile(environ, profile)
    values: dict[str, str] = {}
    origin: dict[str, str] = {}
    for key in _KEYS:
        if environ.get(key, "") != "":
            values[key], origin[key] = environ[key], "environment"
        elif profile_values.get(key, "") != "":
            values[key], origin[key] = profile_values[key], f"profile {profile_name}"

    url = values.get("PREFECT_API_URL")
    source = origin.get("PREFECT_API_URL", "environment")
    if api_url:
        url, source = api_url, "--api-url"
    if url is not None:
        url = check_api_url(url, source)
    for key in _CREDENTIAL_KEYS:
        if origin.get(key, "environment") not in ("environment", source):
            del values[key]  # a profile's credential, and the URL is not that profile's

    ssl_cert_file = values.get("PREFECT_API_SSL_CERT_FILE") or environ.get("SSL_CERT_FILE") or None
    return Settings(
        api_url=url,
        api_key=values.get("PREFECT_API_KEY"),
        auth_string=values.get("PREFECT_API_AUTH_STRING"),
        ssl_cert_file=ssl_cert_file,
        tls_insecure_skip_verify=_parse_bool(
            values, origin, "PREFECT_API_TLS_INSECURE_SKIP_VERIFY"
        ),
        timeout=_parse_number(
            values, origin, "PREFECT_API_REQUEST_TIMEOUT", float, DEFAULT_TIMEOUT
        ),
        max_retries=_parse_number(
            values, origin, "PREFECT_CLIENT_MAX_RETRIES", int, DEFAULT_MAX_RETRIES
        ),
        profile=profile_name,
        source=source if url is not None else "none",
    )


def profiles_path(environ: Mapping[str, str]) -> Path:
    explicit = environ.get("PREFECT_PROFILES_PATH")
    home = Path(environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    if explicit:
        # Prefect substitutes ${PREFECT_HOME} in this setting.
        return Path(explicit.replace("${PREFECT_HOME}", str(home))).expanduser()
    return home / "profiles.toml"


def _active_profile(
    environ: Mapping[str, str], requested: str | None
) -> tuple[str | None, dict[str, str]]:
    path = profiles_path(environ)
    active: str | None = None
    profiles: dict[str, Any] = {}
    if path.is_file():
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read the Prefect profiles file {path}: {exc}") from None
        raw_active = document.get("active")
        active = raw_active if isinstance(raw_active, str) else None
        raw_profiles = document.get("profiles", {})
        profiles = raw_profiles if isinstance(raw_profiles, dict) else {}

    name = requested or environ.get("PREFECT_PROFILE") or active
    if not name:
        return None, {}
    table = profiles.get(name)
    if table is None:
        if name in _BUILTIN_PROFILES:
            return name, dict(_BUILTIN_PROFILES[name])
        known = sorted(set(profiles) | set(_BUILTIN_PROFILES))
        where = (
            "--profile"
            if requested
            else ("PREFECT_PROFILE" if environ.get("PREFECT_PROFILE") else str(path))
        )
        raise ConfigError(
            f"Prefect profile {name!r} (from {where}) does not exist in {path}",
            hint=f"known profiles: {', '.join(known)}",
        )
    if not isinstance(table, dict):
        raise ConfigError(f"profile {name!r} in {path} is not a table")
    return name, {str(k): _toml_str(v) for k, v in table.items()}


def _toml_str(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def is_cloud_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host == "prefect.cloud" or host.endswith(".prefect.cloud")


def same_api_url(a: str, b: str) -> bool:
    """Whether two API URLs name the same endpoint (scheme and host in any case, default
    ports, a trailing slash)."""
    first, second = urlsplit(a.strip()), urlsplit(b.strip())

    def key(parts: Any) -> tuple[str, str, int | None, str, str]:
        scheme = parts.scheme.lower()
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
        host = (parts.hostname or "").lower()
        return scheme, host, port, parts.path.rstrip("/"), parts.query

    try:
        return key(first) == key(second)
    except ValueError:  # an invalid port
        return False


def is_loopback_url(url: str) -> bool:
    """Whether the URL's host is this machine (localhost, 127.0.0.0/8, ::1)."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """The URL without any ``user:password@`` part."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, f"***@{netloc}", parts.path, parts.query, parts.fragment))


def check_api_url(url: str, source: str) -> str:
    """Normalise an API URL (no trailing slash) or explain why it cannot work."""
    url = url.strip()
    parts = urlsplit(url)
    shown = redact_url(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"the Prefect API URL {shown!r} (from {source}) is not an http(s) URL",
            hint="for example http://127.0.0.1:4200/api or "
            "https://api.prefect.cloud/api/accounts/<account-id>/workspaces/<workspace-id>",
        )
    if parts.hostname == "app.prefect.cloud":
        # The address bar of the Cloud UI, a common mistake: suggest the API form.
        segments = [s for s in parts.path.split("/") if s]
        hint = "use https://api.prefect.cloud/api/accounts/<account-id>/workspaces/<workspace-id>"
        if len(segments) >= 4 and segments[0] == "account" and segments[2] == "workspace":
            hint = (
                f"use https://api.prefect.cloud/api/accounts/{segments[1]}/workspaces/{segments[3]}"
            )
        raise ConfigError(
            f"the Prefect API URL {shown!r} (from {source}) is the Cloud UI, not the API",
            hint=hint,
        )
    return url.rstrip("/")


def _parse_bool(values: Mapping[str, str], origin: Mapping[str, str], key: str) -> bool:
    raw = values.get(key)
    if raw is None:
        return False
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{key}={raw!r} (from {origin[key]}) is not a boolean (true or false)")


def _parse_number(
    values: Mapping[str, str],
    origin: Mapping[str, str],
    key: str,
    kind: type[float] | type[int],
    default: float | int,
) -> Any:
    raw = values.get(key)
    if raw is None:
        return default
    try:
        number = kind(raw.strip())
    except ValueError:
        raise ConfigError(f"{key}={raw!r} (from {origin[key]}) is not a number") from None
    if number < 0:
        raise ConfigError(f"{key}={raw!r} (from {origin[key]}) must not be negative")
    return number
