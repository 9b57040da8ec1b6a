from __future__ import annotations

from pathlib import Path

import pytest

from prefect_gitops.errors import ConfigError
from prefect_gitops.settings import (
    Settings,
    is_loopback_url,
    load_settings,
    profiles_path,
    redact_url,
    same_api_url,
)

CLOUD = "https://api.prefect.cloud/api/accounts/1b2c/workspaces/9f8e"
KEY = "pnu_SECRETsecretSECRET0123456789"


def write_profiles(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "prefect-home"


def env(home: Path, **values: str) -> dict[str, str]:
    return {"PREFECT_HOME": str(home), **values}


def test_nothing_configured_means_no_url(home: Path) -> None:
    settings = load_settings(env(home))
    assert settings.api_url is None
    assert settings.source == "none"
    assert settings.api_key is None
    assert settings.timeout == 30.0
    assert settings.max_retries == 5


def test_environment_variables(home: Path) -> None:
    settings = load_settings(
        env(
            home,
            PREFECT_API_URL="http://prefect.internal:4200/api/",
            PREFECT_API_AUTH_STRING="admin:pass",
            PREFECT_API_REQUEST_TIMEOUT="12.5",
            PREFECT_CLIENT_MAX_RETRIES="2",
        )
    )
    assert settings.api_url == "http://prefect.internal:4200/api"  # trailing slash dropped
    assert settings.auth_string == "admin:pass"
    assert settings.source == "environment"
    assert settings.timeout == 12.5
    assert settings.max_retries == 2
    assert not settings.is_cloud


def test_cloud_url_and_key(home: Path) -> None:
    settings = load_settings(env(home, PREFECT_API_URL=CLOUD, PREFECT_API_KEY=KEY))
    assert settings.api_url == CLOUD
    assert settings.api_key == KEY
    assert settings.is_cloud


def test_secrets_never_in_repr_or_str(home: Path) -> None:
    settings = load_settings(
        env(home, PREFECT_API_URL=CLOUD, PREFECT_API_KEY=KEY, PREFECT_API_AUTH_STRING="u:hunter2")
    )
    for text in (repr(settings), str(settings)):
        assert KEY not in text
        assert "hunter2" not in text
    assert "api.prefect.cloud" in repr(settings)


def test_active_profile_from_file(home: Path) -> None:
    write_profiles(
        home / "profiles.toml",
        f"""
active = "work"

[profiles.work]
PREFECT_API_URL = "{CLOUD}"
PREFECT_API_KEY = "{KEY}"
PREFECT_API_TLS_INSECURE_SKIP_VERIFY = true

[profiles.dev]
PREFECT_API_URL = "http://127.0.0.1:4300/api"
""",
    )
    settings = load_settings(env(home))
    assert settings.api_url == CLOUD
    assert settings.api_key == KEY
    assert settings.tls_insecure_skip_verify is True
    assert settings.profile == "work"
    assert settings.source == "profile work"


def test_profile_selection_precedence(home: Path) -> None:
    write_profiles(
        home / "profiles.toml",
        """
active = "a"
[profiles.a]
PREFECT_API_URL = "http://a:4200/api"
[profiles.b]
PREFECT_API_URL = "http://b:4200/api"
[profiles.c]
PREFECT_API_URL = "http://c:4200/api"
""",
    )
    assert load_settings(env(home)).api_url == "http://a:4200/api"
    assert load_settings(env(home, PREFECT_PROFILE="b")).api_url == "http://b:4200/api"
    # --profile beats PREFECT_PROFILE
    assert load_settings(env(home, PREFECT_PROFILE="b"), profile="c").api_url == "http://c:4200/api"


def test_environment_overrides_profile_and_flag_overrides_all(home: Path) -> None:
    write_profiles(
        home / "profiles.toml",
        """
active = "a"
[profiles.a]
PREFECT_API_URL = "http://a:4200/api"
PREFECT_API_AUTH_STRING = "from:profile"
""",
    )
    settings = load_settings(env(home, PREFECT_API_URL="http://env:4200/api"))
    assert settings.api_url == "http://env:4200/api"
    assert settings.source == "environment"
    # The profile's credential belongs to the profile's URL: never sent to another one.
    assert settings.auth_string is None

    settings = load_settings(
        env(home, PREFECT_API_URL="http://env:4200/api"), api_url="http://flag:4200/api"
    )
    assert settings.api_url == "http://flag:4200/api"
    assert settings.source == "--api-url"


def test_empty_environment_value_does_not_override(home: Path) -> None:
    write_profiles(
        home / "profiles.toml", 'active = "a"\n[profiles.a]\nPREFECT_API_URL = "http://a:1/api"\n'
    )
    assert load_settings(env(home, PREFECT_API_URL="")).api_url == "http://a:1/api"


def test_profiles_path_variable(tmp_path: Path, home: Path) -> None:
    path = write_profiles(
        tmp_path / "elsewhere" / "p.toml",
        'active = "x"\n[profiles.x]\nPREFECT_API_URL = "http://x:4200/api"\n',
    )
    environ = env(home, PREFECT_PROFILES_PATH=str(path))
    assert profiles_path(environ) == path
    assert load_settings(environ).api_url == "http://x:4200/api"
    templated = env(home, PREFECT_PROFILES_PATH="${PREFECT_HOME}/other.toml")
    assert profiles_path(templated) == home / "other.toml"


def test_builtin_profiles_need_no_file(home: Path) -> None:
    assert load_settings(env(home, PREFECT_PROFILE="local")).api_url == "http://127.0.0.1:4200/api"
    ephemeral = load_settings(env(home, PREFECT_PROFILE="ephemeral"))
    assert ephemeral.api_url is None
    assert ephemeral.profile == "ephemeral"


def test_unknown_profile_is_a_config_error(home: Path) -> None:
    write_profiles(home / "profiles.toml", "[profiles.mine]\n")
    with pytest.raises(ConfigError, match=r"'nope'.*does not exist") as info:
        load_settings(env(home), profile="nope")
    assert info.value.hint is not None
    assert "mine" in info.value.hint


def test_broken_profiles_file_is_a_config_error(home: Path) -> None:
    write_profiles(home / "profiles.toml", "active = \n[[[")
    with pytest.raises(ConfigError, match="cannot read the Prefect profiles file"):
        load_settings(env(home))


@pytest.mark.parametrize("url", ["127.0.0.1:4200/api", "ftp://x/api", "http://"])
def test_bad_url_is_a_config_error(home: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="not an http"):
        load_settings(env(home, PREFECT_API_URL=url))


def test_cloud_ui_url_suggests_the_api_url(home: Path) -> None:
    ui = "https://app.prefect.cloud/account/1b2c/workspace/9f8e/dashboard"
    with pytest.raises(ConfigError, match="Cloud UI") as info:
        load_settings(env(home), api_url=ui)
    assert info.value.hint == f"use {CLOUD}"


def test_tls_options(home: Path, tmp_path: Path) -> None:
    settings = load_settings(
        env(
            home,
            PREFECT_API_URL="https://self.hosted/api",
            PREFECT_API_SSL_CERT_FILE="/etc/ca.pem",
            PREFECT_API_TLS_INSECURE_SKIP_VERIFY="false",
        )
    )
    assert settings.ssl_cert_file == "/etc/ca.pem"
    assert settings.tls_insecure_skip_verify is False
    # like Prefect, SSL_CERT_FILE is the default for PREFECT_API_SSL_CERT_FILE
    assert load_settings(env(home, SSL_CERT_FILE="/x.pem")).ssl_cert_file == "/x.pem"
    with pytest.raises(ConfigError, match="not a boolean"):
        load_settings(env(home, PREFECT_API_TLS_INSECURE_SKIP_VERIFY="maybe"))
    with pytest.raises(ConfigError, match="not a number"):
        load_settings(env(home, PREFECT_API_REQUEST_TIMEOUT="soon"))


def test_redact_url() -> None:
    assert redact_url("http://u:p@host:4200/api") == "http://***@host:4200/api"
    assert redact_url("http://host/api") == "http://host/api"


def test_settings_is_frozen() -> None:
    settings = Settings(api_url="http://x/api")
    with pytest.raises(AttributeError):
        settings.api_url = "http://y/api"  # type: ignore[misc]


def test_profile_credentials_go_only_to_the_profiles_url(home: Path) -> None:
    write_profiles(
        home / "profiles.toml",
        f"""
active = "cloud"
[profiles.cloud]
PREFECT_API_URL = "{CLOUD}"
PREFECT_API_KEY = "{KEY}"
PREFECT_API_AUTH_STRING = "admin:hunter2"
""",
    )
    own = load_settings(env(home))
    assert own.api_url == CLOUD and own.api_key == KEY and own.auth_string == "admin:hunter2"
    flagged = load_settings(env(home), api_url="http://elsewhere:4200/api")
    assert flagged.api_key is None and flagged.auth_string is None and flagged.secrets() == ()
    from_env = load_settings(env(home, PREFECT_API_URL="http://elsewhere:4200/api"))
    assert from_env.api_key is None and from_env.secrets() == ()
    # A key set in the environment is this machine's choice: it goes with the URL used.
    both = load_settings(
        env(home, PREFECT_API_URL="http://elsewhere:4200/api", PREFECT_API_KEY="pnu_env")
    )
    assert both.api_key == "pnu_env"


def test_same_api_url_and_loopback() -> None:
    assert same_api_url("HTTPS://Api.Example.com:443/api/", "https://api.example.com/api")
    assert same_api_url("http://127.0.0.1:80/api", "http://127.0.0.1/api")
    assert not same_api_url("https://api.example.com/api", "https://api.example.com.evil/api")
    assert not same_api_url("https://api.example.com/api", "http://api.example.com/api")
    assert not same_api_url("http://a:4200/api", "http://a:4201/api")
    assert not same_api_url("http://a:99999/api", "http://a/api")
    assert is_loopback_url("http://127.0.0.1:4200/api")
    assert is_loopback_url("http://127.9.9.9/api") and is_loopback_url("http://[::1]:4200/api")
    assert is_loopback_url("http://localhost:4200/api")
    assert not is_loopback_url("http://127.0.0.1.evil.com/api")
    assert not is_loopback_url("https://prefect.example.com/api")
