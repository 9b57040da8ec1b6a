from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from prefect_gitops.errors import ConfigError
from prefect_gitops.prefect.settings import (
    Settings,
    describe_api,
    is_loopback_url,
    load_settings,
    profiles_path,
    redact_url,
    resolve_sources,
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


def test_empty_value_hides_the_sources_below_it(home: Path, tmp_path: Path) -> None:
    # As in Prefect (pydantic-settings does not ignore empty values): `PREFECT_API_URL=""`
    # means "no URL", it does not fall through to the profile. This test used to assert the
    # opposite, which is not what `prefect config view` or `prefect deploy` use.
    write_profiles(
        home / "profiles.toml",
        'active = "a"\n[profiles.a]\nPREFECT_API_URL = "http://a:1/api"\nPREFECT_API_KEY = "pk"\n',
    )
    blank = load_settings(env(home, PREFECT_API_URL=""), cwd=tmp_path)
    assert blank.api_url is None and blank.source == "none" and blank.secrets() == ()
    (tmp_path / ".env").write_text("PREFECT_API_KEY=\n", encoding="utf-8")
    no_key = load_settings(env(home), cwd=tmp_path)
    assert no_key.api_url == "http://a:1/api" and no_key.api_key is None


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


# -- Prefect's settings files in the working directory -----------------------------------------


def write_files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    folder = tmp_path / "checkout"
    folder.mkdir()
    return folder


def test_prefect_toml_sets_the_api(home: Path, cwd: Path) -> None:
    write_files(
        cwd,
        {
            "prefect.toml": '[api]\nurl = "http://toml.example:4200/api/"\nkey = "pnu_toml"\n'
            "request_timeout = 12\ntls_insecure_skip_verify = true\n"
            "[client]\nmax_retries = 1\n"
        },
    )
    settings = load_settings(env(home), cwd=cwd)
    assert settings.api_url == "http://toml.example:4200/api"
    assert settings.source == "prefect.toml"
    assert settings.api_key == "pnu_toml"
    assert settings.timeout == 12.0 and settings.max_retries == 1
    assert settings.tls_insecure_skip_verify is True
    assert describe_api(settings) == (
        "Prefect API: http://toml.example:4200/api (from [api] url in prefect.toml of the "
        "working directory)"
    )


def test_precedence_environment_dotenv_prefect_toml_pyproject_profile(
    home: Path, cwd: Path
) -> None:
    write_profiles(
        home / "profiles.toml",
        'active = "p"\n[profiles.p]\nPREFECT_API_URL = "http://profile:1/api"\n',
    )
    layers = [  # lowest first: each file added wins over the ones before
        ("pyproject.toml", '[tool.prefect.api]\nurl = "http://pyproject:1/api"\n', "pyproject"),
        ("prefect.toml", '[api]\nurl = "http://toml:1/api"\n', "toml"),
        (".env", "PREFECT_API_URL=http://dotenv:1/api\n", "dotenv"),
    ]
    assert load_settings(env(home), cwd=cwd).source == "profile p"
    for name, text, host in layers:
        write_files(cwd, {name: text})
        settings = load_settings(env(home), cwd=cwd)
        assert (settings.api_url, settings.source) == (f"http://{host}:1/api", name)
    from_env = load_settings(env(home, PREFECT_API_URL="http://env:1/api"), cwd=cwd)
    assert (from_env.api_url, from_env.source) == ("http://env:1/api", "environment")


def test_dotenv_syntax_and_location(home: Path, cwd: Path) -> None:
    write_files(
        cwd,
        {
            ".env": "# dev settings\nexport BASE='http://dotenv.example:4200'  # host\n"
            'prefect_api_url="${BASE}/api"\nPREFECT_API_URL_UNUSED=1\n'
            "PREFECT_CLIENT_MAX_RETRIES=x\n"
        },
    )
    with pytest.raises(ConfigError, match=r"PREFECT_CLIENT_MAX_RETRIES='x' \(from \.env:5\)"):
        load_settings(env(home), cwd=cwd)
    write_files(cwd, {".env": "\n\nPREFECT_API_URL=ftp://nope\n"})
    with pytest.raises(ConfigError, match=r"\(from \.env:3\) is not an http"):
        load_settings(env(home), cwd=cwd)


def test_lowercase_and_interpolated_dotenv_values(home: Path, cwd: Path) -> None:
    write_files(
        cwd, {".env": "export BASE='http://dotenv.example:4200'\nprefect_api_url=${BASE}/api\n"}
    )
    settings = load_settings(env(home), cwd=cwd)
    assert settings.api_url == "http://dotenv.example:4200/api" and settings.source == ".env"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("prefect.toml", "[api\nurl = 1", r"cannot read the Prefect settings in prefect\.toml"),
        ("pyproject.toml", "[tool.prefect\n", r"cannot read the Prefect settings in pyproject"),
        ("prefect.toml", '[api]\nurl = ["http://a/api"]\n', r"prefect\.toml \[api\] url is a list"),
        ("prefect.toml", 'PREFECT_API_URL = "http://a/api"\n', r"sets PREFECT_API_URL as a key"),
        (
            "pyproject.toml",
            '[tool.prefect]\nPREFECT_API_KEY = "k"\n',
            r"pyproject\.toml sets PREFECT_API_KEY as a key",
        ),
    ],
)
def test_broken_settings_files_are_config_errors(
    home: Path, cwd: Path, name: str, text: str, message: str
) -> None:
    write_files(cwd, {name: text})
    with pytest.raises(ConfigError, match=message):
        load_settings(env(home), cwd=cwd)


