"""Where the Prefect API is and how to talk to it, resolved the way Prefect 3 resolves it
(``prefect config view --show-sources`` shows the same values and sources).

Precedence, highest first:

1. ``--api-url`` on the command line;
2. environment variables (``PREFECT_API_URL``, ``PREFECT_API_KEY``, ``PREFECT_API_AUTH_STRING``,
   ``PREFECT_API_SSL_CERT_FILE``, ``PREFECT_API_TLS_INSECURE_SKIP_VERIFY``,
   ``PREFECT_API_REQUEST_TIMEOUT``, ``PREFECT_CLIENT_MAX_RETRIES``; names in any case);
3. ``.env`` in the working directory (python-dotenv's syntax, see ``envfile.py``);
4. ``prefect.toml`` in the working directory (``[api] url``, ``[api] key``, ...,
   ``[client] max_retries``);
5. ``pyproject.toml`` in the working directory, under ``[tool.prefect]`` (``[tool.prefect.api]
   url``, ...);
6. the active profile of ``profiles.toml``: ``--profile``, else ``PREFECT_PROFILE``, else the
   file's ``active = "..."``. The file is ``PREFECT_PROFILES_PATH`` (from the environment, else
   from 3-5), else ``$PREFECT_HOME/profiles.toml`` (``PREFECT_HOME`` defaults to ``~/.prefect``).

A source that sets a value to the empty string hides the sources below it, as in Prefect.
When no API URL is found anywhere, ``api_url`` is ``None`` and the CLI falls back to the
embedded local server (see ``server.py``). Pure: reads the files named above and the mapping
it is given.

Credentials go only where they were configured to go:

- a profile's ``PREFECT_API_KEY`` or ``PREFECT_API_AUTH_STRING`` is used only with that
  profile's own URL, never with a URL from elsewhere;
- the files of the working directory (3-5, and a profiles file they name) belong to the
  repository, which is code under review: a credential set on this machine (environment or
  profile) is never sent to a URL, through a CA file or over an unverified connection that one
  of them chose. That combination is a ConfigError before anything is contacted. A credential
  in the same files as the URL is theirs to send.

The selected environment of ``prefect-gitops.yaml`` only checks the URL (``environments.py``).
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigError
from .envfile import read_env_text

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

# Where each setting lives in prefect.toml (and under [tool.prefect] in pyproject.toml).
_TOML_PATHS = {
    "PREFECT_API_URL": ("api", "url"),
    "PREFECT_API_KEY": ("api", "key"),
    "PREFECT_API_AUTH_STRING": ("api", "auth_string"),
    "PREFECT_API_SSL_CERT_FILE": ("api", "ssl_cert_file"),
    "PREFECT_API_TLS_INSECURE_SKIP_VERIFY": ("api", "tls_insecure_skip_verify"),
    "PREFECT_API_REQUEST_TIMEOUT": ("api", "request_timeout"),
    "PREFECT_CLIENT_MAX_RETRIES": ("client", "max_retries"),
}

CREDENTIAL_KEYS = ("PREFECT_API_KEY", "PREFECT_API_AUTH_STRING")

# The settings that decide where a credential goes, or whether its connection is verified.
_STEERING_KEYS = (
    "PREFECT_API_URL",
    "PREFECT_API_TLS_INSECURE_SKIP_VERIFY",
    "PREFECT_API_SSL_CERT_FILE",
)

_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off", ""}


@dataclass(frozen=True)
class SettingValue:
    """One setting as a source gives it: ``text`` is ``""`` when the source sets it empty
    (which hides the sources below it, as in Prefect)."""

    text: str = field(repr=False)
    source: str  # "environment", ".env", "prefect.toml", "pyproject.toml", "profile NAME", ...
    where: str  # for messages: ".env:3", "prefect.toml [api] url", ...
    trusted: bool  # set on this machine, not read from a file of the working directory


@dataclass(frozen=True)
class _Layer:
    values: dict[str, SettingValue]
    name: str | None = None  # the profile's name, for the profile layer


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
    environ: Mapping[str, str],
    *,
    api_url: str | None = None,
    profile: str | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve the settings from ``environ``, the working directory's settings files, the
    profiles file and the command-line options (see the module docstring)."""
    profile_name, found = resolve_sources(environ, profile=profile, cwd=cwd)
    values = dict(found)
    if api_url:
        values["PREFECT_API_URL"] = SettingValue(api_url, "--api-url", "--api-url", trusted=True)
    url_value = values.get("PREFECT_API_URL")
    url, source = None, "none"
    if url_value is not None and url_value.text != "":
        url, source = check_api_url(url_value.text, url_value.where), url_value.source
    for key in CREDENTIAL_KEYS:
        credential = values.get(key)
        if (
            credential is not None
            and credential.source.startswith("profile ")
            and credential.source != source
        ):
            del values[key]  # a profile's credential, and the URL is not that profile's
    _check_credential_destination(values)
    text = {key: value.text for key, value in values.items() if value.text != ""}
    where = {key: value.where for key, value in values.items()}
    ssl_cert_file = text.get("PREFECT_API_SSL_CERT_FILE") or environ.get("SSL_CERT_FILE") or None
    return Settings(
        api_url=url,
        api_key=text.get("PREFECT_API_KEY"),
        auth_string=text.get("PREFECT_API_AUTH_STRING"),
        ssl_cert_file=ssl_cert_file,
        tls_insecure_skip_verify=_parse_bool(text, where, "PREFECT_API_TLS_INSECURE_SKIP_VERIFY"),
        timeout=_parse_number(text, where, "PREFECT_API_REQUEST_TIMEOUT", float, DEFAULT_TIMEOUT),
        max_retries=_parse_number(
            text, where, "PREFECT_CLIENT_MAX_RETRIES", int, DEFAULT_MAX_RETRIES
        ),
        profile=profile_name,
        source=source,
    )


def resolve_sources(
    environ: Mapping[str, str], *, profile: str | None = None, cwd: Path | None = None
) -> tuple[str | None, dict[str, SettingValue]]:
    """The active profile's name and each API setting's value with its source, before the
    credential rules: what ``prefect config view --show-sources`` shows for them."""
    folder = Path.cwd() if cwd is None else cwd
    files = _read_settings_files(folder, environ)
    profile_layer = _profile_layer(environ, profile, files, folder)
    layers = [_environment_layer(environ), *files, profile_layer]
    values: dict[str, SettingValue] = {}
    for key in _KEYS:
        found = next((layer.values[key] for layer in layers if key in layer.values), None)
        if found is not None:
            values[key] = found
    return profile_layer.name, values


def _check_credential_destination(values: Mapping[str, SettingValue]) -> None:
    """A credential set on this machine goes only where, and how, this machine says: never
    to a URL, a CA file or an unverified connection that a file of the working directory
    chose, unless that same file holds the credential."""
    for key in CREDENTIAL_KEYS:
        credential = values.get(key)
        if credential is None or credential.text == "" or not credential.trusted:
            continue
        for steering in _STEERING_KEYS:
            chosen = values.get(steering)
            if chosen is None or chosen.trusted or chosen.text == "":
                continue
            raise ConfigError(
                f"{steering} comes from {chosen.where}, a file of the working directory, but "
                f"{key} comes from {credential.where}; a repository file never decides where "
                "or how this machine's credentials are sent, so nothing was contacted",
                hint=f"set {steering} where the credential is set (it then wins over the "
                "file)"
                + (", pass --api-url" if steering == "PREFECT_API_URL" else "")
                + ", or keep the credential in the same file as it",
            )


def _read_settings_files(cwd: Path, environ: Mapping[str, str]) -> list[_Layer]:
    """The settings Prefect reads from the working directory, highest precedence first:
    ``.env``, ``prefect.toml``, then ``pyproject.toml``'s ``[tool.prefect]``."""
    layers = [_dotenv_layer(cwd / ".env", environ)]
    for name, header in (("prefect.toml", ()), ("pyproject.toml", ("tool", "prefect"))):
        document = _read_toml(cwd / name)
        for part in header:
            table = document.get(part)
            document = table if isinstance(table, dict) else {}
        layers.append(_toml_layer(name, header, document))
    return layers


def _environment_layer(environ: Mapping[str, str]) -> _Layer:
    # Prefect (pydantic-settings) matches variable names in any case.
    folded = {key.upper(): (key, value) for key, value in environ.items()}
    values: dict[str, SettingValue] = {}
    for key in _KEYS:
        if key in environ:
            values[key] = SettingValue(environ[key], "environment", "the environment", trusted=True)
        elif key in folded:
            name, value = folded[key]
            values[key] = SettingValue(
                value, "environment", f"the environment ({name})", trusted=True
            )
    return _Layer(values)


def _dotenv_layer(path: Path, environ: Mapping[str, str]) -> _Layer:
    if not path.is_file():
        return _Layer({})
    try:
        bindings = read_env_text(path.read_text(encoding="utf-8"), environ)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the Prefect settings in {path.name}: {exc}") from None
    folded = {key.upper(): binding for key, binding in bindings.items()}
    values: dict[str, SettingValue] = {}
    for key in (*_KEYS, "PREFECT_PROFILES_PATH"):
        binding = folded.get(key)
        if binding is not None and binding.value is not None:
            values[key] = SettingValue(binding.value, ".env", f".env:{binding.line}", trusted=False)
    return _Layer(values)


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        document: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"cannot read the Prefect settings in {path.name}: {exc}",
            hint="Prefect itself refuses to start with this file; fix or remove it",
        ) from None
    return document