def test_settings_files_are_read_from_the_working_directory_by_default(
    home: Path, cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(cwd, {"prefect.toml": '[api]\nurl = "http://here:1/api"\n'})
    monkeypatch.chdir(cwd)
    assert load_settings(env(home)).api_url == "http://here:1/api"


# -- credentials never follow a URL that a repository file chose --------------------------------


def test_environment_key_is_not_sent_to_a_url_from_a_repository_file(home: Path, cwd: Path) -> None:
    write_files(cwd, {".env": "A=1\nPREFECT_API_URL=https://attacker.example/api\n"})
    for credential in ("PREFECT_API_KEY", "PREFECT_API_AUTH_STRING"):
        with pytest.raises(ConfigError, match=r"PREFECT_API_URL comes from \.env:2") as info:
            load_settings(env(home, **{credential: KEY}), cwd=cwd)
        assert credential in info.value.message and "nothing was contacted" in info.value.message
        assert KEY not in info.value.message
    # An explicit choice of this machine wins over the file, and then the key is sent.
    chosen = load_settings(env(home, PREFECT_API_KEY=KEY), api_url=CLOUD, cwd=cwd)
    assert (chosen.api_url, chosen.api_key) == (CLOUD, KEY)
    both = load_settings(env(home, PREFECT_API_KEY=KEY, PREFECT_API_URL=CLOUD), cwd=cwd)
    assert (both.api_url, both.source, both.api_key) == (CLOUD, "environment", KEY)


@pytest.mark.parametrize(
    "text",
    [
        "[api]\ntls_insecure_skip_verify = true\n",
        '[api]\nssl_cert_file = "attacker-ca.pem"\n',
    ],
)
def test_repository_file_cannot_weaken_tls_for_this_machines_key(
    home: Path, cwd: Path, text: str
) -> None:
    write_files(cwd, {"prefect.toml": text})
    with pytest.raises(ConfigError, match=r"comes from prefect\.toml \[api\]"):
        load_settings(env(home, PREFECT_API_URL=CLOUD, PREFECT_API_KEY=KEY), cwd=cwd)
    without_key = load_settings(env(home, PREFECT_API_URL=CLOUD), cwd=cwd)
    assert without_key.api_url == CLOUD  # nothing to protect: Prefect's behaviour


def test_credentials_configured_together_in_a_repository_file_are_used(
    home: Path, cwd: Path
) -> None:
    write_files(
        cwd,
        {".env": f"PREFECT_API_URL={CLOUD}\nPREFECT_API_KEY={KEY}\n"},
    )
    settings = load_settings(env(home), cwd=cwd)
    assert (settings.api_url, settings.source, settings.api_key) == (CLOUD, ".env", KEY)


def test_profile_key_stays_with_the_profile_url_when_a_file_sets_the_url(
    home: Path, cwd: Path
) -> None:
    write_profiles(
        home / "profiles.toml",
        f'active = "cloud"\n[profiles.cloud]\nPREFECT_API_URL = "{CLOUD}"\n'
        f'PREFECT_API_KEY = "{KEY}"\n',
    )
    write_files(cwd, {"pyproject.toml": '[tool.prefect.api]\nurl = "http://local:4200/api"\n'})
    settings = load_settings(env(home), cwd=cwd)
    assert settings.api_url == "http://local:4200/api" and settings.secrets() == ()


def test_profiles_file_chosen_by_a_repository_file_is_the_repositorys(
    home: Path, cwd: Path
) -> None:
    write_profiles(
        cwd / "repo-profiles.toml",
        'active = "x"\n[profiles.x]\nPREFECT_API_URL = "https://attacker.example/api"\n',
    )
    write_files(cwd, {"prefect.toml": 'profiles_path = "repo-profiles.toml"\n'})
    assert profiles_path(env(home), ()) == home / "profiles.toml"
    settings = load_settings(env(home), cwd=cwd)
    assert (settings.api_url, settings.source) == ("https://attacker.example/api", "profile x")
    with pytest.raises(ConfigError, match="a profiles file a repository file chose"):
        load_settings(env(home, PREFECT_API_KEY=KEY), cwd=cwd)


# -- parity with the real `prefect config view --show-sources` ----------------------------------

PREFECT_CLI = Path(sys.executable).with_name("prefect")
PREFECT_SOURCES = {
    "env": "environment",
    ".env file": ".env",
    "prefect.toml": "prefect.toml",
    "pyproject.toml": "pyproject.toml",
}
COMPARED = ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_API_AUTH_STRING")
PROFILES = (
    'active = "team"\n[profiles.team]\nPREFECT_API_URL = "http://profile.example:4200/api"\n'
    'PREFECT_API_KEY = "pnu_profile"\n[profiles.other]\n'
    'PREFECT_API_URL = "http://other.example:4200/api"\n'
)

PARITY_CASES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "prefect.toml": (
        {"prefect.toml": '[api]\nurl = "http://toml.example:4200/api"\nkey = "pnu_toml"\n'},
        {},
    ),
    ".env over prefect.toml and pyproject.toml": (
        {
            ".env": '# local\nexport PREFECT_API_URL="http://dotenv.example/api"  # dev\n'
            "PREFECT_API_AUTH_STRING='admin:pass'\nPREFECT_API_KEY\n",
            "prefect.toml": '[api]\nurl = "http://toml.example:4200/api"\n',
            "pyproject.toml": '[tool.prefect.api]\nurl = "http://py.example/api"\nkey = "pnu_py"\n',
        },
        {},
    ),
    "environment over .env": (
        {
            ".env": "HOST=dotenv.example\nPREFECT_API_URL=http://${HOST}/api\nPREFECT_API_KEY=pnu_${HOST}\n"
        },
        {"PREFECT_API_URL": "http://env.example:4200/api"},
    ),
    ".env interpolation": (
        {".env": "HOST=dotenv.example\nPREFECT_API_URL=http://${HOST}:${PORT:-4200}/api\n"},
        {"PORT": "4300"},
    ),
    "pyproject.toml over the profile": (
        {"pyproject.toml": '[tool.prefect]\napi.url = "http://py.example:4200/api"\n'},
        {"PREFECT_PROFILE": "other"},
    ),
    "empty .env value hides the profile": ({".env": "PREFECT_API_URL=\n"}, {}),
    ".env names the profiles file": (
        {
            ".env": "PREFECT_PROFILES_PATH=repo-profiles.toml\n",
            "repo-profiles.toml": 'active = "r"\n[profiles.r]\n'
            'PREFECT_API_URL = "http://repo-profile.example/api"\n',
        },
        {},
    ),
    "profile only": ({"pyproject.toml": "[project]\nname = 'x'\n"}, {}),
}