def _toml_layer(name: str, header: tuple[str, ...], document: Mapping[str, Any]) -> _Layer:
    _refuse_variable_names(name, header, document)
    values: dict[str, SettingValue] = {}
    for key, (table, field_name) in {
        **_TOML_PATHS,
        "PREFECT_PROFILES_PATH": ("", "profiles_path"),
    }.items():
        container = document.get(table) if table else document
        raw = container.get(field_name) if isinstance(container, dict) else None
        if raw is None or isinstance(raw, dict):
            continue  # a table here is a nested settings group, not this value
        place = ".".join(part for part in (*header, table) if part)
        where = f"{name} [{place}] {field_name}" if place else f"{name} {field_name}"
        if isinstance(raw, list):
            raise ConfigError(f"{where} is a list; Prefect expects a single value")
        values[key] = SettingValue(_toml_str(raw), name, where, trusted=False)
    return _Layer(values)


def _refuse_variable_names(name: str, header: tuple[str, ...], document: Mapping[str, Any]) -> None:
    """`PREFECT_API_URL = ...` at the top of the table: `prefect config view` lists it, but
    Prefect's clients (and so `prefect deploy`) ignore it. Either reading would disagree with
    one of them, so the file has to say it the way both read it."""
    for key in _KEYS:
        if key in document:
            table, field_name = _TOML_PATHS[key]
            place = ".".join((*header, table))
            raise ConfigError(
                f"{name} sets {key} as a key: Prefect's clients ignore it there (only "
                "`prefect config view` shows it), so it is not used",
                hint=f"write it as `{field_name} = ...` under [{place}]",
            )


def profiles_path(
    environ: Mapping[str, str], files: Sequence[_Layer] = (), cwd: Path | None = None
) -> Path:
    """The profiles file, chosen as Prefect chooses it: ``PREFECT_PROFILES_PATH`` in the
    environment, then in the working directory's settings files, then
    ``$PREFECT_HOME/profiles.toml``."""
    return _profiles_location(environ, files, Path.cwd() if cwd is None else cwd)[0]


def _profiles_location(
    environ: Mapping[str, str], files: Sequence[_Layer], cwd: Path
) -> tuple[Path, bool]:
    """The profiles file and whether this machine (not a repository file) chose it. A relative
    path is relative to the working directory, as for Prefect."""
    home = Path(environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    explicit = environ.get("PREFECT_PROFILES_PATH")
    trusted = True
    if not explicit:
        chosen = next(
            (
                f.values["PREFECT_PROFILES_PATH"]
                for f in files
                if "PREFECT_PROFILES_PATH" in f.values
            ),
            None,
        )
        explicit, trusted = (chosen.text, False) if chosen is not None else (None, True)
    if explicit:
        # Prefect substitutes ${PREFECT_HOME} in this setting.
        return cwd / Path(explicit.replace("${PREFECT_HOME}", str(home))).expanduser(), trusted
    return home / "profiles.toml", True


def _profile_layer(
    environ: Mapping[str, str], requested: str | None, files: Sequence[_Layer], cwd: Path
) -> _Layer:
    path, trusted = _profiles_location(environ, files, cwd)
    name, values = _active_profile(environ, requested, path)
    if name is None:
        return _Layer({})
    source = f"profile {name}"
    where = source if trusted else f"{source} of {path}, a profiles file a repository file chose"
    return _Layer(
        {
            key: SettingValue(values[key], source, where, trusted=trusted)
            for key in _KEYS
            if key in values
        },
        name=name,
    )


def _active_profile(
    environ: Mapping[str, str], requested: str | None, path: Path
) -> tuple[str | None, dict[str, str]]:
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


_SOURCE_TEXT = {
    "environment": "the environment (PREFECT_API_URL)",
    ".env": "PREFECT_API_URL in .env of the working directory",
    "prefect.toml": "[api] url in prefect.toml of the working directory",
    "pyproject.toml": "[tool.prefect.api] url in pyproject.toml of the working directory",
    "--api-url": "--api-url",
    "embedded": "the embedded server: no PREFECT_API_URL in the environment, .env, "
    "prefect.toml, pyproject.toml or a profile",
}


def describe_api(settings: Settings) -> str:
    """One line naming the API and where its URL came from (the plan header)."""
    origin = _SOURCE_TEXT.get(settings.source, settings.source)
    return f"Prefect API: {redact_url(settings.api_url or '')} (from {origin})"


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
    """Prefect's (pydantic's) booleans; an empty value is false."""
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