def prefect_config_view(cwd: Path, environ: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The profile and the compared settings as the real Prefect CLI shows them."""
    done = subprocess.run(
        [str(PREFECT_CLI), "config", "view", "--output", "json", "--show-secrets"],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(cwd.parent), **environ},
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    document = json.loads(done.stdout[done.stdout.index("{") :])
    shown = {s["name"]: s for s in document["settings"] if s["name"] in COMPARED}
    return str(document["profile"]), shown


@pytest.mark.parametrize("case", sorted(PARITY_CASES))
def test_sources_match_prefect_config_view(home: Path, cwd: Path, case: str) -> None:
    files, extra = PARITY_CASES[case]
    write_profiles(home / "profiles.toml", PROFILES)
    write_files(cwd, files)
    environ = env(home, **extra)
    profile, shown = prefect_config_view(cwd, environ)

    ours_profile, ours = resolve_sources(environ, cwd=cwd)
    assert ours_profile == profile
    expected = {
        name: (s["value"], PREFECT_SOURCES.get(s["source"], f"profile {profile}"))
        for name, s in shown.items()
    }
    assert {name: (v.text, v.source) for name, v in ours.items() if name in COMPARED} == expected

    settings = load_settings(environ, cwd=cwd)
    url, url_source = expected.get("PREFECT_API_URL", ("", "none"))
    assert settings.api_url == (url or None)
    assert settings.source == (url_source if url else "none")


def test_describe_api_names_every_source() -> None:
    def line(source: str) -> str:
        return describe_api(Settings(api_url="http://u:pw@h:1/api", source=source))

    assert (
        line("environment")
        == "Prefect API: http://***@h:1/api (from the environment (PREFECT_API_URL))"
    )
    assert "PREFECT_API_URL in .env of the working directory" in line(".env")
    assert "[tool.prefect.api] url in pyproject.toml" in line("pyproject.toml")
    assert line("profile prod").endswith("(from profile prod)")
    assert "no PREFECT_API_URL in the environment, .env, prefect.toml" in line("embedded")
